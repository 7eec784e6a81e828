import json
import uuid

import pytest
from hypothesis import given, strategies as st

from bus.envelope import InvalidEnvelope, decode, encode, new_envelope, reply_to


def _env(**kw):
    return new_envelope("service.call", {"name": "王晓明"}, client="channel/web-portal", service="population-registry",
                        operation="VerifyIdentity", **kw)


def test_round_trip():
    env = _env(case_id="CASE-1")
    assert decode(encode(env)) == env
    assert env["correlation_id"] == env["message_id"]


@pytest.mark.parametrize("change,field", [
    ({"message_id": "not-a-uuid"}, "message_id"),
    ({"type": "NoDots"}, "type"),
    ({"client": "someone"}, "client"),
    ({"issued_at": "2026-01-01T00:00:00"}, "issued_at"),  # naive time refused
    ({"payload": [1, 2]}, "payload"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_envelopes_name_the_field(change, field):
    env = {**_env(), **change}
    with pytest.raises(InvalidEnvelope, match=field):
        decode(encode(env))


def test_reason_never_echoes_values():
    env = {**_env(), "client": "340104198506150213"}
    with pytest.raises(InvalidEnvelope) as err:
        decode(encode(env))
    assert "340104198506150213" not in err.value.reason


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"[]", b"null", b"{" * 10, b"x" * (300 * 1024)])
def test_garbage_is_an_invalid_envelope_not_a_crash(raw):
    with pytest.raises(InvalidEnvelope):
        decode(raw)


@given(st.binary(max_size=2000))
def test_any_bytes_either_decode_or_raise_invalid_envelope(raw):
    try:
        decode(raw)
    except InvalidEnvelope:
        pass


def test_reply_echoes_identity_and_hashes_the_request():
    req = _env()
    body = encode(req)
    rep = reply_to(req, body, "service.result", {"ok": True}, client="govlink/connector-worker")
    assert rep["correlation_id"] == req["correlation_id"] and rep["causation_id"] == req["message_id"]
    import hashlib
    assert rep["request_hash"] == hashlib.sha256(body).hexdigest()
    assert uuid.UUID(rep["message_id"]) != uuid.UUID(req["message_id"])
