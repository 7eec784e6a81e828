"""Schema fields the API's schemas share."""
from __future__ import annotations

from marshmallow import fields

from kernel.clock import to_beijing


class BeijingTime(fields.String):
    """An aware datetime answered as ISO 8601 in Beijing time (`+08:00`); documented as a string."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return to_beijing(value).isoformat() if hasattr(value, "tzinfo") else super()._serialize(value, attr, obj, **kwargs)
