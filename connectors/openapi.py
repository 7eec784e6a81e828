"""A department's OpenAPI 3 document: find a declared operation in it, validate requests and answers.

Schemas are checked with `jsonschema`: OpenAPI 3.1 schemas are JSON Schema 2020-12; 3.0 schemas
are the Draft 4 dialect plus `nullable`, and `readOnly` / `writeOnly` properties are not required
in requests / answers. `$ref`s resolve inside the document. Messages name fields, never values
(a value may be a personal identifier).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urljoin, urlparse

import yaml
from jsonschema import Draft4Validator, Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT4, DRAFT202012

BASE = "urn:govlink:openapi"
METHODS = ("get", "put", "post", "delete", "patch")
_SEGMENT = re.compile(r"\{[^{}]*\}")
_INT_RANGES = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}


class OpenApiProblem(ValueError):
    """The document cannot be used (unreadable, not OpenAPI 3, a broken `$ref`); the message says what to fix."""


def parse_document(text: str, where: str) -> dict:
    """JSON or YAML text -> the OpenAPI 3 document; OpenApiProblem if it is not one."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise OpenApiProblem(f"openapi {where} is not an OpenAPI document (no `paths`); name the department's "
                             "OpenAPI 3 document (JSON or YAML)")
    version = str(doc.get("openapi", doc.get("swagger", "")))
    if not version.startswith("3."):
        raise OpenApiProblem(f"openapi {where} is OpenAPI/Swagger {version or '(no version)'}, not OpenAPI 3; "
                             "convert it to OpenAPI 3 first")
    return doc


def looks_like_openapi(text: str) -> bool:
    """Whether `text` is (the start of) an OpenAPI 3 document rather than XML."""
    head = text.lstrip()[:2000]
    return not head.startswith("<") and re.search(r"""(^|[{,\s])["']?openapi["']?\s*:\s*["']?3\.""", head) is not None


def location_of(name: str, declaration_source: str) -> str:
    """`openapi:` as written -> a URL (`http(s)://`, `file://`); a plain path is relative to the declaration's folder."""
    if re.match(r"^(https?|file)://", name):
        return name
    path = Path(name)
    if not path.is_absolute():
        path = Path(declaration_source).resolve().parent / path
    return path.resolve().as_uri()


def read_location(url: str, session, timeout: float = 20) -> str:
    """The text at `url` (a file or HTTP); OpenApiProblem naming the URL when it cannot be read."""
    if url.startswith("file://"):
        path = Path(urlparse(url).path)
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise OpenApiProblem(f"openapi {url} cannot be read ({type(exc).__name__}); check the path") from None
    import requests

    try:
        response = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise OpenApiProblem(f"openapi {url} cannot be reached ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise OpenApiProblem(f"openapi {url} answered HTTP {response.status_code}; check the URL")
    return response.content.decode(response.encoding or "utf-8", errors="replace")


# --------------------------------------------------------------------------- the 3.0 dialect
def _oas30_validator(mode: str):
    base = Draft4Validator.VALIDATORS

    def nullable(keyword):
        def check(validator, value, instance, schema):
            if instance is None and schema.get("nullable") is True:
                return
            yield from base[keyword](validator, value, instance, schema)
        return check

    def required(validator, names, instance, schema):
        if not validator.is_type(instance, "object"):
            return
        skip = "readOnly" if mode == "request" else "writeOnly"
        properties = schema.get("properties") or {}
        for name in names:
            if name not in instance and not (properties.get(name) or {}).get(skip):
                yield ValidationError(f"{name!r} is a required property")

    return validators.extend(Draft4Validator, {"type": nullable("type"), "enum": nullable("enum"), "required": required})


FORMATS = FormatChecker()
for _name, (_low, _high) in _INT_RANGES.items():
    FORMATS.checks(_name)(lambda value, low=_low, high=_high: not isinstance(value, int) or low <= value <= high)
FORMATS.checks("date", raises=ValueError)(lambda v: not isinstance(v, str) or bool(dt.date.fromisoformat(v)))
FORMATS.checks("date-time", raises=ValueError)(
    lambda v: not isinstance(v, str) or bool(dt.datetime.fromisoformat(v.replace("Z", "+00:00")).tzinfo))


# --------------------------------------------------------------------------- operations
@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # path | query | header | cookie
    required: bool
    pointer: str  # JSON pointer of its schema
    schema: dict


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str | None
    summary: str
    parameters: tuple[Parameter, ...]
    body: str | None  # pointer of the JSON request body's schema
    body_required: bool
    other_body: str | None  # a non-JSON request body's media type
    responses: dict  # status ("200", "2XX", "default") -> pointer of its JSON schema, or None

    def params(self, where: str) -> list[Parameter]:
        return [p for p in self.parameters if p.where == where]

    def response_pointer(self, status: int) -> tuple[bool, str | None]:
        """(declared, schema pointer) of the answer with HTTP `status`; an operation that declares no
        2xx answer at all accepts any."""
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in self.responses:
                return True, self.responses[key]
        return not any(k.startswith("2") for k in self.responses), None


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


class Document:
    """One parsed OpenAPI 3 document at `url`."""

    def __init__(self, doc: dict, url: str):
        self.doc, self.url = doc, url
        self.v31 = str(doc.get("openapi")).startswith("3.1")
        spec = DRAFT202012 if self.v31 else DRAFT4
        self._registry = Registry().with_resource(BASE, Resource(contents=doc, specification=spec))
        self._validators: dict = {}

    # ------------------------------------------------------------- lookup
    def resolve(self, node: Any, pointer: str) -> tuple[Any, str]:
        """Follow local `$ref`s from `node` (at `pointer`); OpenApiProblem on a broken or remote one."""
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
                raise OpenApiProblem(f"openapi {self.url}: {pointer}: $ref {ref!r} is not a local reference "
                                     "(only #/... references are followed)")
            seen.add(ref)
            node, pointer = self._at(ref[1:]), ref[1:]
        return node, pointer

    def _at(self, pointer: str) -> Any:
        node: Any = self.doc
        for part in pointer.lstrip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise OpenApiProblem(f"openapi {self.url}: #{pointer} does not exist")
        return node

    def server_url(self) -> str | None:
        """The first server's URL, resolved against the document's own URL; None if it cannot be."""
        servers = self.doc.get("servers") or [{"url": "/"}]
        url = str(servers[0].get("url", "/"))
        url = re.sub(r"\{([^{}]+)\}", lambda m: str(((servers[0].get("variables") or {}).get(m.group(1)) or {})
                                                    .get("default", m.group(0))), url)
        if not re.match(r"^https?://", url):
            if not self.url.startswith("http"):
                return None
            url = urljoin(self.url, url)
        return url.rstrip("/")

    def operations(self) -> list[Operation]:
        found = []
        for path, item in sorted(self.doc["paths"].items()):
            item, item_pointer = self.resolve(item, f"/paths/{_escape(path)}")
            for method in METHODS:
                if isinstance(item, dict) and isinstance(item.get(method), dict):
                    found.append(self._operation(path, method, item, item_pointer))
        return found

    def find(self, method: str, template: str) -> Operation | None:
        """The operation for `method` and a path template; placeholders match whatever they are named."""
        shape = _SEGMENT.sub("{}", template.rstrip("/") or "/")
        for op in self.operations():
            if op.method == method.lower() and _SEGMENT.sub("{}", op.path.rstrip("/") or "/") == shape:
                return op
        return None

    def _operation(self, path: str, method: str, item: dict, item_pointer: str) -> Operation:
        pointer = f"{item_pointer}/{method}"
        raw = item[method]
        params: dict[tuple[str, str], Parameter] = {}
        for where_from, entries in ((item_pointer, item.get("parameters")), (pointer, raw.get("parameters"))):
            for i, entry in enumerate(entries or []):
                entry, at = self.resolve(entry, f"{where_from}/parameters/{i}")
                if not isinstance(entry, dict) or "name" not in entry:
                    continue
                schema, schema_at = self.resolve(entry.get("schema") or {}, f"{at}/schema")
                params[(entry["name"], entry.get("in", "query"))] = Parameter(
                    entry["name"], entry.get("in", "query"), bool(entry.get("required") or entry.get("in") == "path"),
                    f"{at}/schema", schema if isinstance(schema, dict) else {})
        body = other = None
        body_required = False
        if "requestBody" in raw:
            request_body, at = self.resolve(raw["requestBody"], f"{pointer}/requestBody")
            content = (request_body or {}).get("content") or {}
            media = _json_media(content)
            body_required = bool((request_body or {}).get("required"))
            if media is not None:
                body = f"{at}/content/{_escape(media)}/schema"
            elif content:
                other = next(iter(content))
        responses = {}
        for status, answer in (raw.get("responses") or {}).items():
            answer, at = self.resolve(answer, f"{pointer}/responses/{status}")
            media = _json_media((answer or {}).get("content") or {})
            responses[str(status) if str(status) == "default" else str(status).upper()] = f"{at}/content/{_escape(media)}/schema" if media is not None else None
        ordered = sorted(params.values(), key=lambda p: p.where != "path")
        names = _SEGMENT.findall(path)
        path_params = sorted((p for p in ordered if p.where == "path"),
                             key=lambda p: names.index("{" + p.name + "}") if "{" + p.name + "}" in names else 99)
        return Operation(method, path, raw.get("operationId"), str(raw.get("summary") or "").strip(),
                         tuple(path_params + [p for p in ordered if p.where != "path"]), body, body_required, other,
                         responses)

    def fields(self, pointer: str | None, prefix: str = "") -> list["Field"]:
        """Every field path a value of the schema at `pointer` may have (`a.b`, `list[].c`), depth-first.
        A field whose content is open (no `properties`, or `additionalProperties`) is `open`."""
        if pointer is None:
            return []
        out: list[Field] = []
        self._walk(self._at(pointer), pointer, prefix, True, out, depth=0)
        return out

    def _walk(self, node, pointer, path, required, out, depth):
        node, pointer = self.resolve(node, pointer)
        if not isinstance(node, dict) or depth > 8:
            return
        for i, part in enumerate(node.get("allOf") or []):  # merged: their properties are this object's
            self._walk(part, f"{pointer}/allOf/{i}", path, required, out, depth + 1)
        kind = node.get("type") or ("object" if "properties" in node else "array" if "items" in node else "any")
        kind = kind if isinstance(kind, str) else "/".join(k for k in kind if k != "null")
        if kind == "array":
            if path:
                out.append(Field(path, "array", required, False))
            self._walk(node.get("items") or {}, f"{pointer}/items", f"{path}[]", required, out, depth + 1)
            return
        properties = node.get("properties") or {}
        if path and not any(f.path == path for f in out):
            open_ = kind in ("object", "any") and (not properties or node.get("additionalProperties") not in (None, False))
            out.append(Field(path, kind, required, open_))
        needed = set(node.get("required") or [])
        for name, child in properties.items():
            self._walk(child, f"{pointer}/properties/{_escape(name)}", f"{path}.{name}" if path else name,
                       name in needed, out, depth + 1)

    # ------------------------------------------------------------- validation
    def errors(self, pointer: str, instance: Any, mode: str) -> list[tuple[str, str]]:
        """(field path, what is wrong) for `instance` against the schema at `pointer`, sorted; [] when it fits."""
        key = (pointer, mode)
        if key not in self._validators:
            cls = Draft202012Validator if self.v31 else _oas30_validator(mode)
            self._validators[key] = cls({"$ref": f"{BASE}#{pointer}"}, registry=self._registry, format_checker=FORMATS)
        try:
            found = {(_path(e.absolute_path, e), _reason(e)) for e in self._validators[key].iter_errors(instance)}
        except Unresolvable as exc:
            raise OpenApiProblem(f"openapi {self.url}: #{pointer}: a $ref cannot be resolved ({exc})") from None
        return sorted(found)


@dataclass(frozen=True)
class Field:
    path: str
    type: str
    required: bool
    open: bool  # its content is not described: any sub-path may be mapped


def check_paths(paths: Iterable[str], fields: list[Field], what: str) -> list[str]:
    """A message for every mapped field path that the document does not describe."""
    known = {f.path for f in fields}
    open_ = [f.path for f in fields if f.open]
    problems = []
    for path in paths:
        if path in known or any(not o or path.startswith(o + ".") or path.startswith(o + "[]") for o in open_):
            continue
        choices = ", ".join(sorted(known)) or "no fields"
        problems.append(f"{what} field {path!r} is not in the OpenAPI document; it has: {choices}")
    return problems


def _json_media(content: dict) -> str | None:
    for media in content:
        if media.split(";")[0].strip().lower() in ("application/json", "*/*") or media.endswith("+json"):
            return media
    return None


def _path(parts: Iterable, error) -> str:
    text = ""
    for part in parts:
        text += "[]" if isinstance(part, int) else (f".{part}" if text else str(part))
    if error.validator == "required":
        name = re.match(r"'(.*)' is a required property", error.message)
        if name:
            text = f"{text}.{name.group(1)}" if text else name.group(1)
    return text or "(the whole value)"


def _reason(error) -> str:
    kind, value = error.validator, error.validator_value
    if kind == "required":
        return "is required"
    if kind == "type":
        return "must be " + " or ".join([value] if isinstance(value, str) else value)
    if kind == "enum":
        return "must be one of: " + ", ".join(str(v) for v in value)
    if kind == "format":
        return f"must be a valid {value}"
    if kind == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(set(error.instance) - set(error.schema.get("properties") or {}))
        return "has unexpected field(s) " + ", ".join(extra)
    words = {"minLength": "must be at least {} characters long", "maxLength": "must be at most {} characters long",
             "minimum": "must be at least {}", "maximum": "must be at most {}", "pattern": "must match {}",
             "minItems": "must have at least {} items", "maxItems": "must have at most {} items",
             "exclusiveMinimum": "must be more than {}", "exclusiveMaximum": "must be less than {}",
             "multipleOf": "must be a multiple of {}", "const": "must be {}"}
    if kind in words and not isinstance(value, bool):
        return words[kind].format(value)
    if kind in ("exclusiveMinimum", "exclusiveMaximum") and error.schema.get(kind.replace("exclusiveM", "m")) is not None:
        limit = error.schema[kind.replace("exclusiveM", "m")]
        return f"must be {'more' if kind == 'exclusiveMinimum' else 'less'} than {limit}"
    return f"does not fit the document's schema ({kind})"
