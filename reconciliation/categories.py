"""Discrepancy categories (DOMAIN.md section 5) and the deterministic result of a run."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from reconciliation.records import record_to_json

LONG = "LONG"  # the statement has it, we don't
SHORT = "SHORT"  # we have it as paid, the statement doesn't
AMOUNT_MISMATCH = "AMOUNT_MISMATCH"  # same key, different amount
STATUS_MISMATCH = "STATUS_MISMATCH"  # local unpaid and platform paid; a refund on one side only
DUPLICATE = "DUPLICATE"  # two payments for one payment code
TIMING = "TIMING"  # across the daily cut-off: carried to the next day, cleared there automatically
UNIDENTIFIED = "UNIDENTIFIED"  # money with no notice of ours
FEE = "FEE"  # the platform reports net of its fee where we booked gross
LOGISTICS = "LOGISTICS"  # see the subtypes below
AMBIGUOUS = "AMBIGUOUS"  # more than one candidate: nothing matched, a person decides
PROPOSED = "PROPOSED"  # paired by a tolerance rule, not an exact key: a proposal until confirmed
CATEGORIES = (LONG, SHORT, AMOUNT_MISMATCH, STATUS_MISMATCH, DUPLICATE, TIMING, UNIDENTIFIED, FEE,
              LOGISTICS, AMBIGUOUS, PROPOSED)

# LOGISTICS subtypes
POSTAGE_WITHOUT_WAYBILL = "postage_paid_no_waybill"
WAYBILL_WITHOUT_PAYMENT = "waybill_without_payment"
FEE_DIFFERS_FROM_QUOTE = "billed_fee_differs_from_quote"
CANCELLED_BUT_BILLED = "cancelled_but_billed"
BILLED_TWICE = "billed_twice"
WEIGHT_DIFFERS = "weight_differs"
SURCHARGE_DIFFERS = "surcharge_differs"
BILLED_WITHOUT_WAYBILL = "billed_without_waybill"
LOGISTICS_SUBTYPES = (POSTAGE_WITHOUT_WAYBILL, WAYBILL_WITHOUT_PAYMENT, FEE_DIFFERS_FROM_QUOTE,
                      CANCELLED_BUT_BILLED, BILLED_TWICE, WEIGHT_DIFFERS, SURCHARGE_DIFFERS,
                      BILLED_WITHOUT_WAYBILL)

LEFT, RIGHT = "left", "right"


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One finding. ``left`` holds our side's records, ``right`` the other source's."""

    category: str
    key: str  # payment code, waybill number ("" when none)
    left: tuple = ()
    right: tuple = ()
    subtype: str = ""
    rule: str = ""  # the key or tolerance rule that paired the records, if any
    left_amount_fen: int | None = None
    right_amount_fen: int | None = None

    @property
    def carried(self) -> bool:
        """TIMING items are carried into the next day's run."""
        return self.category == TIMING

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category, "subtype": self.subtype, "key": self.key, "rule": self.rule,
            "left_amount_fen": self.left_amount_fen, "right_amount_fen": self.right_amount_fen,
            "left": [record_to_json(r) for r in self.left], "right": [record_to_json(r) for r in self.right],
        }

    def sort_key(self) -> tuple:
        return (self.category, self.subtype, self.key, _canonical(self.to_json()))


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass
class RunResult:
    """What one reconciliation run found; ``content_hash`` is equal for equal inputs."""

    kind: str  # payments | logistics
    business_date: date
    matched_count: int
    matched_amount_fen: int
    discrepancies: list[Discrepancy]
    cleared: list[Discrepancy] = field(default_factory=list)  # yesterday's carried items matched today
    content_hash: str = ""

    def __post_init__(self) -> None:
        self.discrepancies.sort(key=Discrepancy.sort_key)
        self.cleared.sort(key=Discrepancy.sort_key)
        self.content_hash = self._hash()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.discrepancies:
            name = f"{d.category}/{d.subtype}" if d.category == LOGISTICS else d.category
            out[name] = out.get(name, 0) + 1
        return dict(sorted(out.items()))

    @property
    def carried(self) -> list[Discrepancy]:
        return [d for d in self.discrepancies if d.carried]

    def _hash(self) -> str:
        digest = hashlib.sha256()
        digest.update(_canonical({"kind": self.kind, "date": self.business_date.isoformat(),
                                  "matched": [self.matched_count, self.matched_amount_fen]}).encode())
        for label, items in (("d", self.discrepancies), ("c", self.cleared)):
            for d in items:
                digest.update(label.encode() + _canonical(d.to_json()).encode() + b"\n")
        return digest.hexdigest()
