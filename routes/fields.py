"""Schema fields the API's schemas share."""
from __future__ import annotations

from datetime import date

from marshmallow import fields, validate

from kernel.clock import to_beijing


# Dates a query may name (issue 15: 9999-12-31 plus a day overflowed into a 500).
DATE_RANGE = validate.Range(min=date(2000, 1, 1), max=date(2099, 12, 31))


class BeijingTime(fields.String):
    """An aware datetime answered as ISO 8601 in Beijing time (`+08:00`); documented as a string."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return to_beijing(value).isoformat() if hasattr(value, "tzinfo") else super()._serialize(value, attr, obj, **kwargs)
