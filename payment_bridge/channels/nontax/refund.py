"""8998 refund request (退付申请), agency → finance, answered by 5998.

The Jiangsu sibling interface publishes no refund message, so these numbers and fields are our
model (by analogy with 8997 → 5997; change them in :mod:`.codes` if a province numbers otherwise).

8998 fields: AdmDivCode, PayCode, RefundNo (the agency's refund request id, 1-32 of
``[A-Za-z0-9_-]``: the platform refunds a RefundNo once), Amt (yuan, at most what is still
refundable), Reason (optional). 5998 fields: Result, Information and, when ok, RefundNo, Amt and
TraNoRefund (the bank's refund transaction number).
"""

from dataclasses import dataclass

from payment_bridge.channels.nontax.codes import MSG_REFUND_ANSWER, MSG_REFUND_REQUEST
from payment_bridge.channels.nontax.envelope import (
    CfxHead,
    Message,
    build_envelope,
    check_code,
    format_amount,
    notice_ref_fields,
    optional,
    parse_amount,
    parse_envelope,
    parse_notice_ref,
    require,
)
from payment_bridge.channels.nontax.replies import Reply, parse_reply_fields, reply_fields
from payment_bridge.channels.nontax.safe_xml import MAX_MESSAGE_BYTES
from payment_bridge.errors import InvalidMessage
from payment_bridge.payment_code import DEFAULT_PROFILE, PaymentCodeProfile

_MAX_REASON = 80


@dataclass(frozen=True)
class RefundRequest:
    """The body of an 8998 message."""

    adm_div_code: str
    pay_code: str
    refund_no: str
    amount_fen: int
    reason: str | None = None


@dataclass(frozen=True)
class RefundAnswer:
    """The body of a 5998 message; the refund fields are set exactly when the reply is ok."""

    reply: Reply
    refund_no: str | None = None
    amount_fen: int | None = None
    tra_no_refund: str | None = None


def _reason(text: str | None) -> str | None:
    if text is not None and (not isinstance(text, str) or len(text) > _MAX_REASON):
        raise InvalidMessage(f"Reason must be at most {_MAX_REASON} characters")
    return text


def build_refund_request(
    head: CfxHead, request: RefundRequest, *, profile: PaymentCodeProfile = DEFAULT_PROFILE
) -> bytes:
    """Serialise an 8998 refund request."""
    return build_envelope(
        head,
        MSG_REFUND_REQUEST,
        [
            *notice_ref_fields(request.adm_div_code, request.pay_code, profile),
            ("RefundNo", check_code(request.refund_no, "RefundNo")),
            ("Amt", format_amount("Amt", request.amount_fen)),
            ("Reason", _reason(request.reason)),
        ],
    )


def parse_refund_request(
    raw: bytes,
    mac: str,
    token: str | bytes,
    *,
    profile: PaymentCodeProfile = DEFAULT_PROFILE,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> Message[RefundRequest]:
    """Verify and parse an 8998 refund request (the platform side)."""
    head, fields = parse_envelope(raw, mac, token, msg_no=MSG_REFUND_REQUEST, max_bytes=max_bytes)
    return Message(
        head,
        RefundRequest(
            **parse_notice_ref(fields, profile),
            refund_no=check_code(require(fields, "RefundNo"), "RefundNo"),
            amount_fen=parse_amount("Amt", require(fields, "Amt")),
            reason=_reason(optional(fields, "Reason", max_len=_MAX_REASON)),
        ),
    )


def build_refund_answer(head: CfxHead, answer: RefundAnswer) -> bytes:
    """Serialise a 5998 refund answer (the platform side)."""
    fields = reply_fields(answer.reply)
    has_refund = answer.refund_no is not None
    if answer.reply.ok != has_refund:
        raise InvalidMessage("refund details must be present exactly when the answer is ok")
    if has_refund:
        fields += [
            ("RefundNo", check_code(answer.refund_no, "RefundNo")),
            ("Amt", format_amount("Amt", answer.amount_fen)),
            ("TraNoRefund", check_code(answer.tra_no_refund, "TraNoRefund")),
        ]
    return build_envelope(head, MSG_REFUND_ANSWER, fields)


def parse_refund_answer(
    raw: bytes, mac: str, token: str | bytes, *, max_bytes: int = MAX_MESSAGE_BYTES
) -> Message[RefundAnswer]:
    """Verify and parse a 5998 refund answer."""
    head, fields = parse_envelope(raw, mac, token, msg_no=MSG_REFUND_ANSWER, max_bytes=max_bytes)
    reply = parse_reply_fields(fields)
    if not reply.ok:
        return Message(head, RefundAnswer(reply=reply))
    return Message(
        head,
        RefundAnswer(
            reply=reply,
            refund_no=check_code(require(fields, "RefundNo"), "RefundNo"),
            amount_fen=parse_amount("Amt", require(fields, "Amt")),
            tra_no_refund=check_code(require(fields, "TraNoRefund"), "TraNoRefund"),
        ),
    )
