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

import requests
import zeep
import zeep.exceptions
import zeep.helpers
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from connectors.base import Connector
from connectors.charset import charset_of, xml_as_utf8
from connectors.declaration import OperationDeclaration, ServiceDeclaration
from connectors.errors import ConnectorError
from connectors.http import http_session

# The timeout of the call running in this thread: one transport serves many threads, each with
# its own deadline, so the timeout cannot live on the transport itself.
_call_timeout: contextvars.ContextVar[float | None] = contextvars.ContextVar("soap_call_timeout", default=None)

# WS-Security fault codes (OASIS WSS 1.1, section 12): the department refused our credentials.
_WSS_FAULTS = {code: "rejected" for code in ("FailedAuthentication", "InvalidSecurityToken", "InvalidSecurity", "FailedCheck")}

_documents: dict[tuple[str, bool], Document] = {}
_documents_lock = threading.Lock()


def zeep_settings(strict: bool = True) -> zeep.Settings:
    """zeep settings with the XML attack surface closed (DTDs, entities, external fetches, huge trees)."""
    return zeep.Settings(strict=strict, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True, forbid_external=True)


def shared_document(wsdl: str, transport: zeep.Transport, strict: bool = True) -> Document:
    """The parsed WSDL for `wsdl`, fetched and parsed at most once per process."""
    key = (wsdl, strict)
    with _documents_lock:
        document = _documents.get(key)
        if document is None:
            document = _documents[key] = Document(wsdl, transport, settings=zeep_settings(strict))
        return document


def forget_documents() -> None:
    """Drop every cached WSDL (a department published a new one; also for tests)."""
    with _documents_lock:
        _documents.clear()


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

    def _service_proxy(self):
        """The zeep service proxy, built on first use so a worker starts while a department is down."""
        with self._proxy_lock:
            if self._proxy is None:
                decl = self.declaration
                try:
                    document = shared_document(decl.wsdl, self._transport, decl.strict)
                except requests.RequestException as exc:
                    raise self._network_error(exc, "its WSDL") from None
                except zeep.exceptions.Error as exc:
                    raise ConnectorError("misconfigured", f"The WSDL of {decl.service} cannot be used: {exc}") from None
                client = zeep.Client(document, transport=self._transport, wsse=self._wsse, settings=zeep_settings(decl.strict))
                if decl.endpoint:
                    service = next(iter(document.services.values()))
                    binding = next(iter(service.ports.values())).binding.name
                    self._proxy = client.create_service(binding, decl.endpoint)
                else:
                    self._proxy = client.service
            return self._proxy

    def _invoke(self, op: OperationDeclaration, request: dict, timeout: float):
        proxy = self._service_proxy()
        try:
            method = proxy[op.operation]
        except AttributeError:
            raise ConnectorError(
                "misconfigured", f"{self.service}: operation {op.operation} (for {op.name}) is not in the WSDL."
            ) from None
        token = _call_timeout.set(timeout)
        try:
            result = method(**request)
        except zeep.exceptions.Fault as fault:
            raise self._fault_error(op, fault) from None
        except requests.RequestException as exc:
            raise self._network_error(exc, op.operation, timeout) from None
        except zeep.exceptions.TransportError as exc:
            raise self._status_error(op, exc.status_code) from None
        except zeep.exceptions.ValidationError as exc:
            raise ConnectorError("invalid_request", f"{self.service}/{op.name}: {exc}") from None
        except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError) as exc:
            raise ConnectorError(
                "bad_response", f"{self.service} answered {op.operation} with XML that cannot be parsed.",
                details={"reason": type(exc).__name__},
            ) from None
        except TypeError as exc:
            if "unexpected keyword argument" not in str(exc):
                raise
            raise ConnectorError(
                "invalid_request", f"{self.service}/{op.name}: a field does not exist in the WSDL ({str(exc).split('.')[0]})."
            ) from None
        finally:
            _call_timeout.reset(token)
        plain = zeep.helpers.serialize_object(result, dict)
        return {} if plain is None else plain

    def _fault_error(self, op: OperationDeclaration, fault: zeep.exceptions.Fault) -> ConnectorError:
        code = (fault.code or "").rpartition(":")[2]  # `soap11env:Client.NotFound` -> `Client.NotFound`
        text = (fault.message or "").strip()
        ours = self.declaration.faults.get(code) or _WSS_FAULTS.get(code, "fault")
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
