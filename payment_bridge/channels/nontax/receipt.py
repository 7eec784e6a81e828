"""Fiscal e-receipt (财政电子票据): 8999 request, agency → finance; 5999 answer.

8999 fields: AdmDivCode, PayCode. 5999 fields: Result, Information and, when ok,
PayCode, EBillCode (票据代码), EBillNo (票据号码), CheckCode (校验码), IssueDate and
DownloadUrl (where the receipt file is fetched; http(s) only).
"""

import re
from dataclasses import dataclass
from datetime import date

from payment_bridge.channels.nontax.codes import MSG_RECEIPT_ANSWER, MSG_RECEIPT_REQUEST
from payment_bridge.channels.nontax.envelope import (
    CfxHead,
    Message,
    build_envelope,
    check_code,
    check_pay_code,
    format_date,
    notice_ref_fields,
    parse_date,
    parse_envelope,
    parse_notice_ref,
    require,
)
from payment_bridge.channels.nontax.replies import Reply, parse_reply_fields, reply_fields
from payment_bridge.channels.nontax.safe_xml import MAX_MESSAGE_BYTES
from payment_bridge.errors import InvalidMessage
from payment_bridge.payment_code import DEFAULT_PROFILE, PaymentCodeProfile

# Printable ASCII without spaces, quotes or angle brackets: a URL we may fetch and show.
_URL = re.compile(r"https?://[!#-;=?-~]{1,1000}")


@dataclass(frozen=True)
class ReceiptRequest:
    """The body of an 8999 message."""

    adm_div_code: str
    pay_code: str


@dataclass(frozen=True)
class EReceipt:
    """A fiscal e-receipt as the platform reports it."""

    pay_code: str
    ebill_code: str
    ebill_no: str
    check_code: str
    issue_date: date
    download_url: str


@dataclass(frozen=True)
class ReceiptAnswer:
    """The body of a 5999 message; ``receipt`` is set exactly when the reply is ok."""

    reply: Reply
    receipt: EReceipt | None = None


def build_receipt_request(
    head: CfxHead, request: ReceiptRequest, *, profile: PaymentCodeProfile = DEFAULT_PROFILE
) -> bytes:
    """Serialise an 8999 e-receipt request."""
    return build_envelope(head, MSG_RECEIPT_REQUEST, notice_ref_fields(request.adm_div_code, request.pay_code, profile))


def parse_receipt_request(
    raw: bytes,
    mac: str,
    token: str | bytes,
    *,
    profile: PaymentCodeProfile = DEFAULT_PROFILE,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> Message[ReceiptRequest]:
    """Verify and parse an 8999 request (the platform side)."""
    head, fields = parse_envelope(raw, mac, token, msg_no=MSG_RECEIPT_REQUEST, max_bytes=max_bytes)
    return Message(head, ReceiptRequest(**parse_notice_ref(fields, profile)))


def build_receipt_answer(
    head: CfxHead, answer: ReceiptAnswer, *, profile: PaymentCodeProfile = DEFAULT_PROFILE
) -> bytes:
    """Serialise a 5999 answer (the platform side)."""
    fields = reply_fields(answer.reply)
    if answer.reply.ok != (answer.receipt is not None):
        raise InvalidMessage("a receipt must be present exactly when the answer is ok")
    if answer.receipt is not None:
        receipt = answer.receipt
        fields += [
            ("PayCode", check_pay_code(profile, receipt.pay_code)),
            ("EBillCode", check_code(receipt.ebill_code, "EBillCode")),
            ("EBillNo", check_code(receipt.ebill_no, "EBillNo")),
            ("CheckCode", check_code(receipt.check_code, "CheckCode")),
            ("IssueDate", format_date(receipt.issue_date)),
            ("DownloadUrl", check_url(receipt.download_url)),
        ]
    return build_envelope(head, MSG_RECEIPT_ANSWER, fields)


def parse_receipt_answer(
    raw: bytes,
    mac: str,
    token: str | bytes,
    *,
    profile: PaymentCodeProfile = DEFAULT_PROFILE,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> Message[ReceiptAnswer]:
    """Verify and parse a 5999 answer."""
    head, fields = parse_envelope(raw, mac, token, msg_no=MSG_RECEIPT_ANSWER, max_bytes=max_bytes)
    reply = parse_reply_fields(fields)
    if not reply.ok:
        return Message(head, ReceiptAnswer(reply=reply))
    receipt = EReceipt(
        pay_code=check_pay_code(profile, require(fields, "PayCode")),
        ebill_code=check_code(require(fields, "EBillCode"), "EBillCode"),
        ebill_no=check_code(require(fields, "EBillNo"), "EBillNo"),
        check_code=check_code(require(fields, "CheckCode"), "CheckCode"),
        issue_date=parse_date(require(fields, "IssueDate"), "IssueDate"),
        download_url=check_url(require(fields, "DownloadUrl")),
    )
    return Message(head, ReceiptAnswer(reply=reply, receipt=receipt))


def check_url(text: str) -> str:
    """An http(s) URL of printable ASCII, at most about 1000 characters."""
    if not isinstance(text, str) or not _URL.fullmatch(text):
        raise InvalidMessage("DownloadUrl must be an http(s) URL of printable ASCII")
    return text
