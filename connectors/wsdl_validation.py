"""A JSON request checked against an operation's XSD input before anything is sent: the values zeep needs,
or the problems, each naming the caller's field path (never the value)."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

import isodate
from zeep.xsd import builtins as xsd_builtins
from zeep.xsd.types.complex import ComplexType
from zeep.xsd.elements.any import Any as XsdAny

from connectors.wsdl import _is_repeated, _required

_INT_RANGES = {
    xsd_builtins.Byte: (-2**7, 2**7 - 1), xsd_builtins.Short: (-2**15, 2**15 - 1), xsd_builtins.Int: (-2**31, 2**31 - 1),
    xsd_builtins.Long: (-2**63, 2**63 - 1), xsd_builtins.UnsignedByte: (0, 2**8 - 1),
    xsd_builtins.UnsignedShort: (0, 2**16 - 1), xsd_builtins.UnsignedInt: (0, 2**32 - 1),
    xsd_builtins.UnsignedLong: (0, 2**64 - 1), xsd_builtins.NonNegativeInteger: (0, None),
    xsd_builtins.PositiveInteger: (1, None), xsd_builtins.NonPositiveInteger: (None, 0),
    xsd_builtins.NegativeInteger: (None, -1),
}
_INTEGER = re.compile(r"^[+-]?\d+$")


class _Invalid(ValueError):
    pass


def _int_range(xsd_type):
    # Most specific class first: Int derives from Long, which derives from Integer.
    for cls in type(xsd_type).__mro__:
        if cls in _INT_RANGES:
            return _INT_RANGES[cls]
    return (None, None)


def _convert_simple(xsd_type, value, facets: Mapping[str, dict]):
    """A JSON value -> the Python value zeep renders for `xsd_type`; _Invalid says what is expected."""
    if isinstance(value, (dict, list)):
        raise _Invalid("must be a single value, not an object or a list")
    if isinstance(xsd_type, xsd_builtins.Boolean):
        if isinstance(value, bool):
            converted = value
        elif isinstance(value, str) and value in ("true", "false", "1", "0"):
            converted = value in ("true", "1")
        else:
            raise _Invalid("must be true or false")
    elif isinstance(xsd_type, xsd_builtins.Integer):
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _INTEGER.match(value))):
            raise _Invalid("must be an integer")
        converted = int(value)
        low, high = _int_range(xsd_type)
        if (low is not None and converted < low) or (high is not None and converted > high):
            raise _Invalid(f"must be an integer between {low} and {high}")
    elif isinstance(xsd_type, xsd_builtins.Decimal):
        if isinstance(value, bool):
            raise _Invalid("must be a decimal number")
        try:
            converted = Decimal(str(value))
        except InvalidOperation:
            raise _Invalid("must be a decimal number") from None
        if not converted.is_finite():
            raise _Invalid("must be a finite decimal number")
    elif isinstance(xsd_type, (xsd_builtins.Double, xsd_builtins.Float)):
        if isinstance(value, bool):
            raise _Invalid("must be a number")
        try:
            converted = float(value)
        except (TypeError, ValueError):
            raise _Invalid("must be a number") from None
    elif isinstance(xsd_type, xsd_builtins.DateTime):
        if not isinstance(value, str):
            raise _Invalid("must be a date-time string (ISO 8601, with its time zone)")
        try:
            converted = isodate.parse_datetime(value)
        except (ValueError, isodate.ISO8601Error):
            raise _Invalid("must be a date-time (ISO 8601, e.g. 2026-03-01T09:30:00+08:00)") from None
        if converted.tzinfo is None:
            raise _Invalid("must carry its time zone (e.g. +08:00)")
    elif isinstance(xsd_type, xsd_builtins.Date):
        if not isinstance(value, str):
            raise _Invalid("must be a date string (YYYY-MM-DD)")
        try:
            converted = dt.date.fromisoformat(value)
        except ValueError:
            raise _Invalid("must be a date (YYYY-MM-DD)") from None
    elif isinstance(xsd_type, xsd_builtins.Base64Binary):
        if not isinstance(value, str):
            raise _Invalid("must be base64 text")
        converted = value
    else:  # string and its many restrictions, anyURI, QName ...
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _Invalid("must be a string")
        converted = value if isinstance(value, str) else str(value)
    _check_facets(xsd_type, converted, facets)
    return converted


def _check_facets(xsd_type, value, facets: Mapping[str, dict]) -> None:
    qname = getattr(xsd_type, "qname", None)
    rules = facets.get(str(qname)) if qname is not None else None
    if not rules:
        return
    text = value if isinstance(value, str) else str(value)
    if "enumeration" in rules and text not in rules["enumeration"]:
        raise _Invalid(f"must be one of {', '.join(rules['enumeration'])}")
    if "length" in rules and len(text) != rules["length"]:
        raise _Invalid(f"must be exactly {rules['length']} characters long")
    if "minLength" in rules and len(text) < rules["minLength"]:
        raise _Invalid(f"must be at least {rules['minLength']} characters long")
    if "maxLength" in rules and len(text) > rules["maxLength"]:
        raise _Invalid(f"must be at most {rules['maxLength']} characters long")
    for pattern in rules.get("pattern", []):
        if not re.fullmatch(pattern.replace("\\d", "[0-9]"), text):
            raise _Invalid(f"must match the pattern {pattern}")
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        number = Decimal(str(value))
        for kind, test, words in (("minInclusive", lambda b: number < b, "at least"),
                                  ("maxInclusive", lambda b: number > b, "at most"),
                                  ("minExclusive", lambda b: number <= b, "more than"),
                                  ("maxExclusive", lambda b: number >= b, "less than")):
            if kind in rules and test(rules[kind]):
                raise _Invalid(f"must be {words} {rules[kind]}")


def validate_request(elements: list[tuple[str, Any]], request: Mapping[str, Any], facets: Mapping[str, dict],
                     parent_type=None, prefix: str = "") -> tuple[dict, list[tuple[str, str]]]:
    """Check `request` (the department's field names) against the schema.

    Returns (the request converted for zeep, [(field path, problem)]). Absent optional elements
    stay absent; `None` is accepted only for optional or nillable elements.
    """
    problems: list[tuple[str, str]] = []
    converted: dict = {}
    known = {name for name, element in elements if name is not None and not isinstance(element, XsdAny)}
    for name in sorted(set(request) - known):
        problems.append((f"{prefix}{name}", f"is not a field of this operation (it has: {', '.join(sorted(known)) or 'none'})"))
    for name, element in elements:
        if name is None or isinstance(element, XsdAny) or not hasattr(element, "type"):
            continue
        path = f"{prefix}{name}"
        if name not in request or request[name] is None:
            if name in request and element.nillable:
                converted[name] = None
            elif _required(parent_type, element) and not element.nillable:
                problems.append((path, "is required"))
            continue
        value = request[name]
        if _is_repeated(element):
            items = value if isinstance(value, list) else [value]
            out_items = []
            for i, item in enumerate(items):
                out, found = _validate_one(element, item, facets, f"{path}[{i}]")
                out_items.append(out)
                problems.extend(found)
            if isinstance(element.max_occurs, int) and len(items) > element.max_occurs:
                problems.append((path, f"may repeat at most {element.max_occurs} times"))
            converted[name] = out_items
        else:
            if isinstance(value, list):
                problems.append((path, "must be a single value, not a list"))
                continue
            converted[name], found = _validate_one(element, value, facets, path)
            problems.extend(found)
    return converted, problems


def _validate_one(element, value, facets, path) -> tuple[Any, list[tuple[str, str]]]:
    if value is None:
        return None, ([] if element.nillable else [(path, "may not be null")])
    if isinstance(element.type, ComplexType):
        if not isinstance(value, Mapping):
            return value, [(path, "must be an object")]
        return validate_request(element.type.elements, value, facets, element.type, f"{path}.")
    try:
        return _convert_simple(element.type, value, facets), []
    except _Invalid as exc:
        return value, [(path, str(exc))]
