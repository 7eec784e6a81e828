"""Pickup verification codes (取件验证码): six digits shown once, kept only as a salted scrypt hash.

A six-digit code has a million values, so a fast hash would be reversed in a second; scrypt makes
each guess cost, and the service locks a leg's code after a few wrong tries.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets

_N, _R, _P, _LEN = 2**14, 8, 1, 32
CODE_DIGITS = 6


def new_code() -> str:
    """A fresh random six-digit code (leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(code: str) -> str:
    """``scrypt$<salt hex>$<hash hex>`` of a code."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(code.encode("ascii"), salt=salt, n=_N, r=_R, p=_P, dklen=_LEN)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_code(code: str, stored: str) -> bool:
    """True if ``code`` is the one ``stored`` was made from (constant-time compare)."""
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
        salt, expected = bytes.fromhex(salt_hex), bytes.fromhex(digest_hex)
    except ValueError:
        return False
    if scheme != "scrypt" or not code.isdigit() or len(code) != CODE_DIGITS:
        return False
    digest = hashlib.scrypt(code.encode("ascii"), salt=salt, n=_N, r=_R, p=_P, dklen=_LEN)
    return hmac.compare_digest(digest, expected)
