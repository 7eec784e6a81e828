"""Money at the edges: yuan strings in, integer fen (分) inside.

Amounts travel on the wire as yuan strings ("12.30") and live everywhere else as
integer fen. Conversion is exact (regex + ``Decimal``), never through float.
"""

import re
from decimal import Decimal

from kernel.errors import CodedError


class AmountError(CodedError):
    """A money amount is malformed, negative or out of range."""

    code = "invalid_amount"


# 100 billion yuan less one fen: above any single non-tax notice (land transfer
# fees reach billions) and far inside a signed 64-bit column.
MAX_FEN = 10**13 - 1

# ASCII digits only (``\d`` would admit full-width and other Unicode digits), no
# exponent, no sign, no grouping, no leading zeros, at most two decimals.
_YUAN = re.compile(r"(-?)(0|[1-9][0-9]{0,10})(?:\.([0-9]{1,2}))?")
_MAX_TEXT = 24


def yuan_to_fen(text: str, *, allow_negative: bool = False) -> int:
    """Parse a yuan string such as ``"12.3"`` or ``"12.30"`` into integer fen (1230).

    Rejects anything that is not a plain decimal with at most two decimals, and
    negatives unless ``allow_negative`` (bills show refunded fees as negatives).
    Raises :class:`AmountError`.
    """
    if not isinstance(text, str):
        raise AmountError(f"amount must be a string, got {type(text).__name__}")
    if len(text) > _MAX_TEXT:
        raise AmountError("amount text too long")
    match = _YUAN.fullmatch(text)
    if match is None:
        raise AmountError(f"not a yuan amount: {text!r}")
    if match.group(1) and not allow_negative:
        raise AmountError("negative amount not allowed")
    fen = int(Decimal(text).scaleb(2))
    if abs(fen) > MAX_FEN:
        raise AmountError("amount above the maximum")
    return fen


# Fees on WeChat Pay bills have five decimals of a yuan: thousandths of a fen ("mfen").
MFEN_PER_FEN = 1000
_FEE_YUAN = re.compile(r"(-?)(0|[1-9][0-9]{0,10})(?:\.([0-9]{1,5}))?")


def yuan_to_mfen(text: str) -> int:
    """Parse a fee in yuan with up to five decimals (``"0.00020"``) into thousandths of a fen (20).

    Negatives are allowed (a refund gives its fee back). Exact, never through float.
    Raises :class:`AmountError`.
    """
    if not isinstance(text, str):
        raise AmountError(f"amount must be a string, got {type(text).__name__}")
    if len(text) > _MAX_TEXT:
        raise AmountError("amount text too long")
    if _FEE_YUAN.fullmatch(text) is None:
        raise AmountError(f"not a yuan amount with at most five decimals: {text!r}")
    mfen = int(Decimal(text).scaleb(5))
    if abs(mfen) > MAX_FEN * MFEN_PER_FEN:
        raise AmountError("amount above the maximum")
    return mfen


def mfen_to_yuan(mfen: int) -> str:
    """Format thousandths of a fen as yuan with five decimals, as bills do: 20 -> ``"0.00020"``."""
    if not isinstance(mfen, int) or isinstance(mfen, bool):
        raise AmountError(f"mfen must be an int, got {type(mfen).__name__}")
    if abs(mfen) > MAX_FEN * MFEN_PER_FEN:
        raise AmountError("amount above the maximum")
    yuan, rest = divmod(abs(mfen), 100_000)
    return f"{'-' if mfen < 0 else ''}{yuan}.{rest:05d}"


def mfen_to_fen(mfen: int) -> int:
    """Round thousandths of a fen to whole fen, half away from zero (what is settled)."""
    fen, rest = divmod(abs(mfen), MFEN_PER_FEN)
    if rest * 2 >= MFEN_PER_FEN:
        fen += 1
    return -fen if mfen < 0 else fen


def fen_to_yuan(fen: int, *, allow_negative: bool = False) -> str:
    """Format integer fen as a yuan string with two decimals: 1230 -> ``"12.30"``."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise AmountError(f"fen must be an int, got {type(fen).__name__}")
    if fen < 0 and not allow_negative:
        raise AmountError("negative amount not allowed")
    if abs(fen) > MAX_FEN:
        raise AmountError("amount above the maximum")
    yuan, cents = divmod(abs(fen), 100)
    sign = "-" if fen < 0 else ""
    return f"{sign}{yuan}.{cents:02d}"


def require_fen(value: int, *, field: str = "amount", minimum: int = 0) -> int:
    """Check that ``value`` is an int number of fen within ``minimum..MAX_FEN``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise AmountError(f"{field} must be an int number of fen")
    if value < minimum or value > MAX_FEN:
        raise AmountError(f"{field} out of range")
    return value
