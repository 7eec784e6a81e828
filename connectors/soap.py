"""SOAP connector through zeep, driven by a declaration (`kind: soap`).

- Each WSDL is fetched and parsed once per process (`shared_document`); every connector builds a
  light zeep Client around the shared parse, with its own transport and WS-Security.
- Every HTTP request carries a timeout: the call's, or the declaration's `timeout_seconds`.
- XML hardening is always on: no DTDs, no entities, no external fetches, no huge trees.
- A reply whose charset is only in the HTTP header (GBK/GB18030) is re-encoded before parsing.
"""
from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field
from typing import Any

import requests
import zeep
import zeep.exceptions
import zeep.helpers
from lxml import etree
from zeep.loader import parse_xml
from zeep.wsdl import Document
from zeep.wsdl.bindings.soap import SoapBinding
from zeep.wsse.username import UsernameToken

from connectors.base import Connector
from connectors.charset import charset_of, xml_as_utf8
from connectors.declaration import OperationDeclaration, ServiceDeclaration
from connectors.errors import ConnectorError
from kernel.http import http_session
from connectors.wsdl import (PortInfo, WsdlProblem, check_paths, choose_port, describe_fields, fetch_document,
                             input_elements, list_ports, output_elements, resolve_response_path, schema_facets)
from connectors.wsdl_validation import validate_request

# The timeout of the call running in this thread: one transport serves many threads, each with
# its own deadline, so the timeout cannot live on the transport itself.
_call_timeout: contextvars.ContextVar[float | None] = contextvars.ContextVar("soap_call_timeout", default=None)

# WS-Security fault codes (OASIS WSS 1.1, section 12): the department refused our credentials.
_WSS_FAULTS = {code: "rejected" for code in ("FailedAuthentication", "InvalidSecurityToken", "InvalidSecurity", "FailedCheck")}

_documents: dict[tuple[str, bool], tuple[Document, dict]] = {}
_documents_lock = threading.Lock()
# SOAP 1.2 names the two fault classes differently; declarations use either name.
_SOAP12_CODES = {"Sender": "Client", "Receiver": "Server"}


def zeep_settings(strict: bool = True, raw_response: bool = False) -> zeep.Settings:
    """zeep settings with the XML attack surface closed (DTDs, entities, external fetches, huge trees)."""
    return zeep.Settings(strict=strict, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                         raw_response=raw_response)


def shared_document(wsdl: str, transport: zeep.Transport, strict: bool = True) -> tuple[Document, dict]:
    """The parsed WSDL for `wsdl` and its simple-type facets, fetched and parsed at most once per process.

    Raises WsdlProblem (unusable WSDL) or a `requests` exception (department unreachable).
    """
    key = (wsdl, strict)
    with _documents_lock:
        cached = _documents.get(key)
        if cached is None:
            document, content = fetch_document(wsdl, transport, zeep_settings(strict))
            cached = _documents[key] = (document, schema_facets(content))
        return cached


def forget_documents() -> None:
    """Drop every cached WSDL (a department published a new one; also for tests)."""
    with _documents_lock:
        _documents.clear()


def fault_key(code: str | None, subcodes: list | None = None) -> str:
    """A SOAP fault code as declarations name it: `Client.NotFound`; SOAP 1.2 Sender/Receiver become Client/Server."""
    head = (code or "").rpartition(":")[2]
    head = _SOAP12_CODES.get(head.split(".")[0], head.split(".")[0]) + head[len(head.split(".")[0]):]
    subs = [etree.QName(s).localname if not isinstance(s, str) else s.rpartition(":")[2] for s in (subcodes or [])]
    return ".".join([head, *subs]) if head else ".".join(subs)


def _our_name(path: str, request_mapping) -> str:
    """A department field path (`in.elem3`) in the caller's names (`data.elem3`), through the request mapping."""
    best = ""
    for mine, theirs in (request_mapping or {}).items():
        plain = theirs.replace("[]", "")
        if (path == plain or path.startswith(plain + ".") or path.startswith(plain + "[")) and len(plain) > len(best):
            best, ours = plain, mine.replace("[]", "")
    return ours + path[len(best):] if best else path


@dataclass
class _Bound:
    """A connector's view of its WSDL: the chosen port, a zeep service proxy on it and per-operation checks."""

    port: PortInfo
    binding: Any
    proxy: Any
    facets: dict
    checked: dict = field(default_factory=dict)  # our operation name -> (zeep operation, response mapping)


class _Transport(zeep.Transport):
    """zeep transport on govlink's HTTP session: per-call timeouts and header-only charsets."""

    def __init__(self, session: requests.Session, timeout: float):
        user_agent = session.headers.get("User-Agent")
        super().__init__(session=session, timeout=timeout, operation_timeout=timeout)
        session.headers["User-Agent"] = user_agent  # zeep overwrites it with its own

    def post(self, address, message, headers):
        timeout = _call_timeout.get() or self.operation_timeout
        response = self.session.post(address, data=message, headers=headers, timeout=timeout)
        content_type = response.headers.get("Content-Type", "")
        charset = charset_of(content_type)
        if charset and "multipart/" not in content_type.lower():
            response._content = xml_as_utf8(response.content, charset)
        return response

    def get(self, address, params, headers):  # an HTTP GET port, when a declaration chooses one
        timeout = _call_timeout.get() or self.operation_timeout
        return self.session.get(address, params=params, headers=headers, timeout=timeout)


class SoapConnector(Connector):
    """A department service reached by SOAP 1.1/1.2 as its WSDL describes."""

    def __init__(self, declaration: ServiceDeclaration, *, secret: str | None = None, **kwargs):
        super().__init__(declaration, **kwargs)
        self._session = http_session(timeout=declaration.timeout_seconds)
        auth = declaration.auth
        if auth.type == "basic":
            self._session.auth = (auth.username, secret)
        self._wsse = UsernameToken(auth.username, secret) if auth.type == "wsse_username_token" else None
        self._transport = _Transport(self._session, declaration.timeout_seconds)
        self._proxy = None
        self._proxy_lock = threading.Lock()

    def close(self) -> None:
        self._session.close()

    def _bound(self) -> _Bound:
        """The WSDL and the chosen port, loaded on first use so a worker starts while a department is down."""
        with self._proxy_lock:
            if self._proxy is None:
                decl = self.declaration
                try:
                    document, facets = shared_document(decl.wsdl, self._transport, decl.strict)
                    port = choose_port(list_ports(document), service=decl.wsdl_service, port=decl.port,
                                       binding=decl.binding)
                except requests.RequestException as exc:
                    raise self._network_error(exc, "its WSDL") from None
                except WsdlProblem as exc:
                    raise ConnectorError("misconfigured", f"{decl.source}: {exc}.", details={"file": decl.source}) from None
                binding = document.services[port.service].ports[port.port].binding
                client = zeep.Client(document, transport=self._transport, wsse=self._wsse,
                                     settings=zeep_settings(decl.strict, raw_response=True))
                address = decl.endpoint or port.address
                if not address:
                    raise ConnectorError("misconfigured", f"{decl.source}: port {port.port} of the WSDL has no address; "
                                                          f"set `endpoint:`.", details={"file": decl.source})
                self._proxy = _Bound(port, binding, client.create_service(binding.name, address), facets)
            return self._proxy

    def check(self) -> list[str]:
        """Every problem of this declaration against its WSDL (loads the WSDL now); [] when it fits."""
        try:
            bound = self._bound()
        except ConnectorError as exc:
            source = self.declaration.source
            return [exc.message if exc.message.startswith(source) else f"{source}: {exc.message}"]
        problems = []
        for op in self.declaration.operations.values():
            try:
                self._checked(bound, op)
            except ConnectorError as exc:
                problems.append(exc.message)
        return problems

    def _checked(self, bound: _Bound, op: OperationDeclaration):
        """(zeep operation, resolved response mapping) for `op`; `misconfigured` naming the file and field."""
        found = bound.checked.get(op.name)
        if found is not None:
            return found
        source, where = self.declaration.source, f"operations.{op.name}"
        operation = bound.binding._operations.get(op.operation)
        if operation is None:
            raise ConnectorError(
                "misconfigured",
                f"{source}: {where}.operation: {self.service}: operation {op.operation} (for {op.name}) is not in "
                f"port {bound.port.port} of the WSDL; it has {', '.join(sorted(bound.binding._operations))}.",
                details={"file": source})
        problems = []
        if op.request:
            fields = describe_fields(input_elements(operation), bound.facets)
            problems += [f"{where}.request: {p}" for p in check_paths(op.request.values(), fields, "request")]
        response = op.response
        if response:
            top = output_elements(operation)
            response = {resolve_response_path(path, top): target for path, target in response.items()}
            fields = describe_fields(top, bound.facets)
            problems += [f"{where}.response: {p}" for p in check_paths(response, fields, "response")]
        if problems:
            raise ConnectorError("misconfigured", f"{source}: " + "; ".join(problems), details={"file": source})
        bound.checked[op.name] = (operation, response)
        return operation, response

    def _response_mapping(self, op: OperationDeclaration):
        bound = self._proxy
        checked = bound.checked.get(op.name) if bound is not None else None
        return checked[1] if checked else op.response

    def _invoke(self, op: OperationDeclaration, request: dict, timeout: float):
        bound = self._bound()
        operation, _ = self._checked(bound, op)
        converted, problems = validate_request(input_elements(operation), request, bound.facets)
        if problems:
            names = [_our_name(path, op.request) for path, _ in problems]
            said = "; ".join(f"{name}: {problem}" for name, (_, problem) in zip(names, problems))
            raise ConnectorError("invalid_request", f"{self.service}/{op.name}: {said}.", details={"fields": names})
        token = _call_timeout.set(timeout)
        try:
            response = bound.proxy[op.operation](**converted)
        except zeep.exceptions.Fault as fault:  # HTTP GET/POST bindings answer non-200 this way
            raise self._fault_error(op, fault) from None
        except requests.RequestException as exc:
            raise self._network_error(exc, op.operation, timeout) from None
        except zeep.exceptions.TransportError as exc:
            raise self._status_error(op, exc.status_code) from None
        except zeep.exceptions.ValidationError as exc:
            raise ConnectorError("invalid_request", f"{self.service}/{op.name}: {exc}") from None
        except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError, zeep.exceptions.DTDForbidden,
                zeep.exceptions.EntitiesForbidden) as exc:
            raise ConnectorError("bad_response", f"{self.service} answered {op.operation} with XML that cannot be parsed.",
                                 details={"reason": type(exc).__name__}) from None
        finally:
            _call_timeout.reset(token)
        if not isinstance(bound.binding, SoapBinding):  # HTTP GET/POST: zeep already read the answer
            plain = zeep.helpers.serialize_object(response, dict)
            return plain if isinstance(plain, dict) else {"result": plain}
        return self._read_reply(bound, operation, op, response)

    def _read_reply(self, bound: _Bound, operation, op: OperationDeclaration, response) -> dict:
        """A raw HTTP answer -> the answer shape (the SOAP body's children by name), or a ConnectorError."""
        status = response.status_code
        content_type = response.headers.get("Content-Type", "")
        media = content_type.split(";")[0].strip().lower()
        body = response.content or b""
        details = {"status": status, "content_type": media or None}
        failing = status >= 500 or status == 429
        one_way = operation.output is None or getattr(operation.output, "body", None) is None
        if not body.strip():
            if one_way and status < 300:
                return {}
            if failing or status in (401, 403):
                raise self._status_error(op, status)
            raise ConnectorError("bad_response", f"{self.service} answered {op.operation} with an empty body (HTTP {status}).",
                                 details=details)
        if media and "xml" not in media and not media.startswith("multipart/"):
            if failing and media == "text/plain":
                raise self._status_error(op, status)
            if status in (401, 403):
                raise self._status_error(op, status)
            raise ConnectorError("bad_response", f"{self.service} answered {op.operation} with {media}, not SOAP XML "
                                                 f"(HTTP {status}).", transient=failing, details=details)
        try:
            doc = parse_xml(body, self._transport, settings=zeep_settings(self.declaration.strict))
        except (zeep.exceptions.DTDForbidden, zeep.exceptions.EntitiesForbidden):
            raise ConnectorError("bad_response", f"{self.service} answered {op.operation} with a document carrying a DTD "
                                                 f"(an HTML error page?), not SOAP (HTTP {status}).",
                                 transient=failing, details=details) from None
        except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError, etree.XMLSyntaxError) as exc:
            raise ConnectorError("bad_response", f"{self.service} answered {op.operation} with XML that cannot be parsed "
                                                 f"(HTTP {status}).", transient=failing,
                                 details={**details, "reason": type(exc).__name__}) from None
        envelope_ns = bound.binding.nsmap["soap-env"]
        if doc.tag != f"{{{envelope_ns}}}Envelope":
            raise ConnectorError("bad_response", f"{self.service} answered {op.operation} with XML that is not a SOAP "
                                                 f"{'1.2' if 'w3.org' in envelope_ns else '1.1'} envelope (HTTP {status}).",
                                 transient=failing, details=details)
        if doc.find("soap-env:Body/soap-env:Fault", namespaces=bound.binding.nsmap) is not None:
            try:
                bound.binding.process_error(doc, operation)
            except zeep.exceptions.Fault as fault:
                raise self._fault_error(op, fault) from None
        if status not in (200, 202) or (status == 202 and not one_way):
            raise self._status_error(op, status)
        if one_way:
            return {}
        try:
            soap_body = doc.find("soap-env:Body", namespaces=bound.binding.nsmap)
            result = operation.output._deserialize_body(soap_body)["body"]
        except (zeep.exceptions.Error, IndexError, ValueError, TypeError) as exc:
            raise ConnectorError("bad_response", f"{self.service} answered {op.operation} in a shape its WSDL does not "
                                                 f"describe ({type(exc).__name__}).", details=details) from None
        plain = zeep.helpers.serialize_object(result, dict)
        if plain is None:
            return {}
        return plain if isinstance(plain, dict) else {"result": plain}

    def _fault_error(self, op: OperationDeclaration, fault: zeep.exceptions.Fault) -> ConnectorError:
        code = fault_key(fault.code, getattr(fault, "subcodes", None))  # `soap:Sender` + `d:NotFound` -> `Client.NotFound`
        text = (fault.message or "").strip()
        declared = {fault_key(key): ours for key, ours in self.declaration.faults.items()}
        ours = declared.get(code) or declared.get(code.split(".")[0]) or _WSS_FAULTS.get(code, "fault")
        return ConnectorError(
            ours, f"{self.service} refused {op.operation}: {text or 'no reason given'} (SOAP fault {code or 'without code'}).",
            details={"fault_code": code, "fault_string": text},
        )

    def _network_error(self, exc: requests.RequestException, what: str, timeout: float | None = None) -> ConnectorError:
        # ConnectTimeout is both a Timeout and a ConnectionError; either way the call may be retried.
        if isinstance(exc, requests.Timeout):
            limit = f" within {timeout:g} s" if timeout else ""
            return ConnectorError("timeout", f"{self.service} did not answer {what}{limit}.", details={"timeout_seconds": timeout})
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            status = exc.response.status_code
            if status < 500 and status != 429:
                return ConnectorError("misconfigured", f"{self.service} refused {what} with HTTP {status}.", details={"status": status})
            return ConnectorError("unavailable", f"{self.service} failed to serve {what} (HTTP {status}).", details={"status": status})
        return ConnectorError("unavailable", f"{self.service} could not be reached for {what} ({type(exc).__name__}).")

    def _status_error(self, op: OperationDeclaration, status: int) -> ConnectorError:
        if status >= 500 or status == 429:
            return ConnectorError("unavailable", f"{self.service} failed {op.operation} with HTTP {status}; try again later.",
                                  details={"status": status})
        if status in (401, 403):
            return ConnectorError("rejected", f"{self.service} refused govlink's credentials (HTTP {status}).",
                                  details={"status": status})
        return ConnectorError("bad_response", f"{self.service} answered {op.operation} with HTTP {status}.",
                              details={"status": status})
