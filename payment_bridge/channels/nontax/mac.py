"""MAC of a non-tax message: hex SHA-256 over (shared token + XML text).

The XML travels as GBK bytes, so "token + XML text" is computed as
``SHA-256(token encoded in GBK + raw XML bytes)``: the same digest as hashing the
concatenated text in GBK, and it works on the exact bytes received, before any
parsing.
"""

import hashlib
import hmac
import re

from payment_bridge.errors import SignatureError

_HEX_MAC = re.compile(r"[0-9a-fA-F]{64}")


def _token_bytes(token: str | bytes) -> bytes:
    data = token.encode("gbk") if isinstance(token, str) else bytes(token)
    if not data:
        raise ValueError("the shared MAC token must not be empty")
    return data


def sign(xml_bytes: bytes, token: str | bytes) -> str:
    """Return the lower-case hex MAC of ``xml_bytes`` under the shared ``token``."""
    return hashlib.sha256(_token_bytes(token) + bytes(xml_bytes)).hexdigest()


def verify(xml_bytes: bytes, mac: str, token: str | bytes) -> None:
    """Check ``mac`` against ``xml_bytes`` in constant time; raise :class:`SignatureError`.

    Upper- or lower-case hex is accepted. The expected value is never echoed.
    """
    if not isinstance(mac, str) or _HEX_MAC.fullmatch(mac) is None:
        raise SignatureError("MAC missing or not 64 hex characters")
    if not hmac.compare_digest(sign(xml_bytes, token), mac.lower()):
        raise SignatureError("MAC does not match the message")
