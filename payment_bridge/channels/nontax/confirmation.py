"""5996 payment confirmation (缴款确认), finance → agency; answered by 8001.

Voucher fields: PayCode, CfmDate (YYYYMMDD) and CfmTime (HHMMSS) in Beijing time,
Amt (yuan), PayMode (see :data:`.codes.PAY_MODES`), TraNoBus (the bank or channel
transaction number, the key reconciliation matches on) and, optionally, PayerCreditCode (the
resident ID number or USCC of who paid, when the channel knows it; we check it against the
notice). Inside, the confirmation time is an aware UTC datetime, to the second.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from kernel.clock import beijing_to_utc, require_aware, to_beijing
from payment_bridge.channels.nontax.codes import MSG_CONFIRMATION
from payment_bridge.channels.nontax.envelope import (
    CfxHead,
    Message,
    build_envelope,
    check_code,
    check_pay_code,
    format_amount,
    parse_amount,
    parse_date,
    parse_envelope,
    optional,
    parse_time,
    require,
)
from payment_bridge.channels.nontax.safe_xml import MAX_MESSAGE_BYTES
from payment_bridge.errors import InvalidMessage
from payment_bridge.payment_code import DEFAULT_PROFILE, PaymentCodeProfile

_PAY_MODE = re.compile(r"[0-9A-Za-z]{1,4}")


@dataclass(frozen=True)
class Confirmation:
    """The body of a 5996 message."""

    pay_code: str
    confirmed_at: datetime  # aware, UTC, whole seconds
    amount_fen: int
    pay_mode: str
    tra_no_bus: str
    payer_credit_code: str | None = None  # who paid, when the channel reports it


def confirmation_fields(confirmation: Confirmation) -> list[tuple[str, str | None]]:
    """The payment fields shared by 5996 and a paid 5997 answer."""
    local = to_beijing(require_aware(confirmation.confirmed_at, field="confirmed_at"))
    return [
        ("CfmDate", local.strftime("%Y%m%d")),
        ("CfmTime", local.strftime("%H%M%S")),
        ("Amt", format_amount("Amt", confirmation.amount_fen)),
        ("PayMode", check_pay_mode(confirmation.pay_mode)),
        ("TraNoBus", check_code(confirmation.tra_no_bus, "TraNoBus")),
        ("PayerCreditCode", _credit_code(confirmation.payer_credit_code)),
    ]


def check_pay_mode(text: str) -> str:
    """A 1-4 character payment mode code."""
    if not isinstance(text, str) or not _PAY_MODE.fullmatch(text):
        raise InvalidMessage("PayMode must be 1-4 ASCII letters or digits")
    return text


def _credit_code(text: str | None) -> str | None:
    if text is not None and not (isinstance(text, str) and text.isascii() and text.isalnum() and len(text) <= 32):
        raise InvalidMessage("PayerCreditCode must be up to 32 ASCII letters or digits")
    return text


def build_confirmation(
    head: CfxHead, confirmation: Confirmation, *, profile: PaymentCodeProfile = DEFAULT_PROFILE
) -> bytes:
    """Serialise a 5996 confirmation (the platform side: the simulator sends it)."""
    pay_code = check_pay_code(profile, confirmation.pay_code)
    return build_envelope(head, MSG_CONFIRMATION, [("PayCode", pay_code), *confirmation_fields(confirmation)])


def parse_confirmation_fields(fields: dict[str, str], pay_code: str) -> Confirmation:
    """Read the payment fields of a 5996 or a paid 5997 into a :class:`Confirmation`."""
    day = parse_date(require(fields, "CfmDate"), "CfmDate")
    clock = parse_time(require(fields, "CfmTime"), "CfmTime")
    return Confirmation(
        pay_code=pay_code,
        confirmed_at=beijing_to_utc(day, clock),
        amount_fen=parse_amount("Amt", require(fields, "Amt")),
        pay_mode=check_pay_mode(require(fields, "PayMode")),
        tra_no_bus=check_code(require(fields, "TraNoBus"), "TraNoBus"),
        payer_credit_code=_credit_code(optional(fields, "PayerCreditCode", max_len=32)),
    )


def parse_confirmation(
    raw: bytes,
    mac: str,
    token: str | bytes,
    *,
    profile: PaymentCodeProfile = DEFAULT_PROFILE,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> Message[Confirmation]:
    """Verify the MAC, then parse a 5996 confirmation (our callback endpoint calls this)."""
    head, fields = parse_envelope(raw, mac, token, msg_no=MSG_CONFIRMATION, max_bytes=max_bytes)
    pay_code = check_pay_code(profile, require(fields, "PayCode"))
    return Message(head, parse_confirmation_fields(fields, pay_code))
