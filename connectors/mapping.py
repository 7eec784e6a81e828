"""Field mapping between our canonical JSON and a department's field names. Pure functions.

A mapping is `{source path: target path}`. A path is dotted (`household.head.name`); a segment
ending in `[]` walks a list element by element (`members[].idNumber` -> `members[].id_number`),
and a bare `members[]` -> `people[]` copies each element unchanged.

Requests map canonical -> theirs (`request` in a declaration, keys are our fields); responses
map theirs -> canonical (`response`, keys are their fields). No mapping means "pass through".
"""
from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any, Iterable, Mapping

from kernel.identifiers import mask

MISSING = object()


class MappingError(ValueError):
    """The data does not fit the mapping; the message names fields, never their values."""


def split_path(path: str) -> list[str]:
    """`a.b[].c` -> `['a', 'b[]', 'c']`; raises MappingError on empty segments."""
    parts = path.split(".")
    if not path or any(not p or p == "[]" for p in parts):
        raise MappingError(f"bad field path {path!r}")
    return parts


def get_path(data: Any, path: str) -> Any:
    """The value at a dotted path (no `[]`), or MISSING when any step is absent."""
    current = data
    for part in split_path(path):
        if not isinstance(current, Mapping) or part not in current:
            return MISSING
        current = current[part]
    return current


def set_path(target: dict, path: str, value: Any) -> None:
    """Set a dotted path (no `[]`) in `target`, creating intermediate objects."""
    parts = split_path(path)
    current = target
    for part in parts[:-1]:
        nxt = current.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise MappingError(f"{path}: {part} is both a value and an object in the mapping")
        current = nxt
    current[parts[-1]] = value


def map_fields(data: Mapping, mapping: Mapping[str, str], *, fill_missing: bool = False) -> dict:
    """Build a new object from `data` following `mapping` (source path -> target path).

    Absent source fields are left out, or set to None when `fill_missing` (so a response keeps
    a stable shape). List segments (`[]`) must appear in both paths, the same number of times.
    """
    out: dict = {}
    groups: dict[tuple[str, str], dict[str, str]] = {}
    for source, target in mapping.items():
        if ("[]" in source) != ("[]" in target) or source.count("[]") != target.count("[]"):
            raise MappingError(f"{source} -> {target}: list segments ([]) must match on both sides")
        if "[]" not in source:
            value = get_path(data, source)
            if value is not MISSING:
                set_path(out, target, value)
            elif fill_missing:
                set_path(out, target, None)
            continue
        src_list, _, src_rest = source.partition("[]")
        dst_list, _, dst_rest = target.partition("[]")
        groups.setdefault((src_list, dst_list), {})[src_rest.lstrip(".")] = dst_rest.lstrip(".")
    for (src_list, dst_list), inner in groups.items():
        items = get_path(data, src_list)
        if items is MISSING or items is None:
            if fill_missing:
                set_path(out, dst_list, [])
            continue
        if isinstance(items, Mapping):
            items = [items]  # SOAP: one repeated element often arrives as a single object
        if not isinstance(items, list):
            raise MappingError(f"{src_list} should be a list")
        set_path(out, dst_list, [_map_item(item, inner, fill_missing) for item in items])
    return out


def _map_item(item: Any, inner: Mapping[str, str], fill_missing: bool) -> Any:
    if "" in inner:  # `members[]` -> `people[]`: copy each element as it is
        return item
    if not isinstance(item, Mapping):
        raise MappingError("a list element should be an object")
    return map_fields(item, inner, fill_missing=fill_missing)


def map_request(payload: Mapping, mapping: Mapping[str, str] | None) -> dict:
    """Canonical payload -> the department's request. Fields the mapping does not know are refused.

    Refusing (instead of dropping) unknown fields means a caller's typo is reported, not lost.
    """
    if mapping is None:
        return dict(payload)
    known = {split_path(source)[0].removesuffix("[]") for source in mapping}
    unknown = sorted(set(payload) - known)
    if unknown:
        raise MappingError(f"unexpected field(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}")
    return map_fields(payload, mapping)


def map_response(answer: Any, mapping: Mapping[str, str] | None) -> Any:
    """The department's answer -> canonical fields (absent ones become None)."""
    if mapping is None:
        return answer
    if not isinstance(answer, Mapping):
        raise MappingError("expected an object")
    return map_fields(answer, mapping, fill_missing=True)


def to_plain(value: Any) -> Any:
    """zeep/JSON results -> plain JSON types: dicts, lists, str, int, float, bool, None.

    Decimals become int when whole (amounts are integer fen) and str otherwise, so no precision
    is lost; dates become ISO 8601; bytes become base64.
    """
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def mask_fields(payload: Mapping, paths: Iterable[str]) -> dict:
    """A deep copy of `payload` with the string values at `paths` masked (`3401**********123X`).

    For logs and errors: `paths` are the operation's declared personal identifiers (`pii`).
    """
    out = to_plain(payload)
    for path in paths:
        _mask_path(out, split_path(path))
    return out


def _mask_path(node: Any, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    is_list = head.endswith("[]")
    key = head.removesuffix("[]")
    if not isinstance(node, dict) or key not in node:
        return
    targets = node[key] if is_list and isinstance(node[key], list) else None
    if targets is not None:
        for i, item in enumerate(targets):
            if rest:
                _mask_path(item, rest)
            elif isinstance(item, str):
                targets[i] = mask(item)
    elif rest:
        _mask_path(node[key], rest)
    elif isinstance(node[key], (str, int)):
        node[key] = mask(str(node[key]))
