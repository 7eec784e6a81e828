"""Courier bills (对账单) for reconciliation (R7): downloaded, kept unchanged with their SHA-256, parsed."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from logistics_bridge import bills, domain
from logistics_bridge.errors import BillFormatError, CarrierError, Refused
from kernel.clock import utcnow
from store.models.logistics import CourierBill, CourierBillLine

log = logging.getLogger("govlink.logistics")

PARSERS = {"sf": bills.parse_sf_bill, "ems": bills.parse_ems_bill}


@dataclass(frozen=True)
class ImportedBill:
    """A bill as imported: the stored file's facts, whether this import created it, and its lines."""

    bill: CourierBill
    created: bool
    lines: list[CourierBillLine]


class CourierBills:
    """Imports courier bills: from the carrier (`import_bill`) or as a file (`store_bill`)."""

    def __init__(self, db, profiles, bill_get):
        self.db = db
        self.profiles = profiles
        self.bill_get = bill_get or {}

    def imported(self, carrier: str, period: str) -> ImportedBill:
        """Import a carrier's monthly bill (see `import_bill`) and answer it with its lines."""
        bill, created = self.import_bill(carrier, period)
        return ImportedBill(bill, created, self.bill_lines(bill.id))

    def import_bill(self, carrier: str, period: str) -> tuple[CourierBill, bool]:
        """Download a carrier's monthly bill, keep it unchanged with its SHA-256, store its lines.

        Returns (bill, created); the same file twice is imported once.
        """
        if carrier not in PARSERS or carrier not in self.bill_get:
            raise Refused(422, "unknown_carrier", f"No bill source for {carrier!r}.")
        try:
            raw = self.bill_get[carrier](f"{self.profiles.carriers[carrier].bill_url}/{period}")
        except CarrierError as exc:
            raise domain.carrier_unavailable(exc) from None
        return self.store_bill(carrier, period, raw)

    def store_bill(self, carrier: str, period: str, raw: bytes) -> tuple[CourierBill, bool]:
        """Parse and keep a bill file as received (see `import_bill`)."""
        digest = hashlib.sha256(raw).hexdigest()
        try:
            lines = PARSERS[carrier](raw)
        except BillFormatError as exc:
            raise Refused(422, "bad_bill", exc.message) from None
        try:
            with self.db.unit_of_work() as session:
                existing = session.execute(select(CourierBill).where(
                    CourierBill.carrier == carrier, CourierBill.sha256 == digest)).scalar_one_or_none()
                if existing is not None:
                    return existing, False
                bill = CourierBill(carrier=carrier, period=period, sha256=digest, raw=raw, line_count=len(lines),
                                   imported_at=utcnow())
                session.add(bill)
                session.flush()
                session.add_all(CourierBillLine(
                    bill_id=bill.id, line_no=line.line_no, waybill_no=line.waybill_no, fee_fen=line.fee_fen,
                    surcharge_fen=line.surcharge_fen, total_fen=line.total_fen, weight_g=line.weight_g,
                    billed_at=line.billed_at, status=line.status) for line in lines)
        except IntegrityError:
            with self.db.unit_of_work() as session:
                return session.execute(select(CourierBill).where(
                    CourierBill.carrier == carrier, CourierBill.sha256 == digest)).scalar_one(), False
        log.info("%s bill %s imported: %d lines, sha256 %s", carrier, period, len(lines), digest[:12])
        return bill, True

    def bill_lines(self, bill_id: int) -> list[CourierBillLine]:
        with self.db.unit_of_work() as session:
            return list(session.execute(select(CourierBillLine).where(CourierBillLine.bill_id == bill_id)
                                        .order_by(CourierBillLine.line_no)).scalars())

