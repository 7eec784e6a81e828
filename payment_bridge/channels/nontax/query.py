"""8997 status query (缴款状态查询), agency → finance, answered by 5997.

8997 fields: AdmDivCode, PayCode. 5997 fields: Result, Information, PayCode,
Status (see :data:`.codes.STATUS_TO_STATE`), Amt, and when the notice has been
paid the confirmation fields CfmDate, CfmTime, PayMode, TraNoBus (the paid amount
is Amt: a notice is paid in full or not at all). Polling with
8997 is how a lost 5996 is recovered.
"""

from dataclasses import dataclass

from payment_bridge.channels.nontax.codes import MSG_STATUS_ANSWER, MSG_STATUS_QUERY, STATUS_TO_STATE
from payment_bridge.channels.nontax.confirmation import (
    Confirmation,
    confirmation_fields,
    parse_confirmation_fields,
)
from payment_bridge.channels.nontax.envelope import (
    CfxHead,
    Message,
    build_envelope,
    check_pay_code,
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
from payment_bridge.states import State

# Platform statuses that imply a confirmation exists and must be reported with it.
_PAID_STATUSES = frozenset(
    code
    for code, state in STATUS_TO_STATE.items()
    if state in (State.PAID, State.PARTLY_REFUNDED, State.REFUNDED)
)


@dataclass(frozen=True)
class StatusQuery:
    """The body of an 8997 message."""

    adm_div_code: str
    pay_code: str


@dataclass(frozen=True)
class StatusAnswer:
    """The body of a 5997 message; ``status`` etc. are set only when the reply is ok."""

    reply: Reply
    pay_code: str | None = None
    status: str | None = None
    amount_fen: int | None = None
    confirmation: Confirmation | None = None

    @property
    def state(self) -> State | None:
        """The local notice state the platform's status means (None if not ok)."""
        return STATUS_TO_STATE.get(self.status) if self.status is not None else None


def build_status_query(
    head: CfxHead, query: StatusQuery, *, profile: PaymentCodeProfile = DEFAULT_PROFILE
) -> bytes:
    """Serialise an 8997 status query."""
    return build_envelope(head, MSG_STATUS_QUERY, notice_ref_fields(query.adm_div_code, query.pay_code, profile))


def parse_status_query(
    raw: bytes,
    mac: str,
    token: str | bytes,
    *,
    profile: PaymentCodeProfile = DEFAULT_PROFILE,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> Message[StatusQuery]:
    """Verify and parse an 8997 status query (the platform side)."""
    head, fields = parse_envelope(raw, mac, token, msg_no=MSG_STATUS_QUERY, max_bytes=max_bytes)
    return Message(head, StatusQuery(**parse_notice_ref(fields, profile)))


def build_status_answer(
    head: CfxHead, answer: StatusAnswer, *, profile: PaymentCodeProfile = DEFAULT_PROFILE
) -> bytes:
    """Serialise a 5997 status answer (the platform side)."""
    fields = reply_fields(answer.reply)
    if answer.reply.ok:
        _check_consistent(answer)
        fields += [
            ("PayCode", check_pay_code(profile, answer.pay_code)),
            ("Status", answer.status),
            ("Amt", format_amount("Amt", answer.amount_fen)),
        ]
        if answer.confirmation is not None:
            # Amt appears once: the notice amount, which the payment must equal.
            fields += [pair for pair in confirmation_fields(answer.confirmation) if pair[0] != "Amt"]
    return build_envelope(head, MSG_STATUS_ANSWER, fields)


def parse_status_answer(
    raw: bytes,
    mac: str,
    token: str | bytes,
    *,
    profile: PaymentCodeProfile = DEFAULT_PROFILE,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> Message[StatusAnswer]:
    """Verify and parse a 5997 status answer."""
    head, fields = parse_envelope(raw, mac, token, msg_no=MSG_STATUS_ANSWER, max_bytes=max_bytes)
    reply = parse_reply_fields(fields)
    if not reply.ok:
        return Message(head, StatusAnswer(reply=reply))
    pay_code = check_pay_code(profile, require(fields, "PayCode"))
    status = require(fields, "Status", max_len=2)
    confirmation = None
    if status in _PAID_STATUSES or optional(fields, "CfmDate") is not None:
        confirmation = parse_confirmation_fields(fields, pay_code)
    answer = StatusAnswer(
        reply=reply,
        pay_code=pay_code,
        status=status,
        amount_fen=parse_amount("Amt", require(fields, "Amt")),
        confirmation=confirmation,
    )
    _check_consistent(answer)
    return Message(head, answer)


def _check_consistent(answer: StatusAnswer) -> None:
    if answer.status not in STATUS_TO_STATE:
        raise InvalidMessage(f"Status must be one of {sorted(STATUS_TO_STATE)}")
    if (answer.status in _PAID_STATUSES) != (answer.confirmation is not None):
        raise InvalidMessage("payment details must be present exactly when the notice was paid")
    if answer.confirmation is not None and (
        answer.confirmation.pay_code != answer.pay_code or answer.confirmation.amount_fen != answer.amount_fen
    ):
        raise InvalidMessage("payment details disagree with the notice's PayCode or Amt")
