"""The identifier checks of the identity API, in one place: a malformed resident ID number or USCC is
refused as 422 `invalid_identifier`, naming the field and the rule it breaks (`details.field`, `details.rule`)."""
from __future__ import annotations

from kernel.errors import Refused
from kernel.identifiers import InvalidIdentifier, validate_resident_id, validate_uscc


class IdentifierRefused(Refused):
    """An identifier that breaks its rule (422 `invalid_identifier`)."""

    def __init__(self, exc: InvalidIdentifier, field: str):
        super().__init__(422, "invalid_identifier", str(exc), {"field": field, "rule": exc.code})


def _checked(validator, value: str, field: str) -> str:
    try:
        return validator(value)
    except InvalidIdentifier as exc:
        raise IdentifierRefused(exc, field) from None


def resident_id(value: str, field: str = "resident_id") -> str:
    """The canonical resident ID number, or IdentifierRefused."""
    return _checked(validate_resident_id, value, field)


def uscc(value: str, field: str = "uscc") -> str:
    """The canonical unified social credit code, or IdentifierRefused."""
    return _checked(validate_uscc, value, field)
