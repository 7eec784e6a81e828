"""A REST request checked against its OpenAPI operation before anything is sent. Pure functions.

Path placeholders pair with the operation's path parameters in order; mapped fields that are query
parameters go to the query string, the others to the JSON body. Strings in path and query
parameters that spell the declared type (`"12"` for an integer) are taken as that type, since they
travel as text anyway. Problems name the caller's canonical field.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from connectors.openapi import Document, Field, Operation

_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def coerce(value: Any, schema: Mapping) -> Any:
    """A path or query value as the schema's scalar type when it is a string that spells it."""
    kind = schema.get("type")
    if isinstance(value, list) and kind == "array":
        return [coerce(v, schema.get("items") or {}) for v in value]
    if not isinstance(value, str):
        return value
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "number" and _NUMBER.match(value):
        return float(value) if any(c in value for c in ".eE") else int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def canonical_name(their_path: str, request_mapping: Mapping[str, str] | None) -> str:
    """The caller's name for a department field path (`category.id` -> `kind.id` when `kind: category`)."""
    for ours, theirs in sorted((request_mapping or {}).items(), key=lambda kv: -len(kv[1])):
        if their_path == theirs or their_path.startswith(theirs + ".") or their_path.startswith(theirs + "["):
            return ours + their_path[len(theirs):]
    return their_path


def place(document: Document, operation: Operation, path_values: Mapping[str, Any], request: dict,
          request_mapping: Mapping[str, str] | None) -> tuple[dict, dict | None, dict[str, str]]:
    """(query parameters, JSON body or None, {canonical field: what is wrong}) for one call.

    `path_values` are the canonical placeholders' values in template order; `request` is the mapped
    payload (department field names) without them.
    """
    problems: dict[str, str] = {}
    for (ours, value), param in zip(path_values.items(), operation.params("path")):
        for where, reason in document.errors(param.pointer, coerce(value, param.schema), "request"):
            problems.setdefault(ours if where == "(the whole value)" else f"{ours}.{where}", reason)
    rest = dict(request)
    query: dict = {}
    for param in operation.params("query"):
        ours = canonical_name(param.name, request_mapping)
        if param.name not in rest:
            if param.required:
                problems.setdefault(ours, "is required")
            continue
        value = coerce(rest.pop(param.name), param.schema)
        if value is None:
            continue
        if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
            problems.setdefault(ours, "must be a plain value or a list of plain values (it goes in the query string)")
            continue
        for where, reason in document.errors(param.pointer, value, "request"):
            problems.setdefault(ours if where == "(the whole value)" else f"{ours}.{where}", reason)
        query[param.name] = value
    body = None
    if operation.body is not None:
        if rest or operation.body_required:
            body = rest
            for where, reason in document.errors(operation.body, body, "request"):
                problems.setdefault(canonical_name(where, request_mapping), reason)
    else:
        for name in sorted(rest):
            problems.setdefault(canonical_name(name, request_mapping),
                                f"is not a parameter of {operation.method.upper()} {operation.path} in the OpenAPI document")
    return query, body, problems


def request_fields(document: Document, operation: Operation) -> list[Field]:
    """Every department field a declaration's `request` may name: query parameters and body fields."""
    fields = [Field(p.name, str(p.schema.get("type", "string")), p.required, False) for p in operation.params("query")]
    return fields + document.fields(operation.body)


def response_fields(document: Document, operation: Operation) -> list[Field]:
    """Every department field a declaration's `response` may name, for the first 2xx (or default) JSON answer.
    A JSON array answer arrives as `{"items": [...]}`, so its paths start with `items[]`."""
    keys = sorted(k for k in operation.responses if k.startswith("2")) + ["default"]
    pointer = next((operation.responses[k] for k in keys if operation.responses.get(k)), None)
    if pointer is None:
        return []
    schema, _ = document.resolve(document._at(pointer), pointer)
    is_list = isinstance(schema, dict) and (schema.get("type") == "array" or "items" in schema)
    fields = document.fields(pointer, prefix="items" if is_list else "")
    if not fields and isinstance(schema, dict) and schema.get("type", "object") == "object":
        return [Field("", "object", True, True)]  # an object of any fields (e.g. a map of counts)
    return fields
