"""Values as couriers write them, converted at the edge: Beijing time text, kilograms, yuan.

Inside the bridge: aware UTC datetimes, integer grams, integer fen. Money and the
Beijing offset are the payment bridge's helpers (one way to do each thing); this module
adds the text formats couriers use.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from kernel.clock import BEIJING, to_beijing
from kernel.money import AmountError
from kernel.money import fen_to_yuan, yuan_to_fen

__all__ = [
    "BEIJING",
    "fen_to_yuan",
    "format_beijing",
    "grams_to_kg",
    "kg_to_grams",
    "loads",
    "money_to_fen",
    "parse_beijing",
]

_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_KG = re.compile(r"-?(0|[1-9][0-9]{0,6})(\.[0-9]{1,3})?")


def parse_beijing(text: str) -> datetime:
    """Parse courier wall-clock text (Beijing time) into an aware UTC datetime.

    Accepts ``2024-03-15 12:42:20``, ``2024/03/15 12:42:20``, ``2024-03-15 12:42`` and a
    bare date, ``-`` or ``/`` separated (midnight). Raises ``ValueError``.
    """
    cleaned = " ".join(str(text).split())
    for fmt in _FORMATS:
        try:
            local = datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
        return local.replace(tzinfo=BEIJING).astimezone(timezone.utc)
    raise ValueError(f"not a Beijing time: {text!r}")


def format_beijing(moment: datetime, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Format an aware datetime as Beijing wall-clock text."""
    return to_beijing(moment).strftime(fmt)


def kg_to_grams(value: Any) -> int:
    """``"1.5"`` / ``1.5`` / ``Decimal("1.5")`` kilograms -> 1500 grams. Raises ``ValueError``.

    Couriers bill to 10 g at most, so more than three decimals means a broken file.
    """
    text = str(value).strip()
    if not _KG.fullmatch(text):
        raise ValueError(f"not a weight in kg: {text!r}")
    return int(Decimal(text) * 1000)


def grams_to_kg(grams: int) -> str:
    """1500 -> ``"1.5"``; 1000 -> ``"1"``: shortest exact kilogram text."""
    text = str(Decimal(grams) / 1000)
    return text.rstrip("0").rstrip(".") if "." in text else text


def money_to_fen(value: Any, *, allow_negative: bool = False) -> int:
    """A yuan amount as text or JSON number (parsed as ``Decimal``) -> integer fen.

    Raises ``ValueError`` (``AmountError`` is the payment bridge's; callers here speak
    in ``ValueError`` and wrap it in their own error).
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a yuan amount: {value!r}")
    if isinstance(value, (int, Decimal)):
        try:
            value = format(Decimal(value).normalize(), "f") if isinstance(value, Decimal) else str(value)
        except InvalidOperation:
            raise ValueError("not a yuan amount") from None
    try:
        return yuan_to_fen(str(value).strip(), allow_negative=allow_negative)
    except AmountError as exc:
        raise ValueError(exc.message) from None


def loads(text: str | bytes) -> Any:
    """JSON with decimals kept exact (``Decimal``, never float) for money and weights."""
    return json.loads(text, parse_float=Decimal)
