"""Result-only replies: 5001 generic reply (finance → agency) and 8001 answer (agency → finance).

Both carry ``Result`` (``00000`` ok, ``99999`` or another 5-digit code for a
failure) and ``Information``: on a successful 5001 to an 8994 notice that is the
pay URL or QR-code content; on a failure, the platform's reason.
"""

import re
from dataclasses import dataclass

from payment_bridge.channels.nontax.codes import MSG_CONFIRMATION_ANSWER, MSG_GENERIC_REPLY, RESULT_OK
from payment_bridge.channels.nontax.envelope import (
    CfxHead,
    Message,
    build_envelope,
    optional,
    parse_envelope,
    require,
)
from payment_bridge.channels.nontax.safe_xml import MAX_MESSAGE_BYTES
from payment_bridge.errors import InvalidMessage

_RESULT = re.compile(r"[0-9]{5}")


@dataclass(frozen=True)
class Reply:
    """Result code plus information text."""

    result: str
    information: str | None = None

    @property
    def ok(self) -> bool:
        """True when the peer accepted the message (Result 00000)."""
        return self.result == RESULT_OK


def check_result(text: str) -> str:
    """A 5-digit result code."""
    if not isinstance(text, str) or not _RESULT.fullmatch(text):
        raise InvalidMessage("Result must be 5 digits")
    return text


def reply_fields(reply: Reply) -> list[tuple[str, str | None]]:
    """The Result and Information fields, shared by every answer message."""
    return [("Result", check_result(reply.result)), ("Information", reply.information)]


def parse_reply_fields(fields: dict[str, str]) -> Reply:
    """Read Result and Information from parsed voucher fields."""
    return Reply(
        result=check_result(require(fields, "Result", max_len=5)),
        information=optional(fields, "Information", max_len=1024),
    )


def build_generic_reply(head: CfxHead, reply: Reply) -> bytes:
    """Serialise a 5001 generic reply."""
    return build_envelope(head, MSG_GENERIC_REPLY, reply_fields(reply))


def parse_generic_reply(
    raw: bytes, mac: str, token: str | bytes, *, max_bytes: int = MAX_MESSAGE_BYTES
) -> Message[Reply]:
    """Verify and parse a 5001 generic reply."""
    head, fields = parse_envelope(raw, mac, token, msg_no=MSG_GENERIC_REPLY, max_bytes=max_bytes)
    return Message(head, parse_reply_fields(fields))


def build_confirmation_answer(head: CfxHead, reply: Reply) -> bytes:
    """Serialise the agency's 8001 answer to a 5996 confirmation."""
    return build_envelope(head, MSG_CONFIRMATION_ANSWER, reply_fields(reply))


def parse_confirmation_answer(
    raw: bytes, mac: str, token: str | bytes, *, max_bytes: int = MAX_MESSAGE_BYTES
) -> Message[Reply]:
    """Verify and parse an 8001 answer."""
    head, fields = parse_envelope(raw, mac, token, msg_no=MSG_CONFIRMATION_ANSWER, max_bytes=max_bytes)
    return Message(head, parse_reply_fields(fields))
