"""Shared pieces of the SOAP simulators: the spyne application, faults and the UsernameToken check."""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from types import SimpleNamespace
from xml.sax.saxutils import escape

from lxml import etree
from spyne import Application
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from simulators.control import ControlState, Misbehaviour, Response

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_DIGEST = "#PasswordDigest"

# Client faults (not found, bad input) are expected answers of a simulator, not errors to trace;
# several apps with one name are normal when tests start several servers.
logging.getLogger("spyne.application.client").setLevel(logging.CRITICAL)
logging.getLogger("spyne.util.appreg").setLevel(logging.ERROR)

_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def soap_wsgi_app(services: list, *, tns: str, name: str, context: object) -> WsgiApplication:
    """A spyne SOAP 1.1 WSGI app; `context` is reachable from service methods as `ctx.app.simulator`."""
    application = Application(services, tns=tns, name=name, in_protocol=Soap11(validator="lxml"), out_protocol=Soap11())
    application.simulator = context
    return WsgiApplication(application)


def fault_response(code: str, text: str, *, code_ns: tuple[str, str] | None = None) -> Response:
    """A SOAP 1.1 fault answer (HTTP 500); `code_ns` = (prefix, namespace) for a qualified code."""
    prefix, namespace = code_ns or ("soap11env", SOAP_ENV)
    extra = f' xmlns:{prefix}="{namespace}"' if prefix != "soap11env" else ""
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f'<soap11env:Envelope xmlns:soap11env="{SOAP_ENV}"{extra}><soap11env:Body><soap11env:Fault>'
        f"<faultcode>{prefix}:{escape(code)}</faultcode><faultstring>{escape(text)}</faultstring>"
        "</soap11env:Fault></soap11env:Body></soap11env:Envelope>"
    ).encode("utf-8")
    return "500 INTERNAL SERVER ERROR", [("Content-Type", "text/xml; charset=utf-8")], body


def wsse_fault(problem: str) -> Response:
    """The WS-Security fault for a missing or wrong UsernameToken (OASIS WSS 1.1 section 12)."""
    return fault_response("FailedAuthentication", f"The security token could not be authenticated: {problem}",
                          code_ns=("wsse", WSSE))


def check_username_token(envelope: bytes, username: str, password: str) -> str | None:
    """None if the envelope carries a valid UsernameToken for the credentials, else the problem.

    Accepts PasswordText and PasswordDigest (Base64(SHA-1(nonce + created + password))).
    """
    try:
        root = etree.fromstring(envelope, _SAFE_PARSER)
    except etree.XMLSyntaxError:
        return "the request is not XML"
    token = root.find(f"{{{SOAP_ENV}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is None:
        return "no UsernameToken"
    given_user = token.findtext(f"{{{WSSE}}}Username") or ""
    password_el = token.find(f"{{{WSSE}}}Password")
    if password_el is None or not _same(given_user, username):
        return "wrong username or password"
    given = (password_el.text or "").strip()
    if password_el.get("Type", "").endswith(_DIGEST):
        nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "")
        created = token.findtext(f"{{{WSU}}}Created") or ""
        expected = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    else:
        expected = password
    return None if _same(given, expected) else "wrong username or password"


def _same(a: str, b: str) -> bool:
    """Constant-time comparison (hmac.compare_digest refuses non-ASCII str, so compare bytes)."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def misbehaving_soap(app, state: ControlState) -> Misbehaviour:
    """Wrap a SOAP system's WSGI app with the shared misbehaviour and UsernameToken check."""
    return Misbehaviour(app, state, fault=fault_response, wsse_check=check_username_token, wsse_fault=wsse_fault)


def soap_system(admin, services: list, *, tns: str, name: str, state: ControlState, data) -> Misbehaviour:
    """A SOAP system as one WSGI app: `admin` (its `/_admin` and `/_control`) with the spyne `services` at
    `/soap`, behind the shared misbehaviour. Service methods reach `state` and `data` as
    `ctx.app.simulator.control` and `.data`; the returned app's `.data` is `data` too."""
    soap = soap_wsgi_app(services, tns=tns, name=name, context=SimpleNamespace(control=state, data=data))
    app = misbehaving_soap(DispatcherMiddleware(admin.wsgi_app, {"/soap": soap}), state)
    app.data = data
    return app
