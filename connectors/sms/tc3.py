"""Tencent Cloud API 3.0 request signature, TC3-HMAC-SHA256 (pure functions).

CanonicalRequest = METHOD \n URI \n QUERY \n CanonicalHeaders \n SignedHeaders \n sha256hex(payload)
StringToSign     = "TC3-HMAC-SHA256" \n timestamp \n date/service/tc3_request \n sha256hex(CanonicalRequest)
key              = HMAC(HMAC(HMAC("TC3" + SecretKey, date), service), "tc3_request")
Signature        = hex(HMAC(key, StringToSign)); `date` is the UTC date of the timestamp.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timezone

ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"
_AUTH = re.compile(r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<service>[a-z0-9]+)/tc3_request, "
                   r"SignedHeaders=(?P<headers>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def utc_date(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")


def canonical_request(payload: bytes, host: str, content_type: str = CONTENT_TYPE, method: str = "POST",
                      uri: str = "/", query: str = "") -> str:
    headers = f"content-type:{content_type.strip().lower()}\nhost:{host.strip().lower()}\n"
    return "\n".join([method, uri, query, headers, SIGNED_HEADERS, sha256_hex(payload)])


def string_to_sign(canonical: str, timestamp: int, service: str) -> str:
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return "\n".join([ALGORITHM, str(timestamp), scope, sha256_hex(canonical.encode("utf-8"))])


def signature(secret_key: str, to_sign: str, timestamp: int, service: str) -> str:
    def mac(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()

    key = mac(mac(mac(("TC3" + secret_key).encode("utf-8"), utc_date(timestamp)), service), "tc3_request")
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(secret_id: str, secret_key: str, payload: bytes, host: str, timestamp: int, service: str) -> str:
    """The `Authorization` header of a POST of `payload` (JSON) to `host`."""
    to_sign = string_to_sign(canonical_request(payload, host), timestamp, service)
    scope = f"{utc_date(timestamp)}/{service}/tc3_request"
    return (f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, "
            f"Signature={signature(secret_key, to_sign, timestamp, service)}")


@dataclass(frozen=True)
class ParsedAuthorization:
    secret_id: str
    date: str
    service: str
    signed_headers: str
    signature: str


def parse_authorization(header: str) -> ParsedAuthorization | None:
    """The parts of a TC3 `Authorization` header, or None when it is not one."""
    m = _AUTH.match(header or "")
    if m is None:
        return None
    return ParsedAuthorization(m["id"], m["date"], m["service"], m["headers"], m["signature"])


def verify(header: str, secret_key_of, payload: bytes, host: str, content_type: str, timestamp: int,
           now: int, max_skew: int = 300) -> str | None:
    """None when `header` signs this request, else the Tencent error code (for a server or simulator).

    `secret_key_of(secret_id)` returns the key or None (unknown id).
    """
    parsed = parse_authorization(header)
    if parsed is None:
        return "AuthFailure.InvalidAuthorization"
    key = secret_key_of(parsed.secret_id)
    if key is None:
        return "AuthFailure.SecretIdNotFound"
    if abs(now - timestamp) > max_skew:
        return "AuthFailure.SignatureExpire"
    if parsed.date != utc_date(timestamp) or parsed.signed_headers != SIGNED_HEADERS:
        return "AuthFailure.SignatureFailure"
    canonical = canonical_request(payload, host, content_type)
    expected = signature(key, string_to_sign(canonical, timestamp, parsed.service), timestamp, parsed.service)
    return None if hmac.compare_digest(expected, parsed.signature) else "AuthFailure.SignatureFailure"
