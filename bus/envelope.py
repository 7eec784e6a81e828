"""The one message envelope (DESIGN.md section 5), as a marshmallow schema.

Every message on the bus says who sends it (`client`, X-Road style `GOV/<USCC>/<subsystem>` or a
channel `channel/<name>`), what it is (`type`), what is called (`service`, `operation`), on whose
behalf (`user`, and for a service call the verified `principal` its grant conditions are checked
against), for which case, and carries a `message_id` that is also its idempotency key.
Replies echo the request's identity (`correlation_id`, `causation_id` = the request's id) and add
the SHA-256 of the request body (`request_hash`).

A request whose caller waits for the reply carries that caller's `deadline` (an aware time): the
worker gives the department only the time left before it (`call_timeout`), never more than the
service's own timeout.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

TYPE_PATTERN = r"^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$"
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
CLIENT_PATTERN = r"^(GOV/[0-9A-Z]{18}/[a-z][a-z0-9-]{0,62}|channel/[a-z][a-z0-9-]{0,62}|govlink/[a-z][a-z0-9-]{0,62})$"
MAX_BODY = 256 * 1024


class InvalidEnvelope(ValueError):
    """The bytes are not a valid envelope; `reason` is a short, PII-free description."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class PrincipalSchema(Schema):
    """Who a service call is made for, from the verified access token (set by the gateway, never by
    the caller): what the connector worker checks grant conditions against (connectors/access.py)."""

    class Meta:
        unknown = RAISE

    subject = fields.String(required=True, validate=validate.Length(1, 200))
    id_number = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 18))
    acting_for = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 18))
    level = fields.Integer(load_default=0, validate=validate.Range(0, 3))


class EnvelopeSchema(Schema):
    class Meta:
        unknown = RAISE

    message_id = fields.UUID(required=True)
    correlation_id = fields.String(required=True, validate=validate.Length(1, 64))
    causation_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    type = fields.String(required=True, validate=validate.Regexp(TYPE_PATTERN))
    client = fields.String(required=True, validate=validate.Regexp(CLIENT_PATTERN))
    service = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(NAME_PATTERN))
    operation = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"))
    user = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 200))
    case_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    principal = fields.Nested(PrincipalSchema, load_default=None, allow_none=True)
    issued_at = fields.AwareDateTime(required=True, format="iso")
    request_hash = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9a-f]{64}$"))
    deadline = fields.AwareDateTime(load_default=None, allow_none=True, format="iso")
    payload = fields.Dict(required=True)


_schema = EnvelopeSchema()


def new_envelope(type: str, payload: dict, *, client: str, service: str | None = None, operation: str | None = None,
                 user: str | None = None, case_id: str | None = None, correlation_id: str | None = None,
                 causation_id: str | None = None, message_id: str | None = None,
                 principal: dict | None = None, deadline: datetime | None = None) -> dict:
    """A fresh envelope (as the plain dict that travels), validated. `principal` and `deadline` only when given."""
    mid = message_id or str(uuid.uuid4())
    envelope = {
        "message_id": mid,
        "correlation_id": correlation_id or mid,
        "causation_id": causation_id,
        "type": type,
        "client": client,
        "service": service,
        "operation": operation,
        "user": user,
        "case_id": case_id,
        "issued_at": datetime.now(timezone.utc).isoformat(),
        "request_hash": None,
        "payload": payload,
    }
    if principal is not None:
        envelope["principal"] = principal
    if deadline is not None:
        envelope["deadline"] = deadline.astimezone(timezone.utc).isoformat()
    validate_envelope(envelope)
    return envelope


def reply_to(request: dict, request_body: bytes, type: str, payload: dict, *, client: str) -> dict:
    """The reply to `request`: same correlation, caused by the request, with the request's hash."""
    reply = new_envelope(type, payload, client=client, service=request.get("service"), operation=request.get("operation"),
                         user=request.get("user"), case_id=request.get("case_id"),
                         correlation_id=request["correlation_id"], causation_id=request["message_id"])
    reply["request_hash"] = hashlib.sha256(request_body).hexdigest()
    return reply


def call_timeout(envelope: dict, ceiling: float, now: datetime | None = None) -> float:
    """Seconds a worker may spend on `envelope`'s call: the time left before its caller's `deadline`,
    never more than `ceiling` (the service's declared timeout).

    Without a deadline (an asynchronous call), or once the deadline has passed (a retry or a replay:
    nobody waits any more, the call goes on like an asynchronous one), that is `ceiling`.
    """
    deadline = envelope.get("deadline")
    if not deadline:
        return ceiling
    left = (datetime.fromisoformat(deadline) - (now or datetime.now(timezone.utc))).total_seconds()
    return min(ceiling, left) if left > 0 else ceiling


def validate_envelope(envelope: dict) -> None:
    errors = _schema.validate(envelope)
    if errors:
        raise InvalidEnvelope("invalid envelope: " + _summarise(errors))


def encode(envelope: dict) -> bytes:
    """Compact UTF-8 JSON (the wire form; also what the message log hashes)."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


def decode(body: bytes) -> dict:
    """Parse and validate wire bytes; raise InvalidEnvelope with the reason, never anything else."""
    if len(body) > MAX_BODY:
        raise InvalidEnvelope(f"envelope larger than {MAX_BODY} bytes")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEnvelope(f"not JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise InvalidEnvelope("not a JSON object")
    validate_envelope(data)
    return data


def _summarise(errors: dict) -> str:
    """'field: problem; ...' without echoing values (they may hold personal data)."""
    parts = []
    for name, problems in sorted(errors.items()):
        first = problems[0] if isinstance(problems, list) and problems else "invalid"
        parts.append(f"{name}: {first if isinstance(first, str) else 'invalid'}")
    return "; ".join(parts)[:500]


__all__ = ["EnvelopeSchema", "InvalidEnvelope", "new_envelope", "call_timeout", "reply_to", "encode", "decode", "validate_envelope",
           "ValidationError", "EXCLUDE"]
