"""Kuaidi100 signatures: upper-case hex MD5, compared in constant time.

- query: ``sign = UPPER(MD5(param + key + customer))``
- push callback: ``sign = UPPER(MD5(param + salt))``
"""

from __future__ import annotations

import hashlib
import hmac

from logistics_bridge.carriers.kuaidi100.units import SOURCE
from logistics_bridge.errors import SignatureError


def _md5_upper(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest().upper()


def query_sign(param: str, key: str, customer: str) -> str:
    """Signature of a real-time query over the exact ``param`` JSON text."""
    return _md5_upper(param + key + customer)


def callback_sign(param: str, salt: str) -> str:
    """Signature Kuaidi100 puts on a push made for a subscription with ``salt``."""
    return _md5_upper(param + salt)


def verify_callback(param: str, sign: str, salt: str) -> None:
    """Check a push's ``sign`` in constant time; raises :class:`SignatureError`."""
    expected = callback_sign(param, salt)
    if not hmac.compare_digest(expected.encode("ascii"), sign.strip().upper().encode("utf-8")):
        raise SignatureError("push signature does not match", carrier=SOURCE)


def verify_query(param: str, sign: str, key: str, customer: str) -> None:
    """Check a query's ``sign`` (the simulator's side); raises :class:`SignatureError`."""
    expected = query_sign(param, key, customer)
    if not hmac.compare_digest(expected.encode("ascii"), sign.strip().upper().encode("utf-8")):
        raise SignatureError("query signature does not match", carrier=SOURCE)
