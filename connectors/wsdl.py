"""What a department's WSDL says, for declarations: ports, operations, fields and their XML Schema rules.

- `fetch_document` loads a WSDL and turns every way it can be wrong (an HTML help page, no service,
  a parse failure, an HTTP error) into `WsdlProblem`, whose message names the URL and the fix.
- `list_ports` / `choose_port`: the port a declaration uses. Default: the first SOAP 1.1 port, then
  the first SOAP 1.2 port; an HTTP GET/POST port only when the declaration names it.
- `input_fields` / `output_fields`: the field paths of an operation (`getXResult.string[]`) with
  their types; `check_operation` compares a declaration's mappings with them.
- `validate_request` checks a request against the schema (types, required elements, enumerations,
  lengths, patterns, ranges, dates) before anything is sent, and converts values for zeep.

The answer shape (`answer_shape`) is the SOAP body element's children by name: for document/literal
wrapped operations the response wrapper's children (`getAreaStringResult`), for rpc/literal the
message parts (`out`). It does not depend on how many children there are.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Mapping

import requests
import zeep.exceptions
from lxml import etree
from zeep.wsdl import Document
from zeep.wsdl.bindings import HttpGetBinding, HttpPostBinding, Soap11Binding, Soap12Binding
from zeep.xsd.types.complex import ComplexType
from zeep.xsd.elements.any import Any as XsdAny
from zeep.xsd.elements.indicators import Choice

XSD = "http://www.w3.org/2001/XMLSchema"
PROTOCOLS = {Soap11Binding: "soap11", Soap12Binding: "soap12", HttpGetBinding: "http-get", HttpPostBinding: "http-post"}
_MAX_DEPTH = 8  # recursive schema types are described this deep


class WsdlProblem(ValueError):
    """The WSDL cannot be used as declared; the message names the URL or file and says what to change."""


# --------------------------------------------------------------------------- loading
def fetch_document(url: str, transport, settings) -> tuple[Document, bytes]:
    """The parsed WSDL at `url` and its bytes; WsdlProblem for anything that is not a usable WSDL.

    `requests` exceptions other than an HTTP error status (connection refused, timeout) are left to
    the caller: the department may only be down, which is not a configuration mistake.
    """
    try:
        content = transport.load(url)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        raise WsdlProblem(f"wsdl {url} answered HTTP {status}: check the `wsdl:` URL (an ASMX service's WSDL is "
                          f"`<service>.asmx?WSDL`, a CXF one `<address>?wsdl`)") from None
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise WsdlProblem(f"wsdl {url} cannot be read ({exc.strerror}): check the `wsdl:` path") from None
    if not content or not content.strip():
        raise WsdlProblem(f"wsdl {url} is empty: check the `wsdl:` URL")
    head = content.lstrip()[:512].lower()
    if head.startswith(b"<!doctype html") or head.startswith(b"<html") or b"<html" in head:
        raise WsdlProblem(f"wsdl {url} is an HTML page (a service help page?), not a WSDL: point `wsdl:` at the "
                          f"description itself, e.g. append `?WSDL` to an .asmx URL")
    try:
        document = Document(io.BytesIO(content), transport, base=url, settings=settings)
    except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden):
        raise WsdlProblem(f"wsdl {url} carries a DTD or entities, which govlink refuses: ask the department for a "
                          f"plain WSDL or keep a cleaned copy and point `wsdl:` at it (file://...)") from None
    except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError, etree.XMLSyntaxError) as exc:
        raise WsdlProblem(f"wsdl {url} is not well-formed XML ({_first_line(exc)}): check the `wsdl:` URL") from None
    except (zeep.exceptions.Error, KeyError, ValueError, AttributeError, StopIteration) as exc:
        raise WsdlProblem(f"wsdl {url} cannot be parsed as a WSDL ({type(exc).__name__}: {_first_line(exc)})") from None
    if not any(service.ports for service in document.services.values()):
        raise WsdlProblem(f"wsdl {url} declares no service with a port (an abstract WSDL?): use the department's "
                          f"concrete WSDL, the one with <wsdl:service>")
    return document, content


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


# --------------------------------------------------------------------------- ports
@dataclass(frozen=True)
class PortInfo:
    service: str
    port: str
    binding: str  # local name
    protocol: str  # soap11 | soap12 | http-get | http-post | other
    address: str | None


def list_ports(document: Document) -> list[PortInfo]:
    """Every port of every service, in document order."""
    out = []
    for service_name, service in document.services.items():
        for port_name, port in service.ports.items():
            binding = port.binding
            protocol = next((p for cls, p in PROTOCOLS.items() if isinstance(binding, cls)), "other")
            out.append(PortInfo(service_name, port_name, etree.QName(binding.name).localname, protocol,
                                (port.binding_options or {}).get("address")))
    return out


def choose_port(ports: list[PortInfo], *, service: str | None = None, port: str | None = None,
                binding: str | None = None) -> PortInfo:
    """The port a declaration uses (pure). WsdlProblem lists the choices when none fits."""
    def names(items):
        return ", ".join(f"{p.service}/{p.port} ({p.protocol}, binding {p.binding})" for p in items) or "none"

    candidates = ports
    if service is not None:
        candidates = [p for p in candidates if p.service == service]
        if not candidates:
            raise WsdlProblem(f"service {service!r} is not in the WSDL; it has: "
                              f"{', '.join(sorted({p.service for p in ports}))}")
    if port is not None:
        candidates = [p for p in candidates if p.port == port]
        if not candidates:
            raise WsdlProblem(f"port {port!r} is not in the WSDL; ports: {names(ports)}")
    if binding is not None:
        candidates = [p for p in candidates if p.binding == binding]
        if not candidates:
            raise WsdlProblem(f"binding {binding!r} is used by no port; ports: {names(ports)}")
    if port is not None or binding is not None:
        return candidates[0]  # asked for by name: any protocol, HTTP GET/POST included
    for protocol in ("soap11", "soap12"):
        found = [p for p in candidates if p.protocol == protocol]
        if found:
            return found[0]
    raise WsdlProblem(f"no SOAP 1.1 or 1.2 port to use; name one with `port:` (ports: {names(candidates)})")


# --------------------------------------------------------------------------- facets
def schema_facets(content: bytes) -> dict[str, dict[str, Any]]:
    """`{namespace}name` of each named simple type -> its restriction facets, read from the WSDL's schemas."""
    try:
        root = etree.fromstring(content, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError:
        return {}
    facets: dict[str, dict[str, Any]] = {}
    for schema in root.iter(f"{{{XSD}}}schema"):
        tns = schema.get("targetNamespace", "")
        for simple in schema.iter(f"{{{XSD}}}simpleType"):
            name = simple.get("name")
            restriction = simple.find(f"{{{XSD}}}restriction")
            if not name or restriction is None:
                continue
            found: dict[str, Any] = {}
            for facet in restriction:
                if not isinstance(facet.tag, str):
                    continue
                kind, value = etree.QName(facet).localname, facet.get("value")
                if kind == "enumeration":
                    found.setdefault("enumeration", []).append(value)
                elif kind == "pattern":
                    found.setdefault("pattern", []).append(value)
                elif kind in ("length", "minLength", "maxLength", "totalDigits", "fractionDigits"):
                    found[kind] = int(value)
                elif kind in ("minInclusive", "maxInclusive", "minExclusive", "maxExclusive"):
                    found[kind] = Decimal(value)
            facets[f"{{{tns}}}{name}"] = found
    return facets


# --------------------------------------------------------------------------- fields
@dataclass(frozen=True)
class FieldInfo:
    path: str  # `customer.address[]`: `[]` after a repeated element
    type: str  # `int`, `string`, `date`, `customerType (PRIVATE|BUSINESS)`, `object`
    required: bool
    repeated: bool
    nillable: bool


def _elements(message) -> list[tuple[str, Any]]:
    if message is None or getattr(message, "body", None) is None:
        return []
    body_type = getattr(message.body, "type", None)
    return list(getattr(body_type, "elements", []) or [])


def input_elements(operation) -> list[tuple[str, Any]]:
    """(name, zeep Element) of what the caller passes: the wrapper's children, or the rpc parts."""
    return _elements(operation.input)


def output_elements(operation) -> list[tuple[str, Any]]:
    """(name, zeep Element) of the answer shape: the response wrapper's children, or the rpc parts."""
    return _elements(operation.output)


def _is_repeated(element) -> bool:
    return element.max_occurs == "unbounded" or (isinstance(element.max_occurs, int) and element.max_occurs > 1)


def _type_name(xsd_type, facets: Mapping[str, dict]) -> str:
    if isinstance(xsd_type, ComplexType):
        return "object"
    qname = getattr(xsd_type, "qname", None)
    name = etree.QName(qname).localname if qname is not None else type(xsd_type).__name__.lower()
    rules = facets.get(str(qname), {}) if qname is not None else {}
    if rules.get("enumeration"):
        return f"{name} ({'|'.join(rules['enumeration'])})"
    return name


def _required(parent_type, element) -> bool:
    in_choice = isinstance(getattr(parent_type, "_element", None), Choice)
    return element.min_occurs >= 1 and not in_choice


def describe_fields(elements: Iterable[tuple[str, Any]], facets: Mapping[str, dict], parent_type=None,
                    prefix: str = "", depth: int = 0) -> list[FieldInfo]:
    """Every field path under `elements`, depth first (objects before their children)."""
    out: list[FieldInfo] = []
    for name, element in elements:
        if name is None or isinstance(element, XsdAny) or not hasattr(element, "type"):  # xsd:any
            continue
        repeated = _is_repeated(element)
        path = f"{prefix}{name}{'[]' if repeated else ''}"
        out.append(FieldInfo(path, _type_name(element.type, facets), _required(parent_type, element), repeated,
                             bool(element.nillable)))
        if isinstance(element.type, ComplexType) and depth < _MAX_DEPTH:
            out.extend(describe_fields(element.type.elements, facets, element.type, f"{path}.", depth + 1))
    return out


def check_paths(paths: Iterable[str], fields: list[FieldInfo], what: str) -> list[str]:
    """Problems for each mapping path that names no field (`[]` must match the repeated elements)."""
    known = {f.path for f in fields}
    loose = {f.path.replace("[]", ""): f.path for f in fields}
    problems = []
    for path in paths:
        if path in known:
            continue
        hint = loose.get(path.replace("[]", ""))
        if hint:
            problems.append(f"{what} field {path!r} should be written {hint!r} (`[]` marks a repeated element)")
            continue
        near = sorted(p for p in known if p.count(".") == path.count(".")) or sorted(known)
        near = near[:12]
        problems.append(f"{what} field {path!r} is not in the WSDL; it has: {', '.join(near) or 'no fields'}")
    return problems


def resolve_response_path(path: str, top: list[tuple[str, Any]]) -> str:
    """`match` -> `VerifyIdentityResult.match` when the answer has exactly one element and it holds `match`.

    Lets declarations leave out the one `...Result` element that .NET and spyne services wrap
    every answer in; any path that starts with a top-level name is kept as it is.
    """
    head = path.split(".")[0].removesuffix("[]")
    names = [name for name, _ in top]
    if head in names or len(top) != 1:
        return path
    only_name, only = top[0]
    if isinstance(getattr(only, "type", None), ComplexType) and not _is_repeated(only):
        children = {name for name, _ in only.type.elements}
        if head in children:
            return f"{only_name}.{path}"
    return path


# --------------------------------------------------------------------------- request validation
