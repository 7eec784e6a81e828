"""SF's request digest (数字签名) and the signed form, both directions.

``msgDigest = Base64(MD5(URLEncoder.encode(msgData + timestamp + checkWord, "UTF-8")))``

The URL encoding must be Java's ``URLEncoder`` byte for byte, because SF's gateway
runs it: space -> ``+``; ``A-Z a-z 0-9 . - * _`` kept; every other character as UTF-8
bytes in upper-case ``%XX`` (so ``~`` -> ``%7E``, unlike Python's ``quote``). Java
strings are UTF-16: two surrogate code points in a row form one character there, and
a lone surrogate is replaced by ``?`` (then ``%3F``); we follow both rules.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from logistics_bridge.carriers.sf.units import CARRIER
from logistics_bridge.errors import SignatureError

_KEPT = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-*_")
FORM_FIELDS = ("partnerID", "requestID", "serviceCode", "timestamp", "msgData", "msgDigest")


def _java_utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass  # surrogates present: take the slow path below
    out = bytearray()
    index = 0
    while index < len(text):
        unit = ord(text[index])
        following = ord(text[index + 1]) if index + 1 < len(text) else 0
        if 0xD800 <= unit <= 0xDBFF and 0xDC00 <= following <= 0xDFFF:
            out += chr(0x10000 + ((unit - 0xD800) << 10) + (following - 0xDC00)).encode("utf-8")
            index += 2
            continue
        out += b"?" if 0xD800 <= unit <= 0xDFFF else text[index].encode("utf-8")
        index += 1
    return bytes(out)


def java_url_encode(text: str) -> str:
    """``java.net.URLEncoder.encode(text, "UTF-8")``, reimplemented exactly."""
    out: list[str] = []
    for byte in _java_utf8(text):
        if byte in _KEPT:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def msg_digest(msg_data: str, timestamp: str, check_word: str) -> str:
    """SF's msgDigest over the exact ``msgData`` string sent on the wire."""
    encoded = java_url_encode(msg_data + timestamp + check_word)
    return base64.b64encode(hashlib.md5(encoded.encode("ascii")).digest()).decode("ascii")


def dump_msg_data(payload: Mapping[str, Any]) -> str:
    """Serialise a msgData payload: compact, UTF-8 kept (SF accepts either; this is shorter)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def build_form(
    *,
    partner_id: str,
    request_id: str,
    service_code: str,
    timestamp_ms: int,
    msg_data: str,
    check_word: str,
) -> dict[str, str]:
    """The signed form fields of one SF request (POST, x-www-form-urlencoded)."""
    timestamp = str(timestamp_ms)
    return {
        "partnerID": partner_id,
        "requestID": request_id,
        "serviceCode": service_code,
        "timestamp": timestamp,
        "msgData": msg_data,
        "msgDigest": msg_digest(msg_data, timestamp, check_word),
    }


def verify_request(
    form: Mapping[str, str],
    check_word: str,
    *,
    now_ms: int | None = None,
    max_age_ms: int = 10 * 60 * 1000,
) -> dict[str, Any]:
    """Check an SF request form as SF's gateway would (the simulator's side).

    Verifies that every field is present, the digest (constant-time) and, when
    ``now_ms`` is given, that the timestamp is within ``max_age_ms``. Returns the parsed
    msgData. Raises :class:`SignatureError` with code ``malformed``, ``bad_signature``
    (message says the digest was refused) or ``expired``.
    """
    missing = [name for name in FORM_FIELDS if not form.get(name)]
    if missing:
        raise SignatureError(f"missing form fields: {', '.join(missing)}", carrier=CARRIER, code="malformed")
    timestamp = form["timestamp"]
    if not timestamp.isdigit():
        raise SignatureError("timestamp must be epoch milliseconds", carrier=CARRIER, code="malformed")
    expected = msg_digest(form["msgData"], timestamp, check_word)
    if not hmac.compare_digest(expected.encode("ascii"), form["msgDigest"].encode("utf-8")):
        raise SignatureError("digest refused: msgDigest does not match", carrier=CARRIER)
    if now_ms is not None and abs(now_ms - int(timestamp)) > max_age_ms:
        raise SignatureError(
            "request expired: timestamp outside the allowed window", carrier=CARRIER, code="expired"
        )
    try:
        payload = json.loads(form["msgData"])
    except json.JSONDecodeError:
        raise SignatureError("msgData is not JSON", carrier=CARRIER, code="malformed") from None
    if not isinstance(payload, dict):
        raise SignatureError("msgData must be a JSON object", carrier=CARRIER, code="malformed")
    return payload
