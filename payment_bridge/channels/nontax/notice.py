"""8994 payment notice (缴款通知书), agency → finance.

Voucher fields: AdmDivCode, PayCode, BillDate, ChgAgenCode (执收单位编码),
ChgAgenName, PayerName, Amt (yuan), PayInfo, PayerCreditCode (optional: USCC or
resident ID number of the payer). PayInfo lists the items as
``code|name|amount|unit|qty`` joined by ``#``, where amount is the item's line
total in yuan and qty a positive integer; the line totals must add up to Amt.
The platform answers with a 5001 generic reply (see :mod:`.replies`).
"""

from dataclasses import dataclass
from datetime import date

from payment_bridge.channels.nontax.codes import MSG_NOTICE
from payment_bridge.channels.nontax.envelope import (
    CfxHead,
    Message,
    build_envelope,
    check_adm_div,
    check_code,
    check_pay_code,
    format_amount,
    format_date,
    optional,
    parse_amount,
    parse_date,
    parse_envelope,
    parse_notice_ref,
    require,
)
from payment_bridge.channels.nontax.safe_xml import MAX_MESSAGE_BYTES
from payment_bridge.errors import InvalidMessage
from payment_bridge.payment_code import DEFAULT_PROFILE, PaymentCodeProfile

MAX_ITEMS = 100
_SEPARATORS = ("|", "#")


@dataclass(frozen=True)
class PayItem:
    """One line of a notice (收费项目): line total in fen."""

    code: str
    name: str
    amount_fen: int
    unit: str
    qty: int


@dataclass(frozen=True)
class PaymentNotice:
    """The body of an 8994 message."""

    adm_div_code: str
    pay_code: str
    bill_date: date
    chg_agen_code: str
    chg_agen_name: str
    payer_name: str
    amount_fen: int
    items: tuple[PayItem, ...]
    payer_credit_code: str | None = None


def format_pay_info(items: tuple[PayItem, ...]) -> str:
    """Join items into the PayInfo text; refuses separators inside fields."""
    if not 1 <= len(items) <= MAX_ITEMS:
        raise InvalidMessage(f"a notice needs 1-{MAX_ITEMS} items")
    parts = []
    for item in items:
        check_code(item.code, "PayInfo code")
        for label, text in (("name", item.name), ("unit", item.unit)):
            if not text or not text.strip() or any(sep in text for sep in _SEPARATORS):
                raise InvalidMessage(f"PayInfo {label} must be non-blank and free of | and #")
        if not isinstance(item.qty, int) or isinstance(item.qty, bool) or item.qty <= 0:
            raise InvalidMessage("PayInfo qty must be a positive int")
        amount = format_amount("PayInfo amount", item.amount_fen)
        parts.append(f"{item.code}|{item.name}|{amount}|{item.unit}|{item.qty}")
    return "#".join(parts)


def parse_pay_info(text: str) -> tuple[PayItem, ...]:
    """Split PayInfo text into items, validating every field."""
    chunks = text.split("#")
    if len(chunks) > MAX_ITEMS:
        raise InvalidMessage(f"PayInfo has more than {MAX_ITEMS} items")
    items = []
    for number, chunk in enumerate(chunks, start=1):
        fields = chunk.split("|")
        if len(fields) != 5:
            raise InvalidMessage(f"PayInfo item {number} must have 5 fields code|name|amount|unit|qty")
        code, name, amount, unit, qty = fields
        if not (qty.isascii() and qty.isdigit() and int(qty) > 0 and len(qty) <= 9):
            raise InvalidMessage(f"PayInfo item {number}: qty must be a positive integer")
        if not name.strip() or not unit.strip():
            raise InvalidMessage(f"PayInfo item {number}: name and unit are required")
        items.append(
            PayItem(
                code=check_code(code, f"PayInfo item {number} code"),
                name=name,
                amount_fen=parse_amount(f"PayInfo item {number} amount", amount),
                unit=unit,
                qty=int(qty),
            )
        )
    return tuple(items)


def _check_total(amount_fen: int, items: tuple[PayItem, ...]) -> None:
    if sum(item.amount_fen for item in items) != amount_fen:
        raise InvalidMessage("Amt is not the sum of the PayInfo line totals")


def build_notice(
    head: CfxHead, notice: PaymentNotice, *, profile: PaymentCodeProfile = DEFAULT_PROFILE
) -> bytes:
    """Serialise an 8994 payment notice to GBK XML bytes (sign with :func:`.mac.sign`)."""
    _check_total(notice.amount_fen, notice.items)
    check_pay_code(profile, notice.pay_code)
    return build_envelope(
        head,
        MSG_NOTICE,
        [
            ("AdmDivCode", check_adm_div(notice.adm_div_code)),
            ("PayCode", notice.pay_code),
            ("BillDate", format_date(notice.bill_date)),
            ("ChgAgenCode", check_code(notice.chg_agen_code, "ChgAgenCode")),
            ("ChgAgenName", _name(notice.chg_agen_name, "ChgAgenName")),
            ("PayerName", _name(notice.payer_name, "PayerName")),
            ("Amt", format_amount("Amt", notice.amount_fen)),
            ("PayInfo", format_pay_info(notice.items)),
            ("PayerCreditCode", _credit_code(notice.payer_credit_code)),
        ],
    )


def parse_notice(
    raw: bytes,
    mac: str,
    token: str | bytes,
    *,
    profile: PaymentCodeProfile = DEFAULT_PROFILE,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> Message[PaymentNotice]:
    """Verify and parse an 8994 payment notice (the platform side of the exchange)."""
    head, fields = parse_envelope(raw, mac, token, msg_no=MSG_NOTICE, max_bytes=max_bytes)
    items = parse_pay_info(require(fields, "PayInfo", max_len=8000))
    notice = PaymentNotice(
        **parse_notice_ref(fields, profile),
        bill_date=parse_date(require(fields, "BillDate"), "BillDate"),
        chg_agen_code=check_code(require(fields, "ChgAgenCode"), "ChgAgenCode"),
        chg_agen_name=require(fields, "ChgAgenName", max_len=100),
        payer_name=require(fields, "PayerName", max_len=100),
        amount_fen=parse_amount("Amt", require(fields, "Amt")),
        items=items,
        payer_credit_code=_credit_code(optional(fields, "PayerCreditCode", max_len=32)),
    )
    _check_total(notice.amount_fen, items)
    return Message(head, notice)


def _name(text: str, field: str) -> str:
    if not isinstance(text, str) or not text.strip() or len(text) > 100:
        raise InvalidMessage(f"{field} must be 1-100 characters")
    return text


def _credit_code(text: str | None) -> str | None:
    # USCC or resident ID number; their check characters are verified in idp/.
    if text is None:
        return None
    if not (isinstance(text, str) and text.isascii() and text.isalnum() and len(text) <= 32):
        raise InvalidMessage("PayerCreditCode must be up to 32 ASCII letters or digits")
    return text
