"""Local responders for the real public WSDLs in `tests/fixtures/wsdl/`, answering in each stack's own shape.

One small WSGI app per department, in the style of `simulators/`: it serves its WSDL (addresses
pointed at itself), answers SOAP 1.1 (`text/xml`) and SOAP 1.2 (`application/soap+xml`) in the
envelope version it was called with, and misbehaves on demand:

- `tv`        .NET ASMX 中国电视节目预告 (`ChinaTVprogramWebService.asmx`): `ArrayOfString` answers,
              SOAP 1.1/1.2 and HttpGet/HttpPost, ASMX faults (`soap:Client`/`soap:Server`,
              `soap12:Sender`/`soap12:Receiver`), the ASMX help page at the URL without `?WSDL`.
- `customers` Java CXF `CustomerService` (document/literal, unqualified children, `NoSuchCustomer`
              fault with detail, one-way `updateCustomer` answered 202 with no body).
- `greeter`   Celtix/CXF rpc/literal `Greeter` with four services, one path per port.

`control(mode=...)`: `normal`, `slow` (`delay_seconds`), `fault` (`fault_code` like `Client.NotFound`
or `Server`, `fault_string`, `fault_version` 11/12 to answer in that SOAP version whatever was asked), `html` (an IIS error page with an XHTML DTD, `status` default 500),
`dtd` (the same page labelled `text/xml`), `empty` (`status` default 200, no body), `json` (200
`application/json`). `calls` counts served
operations per port path; `requests` keeps the last raw requests.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from lxml import etree
from werkzeug.wrappers import Request, Response

from simulators.channels.serving import serve_in_thread

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wsdl"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)

IIS_ERROR_PAGE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\r\n'
    '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>500 - Internal server error.</title></head>'
    '<body><div id="header"><h1>Server Error</h1></div><div id="content"><fieldset>'
    "<h2>500 - Internal server error.</h2><h3>There is a problem with the resource you are looking for, "
    "and it cannot be displayed.</h3></fieldset></div></body></html>")


class Handled(Exception):
    """A fault the department itself answers: (code, text, detail XML)."""

    def __init__(self, code: str, text: str, detail: str = ""):
        super().__init__(text)
        self.code, self.text, self.detail = code, text, detail


class Responder:
    """One department: its WSDL, its operations (`handlers`) and its misbehaviour switches."""

    def __init__(self, name: str, wsdl_file: str, paths: dict[str, str], handlers: dict[str, Callable],
                 *, help_page: bool = False, http_ops: Callable | None = None):
        self.name = name
        self.wsdl_text = (FIXTURES / wsdl_file).read_text(encoding="utf-8")
        self.paths = paths  # WSDL address in the file -> our path
        self.handlers = handlers
        self.help_page = help_page
        self.http_ops = http_ops  # ASMX HttpGet/HttpPost: (op, params) -> XML
        self.base_url = ""
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.mode, self.delay_seconds, self.status = "normal", 3.0, None
            self.fault_code, self.fault_string = "Server", "Server was unable to process request. (simulated)"
            self.fault_version = None  # 11 or 12: answer `fault` mode in that SOAP version, whatever was asked
            self.calls: Counter = Counter()
            self.requests: list[dict] = []

    def control(self, **changes) -> None:
        allowed = {"mode", "delay_seconds", "status", "fault_code", "fault_string", "fault_version"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown control field(s) {unknown}")
        if changes.get("mode", "normal") not in ("normal", "slow", "fault", "html", "dtd", "empty", "json"):
            raise ValueError("bad mode")
        with self._lock:
            for key, value in changes.items():
                setattr(self, key, value)

    def wsdl_url(self) -> str:
        first = next(iter(self.paths.values()))
        return f"{self.base_url}{first}?wsdl"

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ, start_response):
        request = Request(environ)
        response = self._answer(request)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        path = request.path
        ours = set(self.paths.values())
        if request.method == "GET" and path in ours:
            if "wsdl" in {k.lower() for k in request.args}:
                text = self.wsdl_text
                for original, mine in self.paths.items():
                    text = text.replace(f'location="{original}"', f'location="{self.base_url}{mine}"')
                return Response(text.encode("utf-8"), content_type="text/xml; charset=utf-8")
            if self.help_page:
                return Response(_help_page(self.name), content_type="text/html; charset=utf-8")
            return Response(b"", status=405)
        base, _, op = path.rpartition("/")
        if self.http_ops and base in ours and op:  # ASMX HttpGet / HttpPost
            params = dict(request.args) if request.method == "GET" else {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
            injected = self._misbehave(None)
            if injected is not None:
                return injected
            self._count(base, op, request)
            try:
                body = self.http_ops(op, params)
            except Handled as fault:
                return Response(fault.text.encode("utf-8"), status=500, content_type="text/plain; charset=utf-8")
            return Response(('<?xml version="1.0" encoding="utf-8"?>\r\n' + body).encode("utf-8"),
                            content_type="text/xml; charset=utf-8")
        if request.method != "POST" or path not in ours:
            return Response(b"Not Found", status=404, content_type="text/plain")
        version = 12 if request.mimetype == "application/soap+xml" else 11
        try:
            root = etree.fromstring(request.get_data(), _PARSER)
        except etree.XMLSyntaxError:
            return self._fault(version, "Client", "The request is not XML.")
        env = SOAP12 if version == 12 else SOAP11
        body = root.find(f"{{{env}}}Body")
        if body is None or len(body) == 0:
            return self._fault(version, "Client", f"Not a SOAP {'1.2' if version == 12 else '1.1'} envelope.")
        operation = etree.QName(body[0]).localname
        injected = self._misbehave(version)
        if injected is not None:
            return injected
        handler = self.handlers.get(operation)
        if handler is None:
            return self._fault(version, "Client", f"Server did not recognize the value of HTTP Header SOAPAction: {operation}.")
        self._count(path, operation, request)
        params = {etree.QName(child).localname: child for child in body[0] if isinstance(child.tag, str)}
        try:
            answer = handler(params, path)
        except Handled as fault:
            return self._fault(version, fault.code, fault.text, fault.detail)
        if answer is None:  # one-way
            return Response(b"", status=202)
        return self._envelope(version, answer)

    def _count(self, path: str, operation: str, request: Request) -> None:
        with self._lock:
            self.calls[f"{path}:{operation}"] += 1
            self.requests.append({"path": path, "operation": operation, "method": request.method,
                                  "content_type": request.content_type,
                                  "body": request.get_data(as_text=True)})

    def served(self, operation: str) -> int:
        return sum(n for key, n in self.calls.items() if key.endswith(f":{operation}"))

    def _misbehave(self, version: int | None) -> Response | None:
        mode = self.mode
        if mode == "slow":
            time.sleep(self.delay_seconds)
        elif mode == "fault":
            return self._fault(self.fault_version or version or 11, self.fault_code, self.fault_string)
        elif mode == "html":
            return Response(IIS_ERROR_PAGE.encode("utf-8"), status=self.status or 500, content_type="text/html")
        elif mode == "dtd":  # the same page labelled as XML, as some proxies do
            return Response(IIS_ERROR_PAGE.encode("utf-8"), status=self.status or 500, content_type="text/xml; charset=utf-8")
        elif mode == "empty":
            return Response(b"", status=self.status or 200, content_type="text/xml; charset=utf-8")
        elif mode == "json":
            return Response(b'{"error": "maintenance"}', status=self.status or 200, content_type="application/json")
        return None

    @staticmethod
    def _envelope(version: int, inner: str) -> Response:
        if version == 12:
            text = (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP12}" '
                    f'xmlns:xsi="{XSI}" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>{inner}</soap:Body></soap:Envelope>')
            return Response(text.encode("utf-8"), content_type="application/soap+xml; charset=utf-8")
        text = (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP11}" '
                f'xmlns:xsi="{XSI}" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>{inner}</soap:Body></soap:Envelope>')
        return Response(text.encode("utf-8"), content_type="text/xml; charset=utf-8")

    @staticmethod
    def _fault(version: int, code: str, text: str, detail: str = "") -> Response:
        """`code` in SOAP 1.1 terms (`Client.NotFound`, `Server`); SOAP 1.2 gets Sender/Receiver + a Subcode."""
        head, _, sub = code.partition(".")
        if version == 12:
            value = {"Client": "Sender", "Server": "Receiver"}.get(head, head)
            subcode = (f'<soap:Subcode><soap:Value xmlns:d="urn:department">d:{escape(sub)}</soap:Value></soap:Subcode>'
                       if sub else "")
            inner = (f"<soap:Fault><soap:Code><soap:Value>soap:{value}</soap:Value>{subcode}</soap:Code>"
                     f'<soap:Reason><soap:Text xml:lang="zh-CN">{escape(text)}</soap:Text></soap:Reason>'
                     + (f"<soap:Detail>{detail}</soap:Detail>" if detail else "") + "</soap:Fault>")
            body = (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP12}">'
                    f"<soap:Body>{inner}</soap:Body></soap:Envelope>")
            return Response(body.encode("utf-8"), status=500, content_type="application/soap+xml; charset=utf-8")
        inner = (f"<soap:Fault><faultcode>soap:{escape(code)}</faultcode><faultstring>{escape(text)}</faultstring>"
                 + (f"<detail>{detail}</detail>" if detail else "") + "</soap:Fault>")
        body = (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP11}">'
                f"<soap:Body>{inner}</soap:Body></soap:Envelope>")
        return Response(body.encode("utf-8"), status=500, content_type="text/xml; charset=utf-8")


def _help_page(name: str) -> bytes:
    return ('<html>\r\n<head><title>ChinaTVprogramWebService Web 服务</title></head>\r\n<body><div id="content">'
            f'<p class="heading1">{escape(name)}</p><p>支持下列操作。有关正式定义，请查看<a href="?WSDL">服务说明</a>。</p>'
            "</div></body></html>").encode("utf-8")


def _text(params: dict, name: str) -> str | None:
    element = params.get(name)
    if element is None or element.get(f"{{{XSI}}}nil") == "true":
        return None
    return element.text or ""


# --------------------------------------------------------------------------- .NET ASMX: 中国电视节目预告
TV_NS = "http://WebXml.com.cn/"
TV_AREAS = ["-1@全部@-", "1@北京@华北", "34@安徽@华东", "31@上海@华东"]
TV_STATIONS = {34: ["101@安徽卫视", "102@合肥电视台"], 1: ["1@中央电视台"], 31: []}
TV_CHANNELS = {101: ["1001@安徽卫视"], 102: ["1021@合肥新闻综合", "1022@合肥生活"], 1: ["11@CCTV-1 综合"]}
TV_PROGRAMS = {1001: ["08:00(AM)@@@早安安徽@@@安徽卫视", "19:00(PM)@@@新闻联播@@@安徽卫视"]}


def _array(name: str, items: list[str] | None) -> str:
    if not items:
        return f"<{name} />"
    return f"<{name}>" + "".join(f"<string>{escape(i)}</string>" for i in items) + f"</{name}>"


def _tv_lookup(op: str, args: dict[str, str | None]) -> list[str]:
    def integer(name):
        try:
            return int(args.get(name) or "")
        except ValueError:
            raise Handled("Server", f"System.ArgumentException: Cannot convert {args.get(name)} to System.Int32.\n"
                                    f"Parameter name: {name}") from None
    if op == "getAreaString":
        return TV_AREAS
    if op == "getTVstationString":
        return TV_STATIONS.get(integer("theAreaID"), [])
    if op == "getTVchannelString":
        return TV_CHANNELS.get(integer("theTVstationID"), [])
    if op == "getTVprogramString":
        channel, day = integer("theTVchannelID"), args.get("theDate") or ""
        if day and not (len(day) == 10 and day[4] == "-" and day[7] == "-"):
            raise Handled("Server", "System.FormatException: 该字符串未被识别为有效的 DateTime。")
        return TV_PROGRAMS.get(channel, [])
    raise Handled("Client", f"Server did not recognize the value of HTTP Header SOAPAction: {TV_NS}{op}.")


def _tv_soap(op: str):
    def handler(params, _path):
        items = _tv_lookup(op, {name: _text(params, name) for name in params})
        return f'<{op}Response xmlns="{TV_NS}">{_array(f"{op}Result", items)}</{op}Response>'
    return handler


def _tv_http(op: str, params: dict[str, str]) -> str:
    items = _tv_lookup(op, params)
    inner = "".join(f"<string>{escape(i)}</string>" for i in items)
    return f'<ArrayOfString xmlns:xsi="{XSI}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns="{TV_NS}">{inner}</ArrayOfString>'


def tv_responder() -> Responder:
    asmx = "/webservices/ChinaTVprogramWebService.asmx"
    ops = ("getAreaString", "getTVstationString", "getTVchannelString", "getTVprogramString")
    return Responder("ChinaTVprogramWebService", "ChinaTVprogramWebService.wsdl",
                     {"http://ws.webxml.com.cn/webservices/ChinaTVprogramWebService.asmx": asmx},
                     {op: _tv_soap(op) for op in ops}, help_page=True, http_ops=_tv_http)


# --------------------------------------------------------------------------- Java CXF: CustomerService
CUSTOMER_NS = "http://customerservice.example.com/"


class _Customers:
    def __init__(self):
        self.lock = threading.Lock()
        self.updated: dict[str, str] = {}  # name -> customer XML of the last updateCustomer


def _customer_xml(customer_id: int, name: str, *, full: bool) -> str:
    if full:
        return (f"<return><customerId>{customer_id}</customerId><name>{escape(name)}</name>"
                "<address>Pine Street 200</address><address xsi:nil=\"true\"/>"
                "<numOrders>1</numOrders><revenue>10000.0</revenue><test>1.5</test>"
                "<birthDate>2009-08-02</birthDate><type>BUSINESS</type></return>")
    return f"<return><customerId>{customer_id}</customerId><name>{escape(name)}</name><revenue>0.0</revenue></return>"


def customers_responder() -> Responder:
    store = _Customers()

    def get_customers_by_name(params, _path):
        name = _text(params, "name")
        if name is None or name == "None":
            detail = (f'<ns2:NoSuchCustomer xmlns:ns2="{CUSTOMER_NS}"><customerName>{escape(str(name))}</customerName>'
                      "</ns2:NoSuchCustomer>")
            raise Handled("Server", f"Did not find any matching customer for name={name}", detail)
        with store.lock:
            updated = store.updated.get(name)
        customers = updated or (_customer_xml(0, name, full=True) + _customer_xml(1, name, full=False))
        return f'<ns2:getCustomersByNameResponse xmlns:ns2="{CUSTOMER_NS}">{customers}</ns2:getCustomersByNameResponse>'

    def update_customer(params, _path):
        customer = params.get("customer")
        if customer is not None:
            name = customer.findtext("name") or ""
            inner = etree.tostring(customer, encoding="unicode").replace("<customer", "<return", 1)
            inner = inner.rsplit("</customer>", 1)[0] + "</return>" if "</customer>" in inner else inner
            with store.lock:
                store.updated[name] = inner
        return None

    responder = Responder("CustomerServiceService", "CustomerService.wsdl",
                          {"http://localhost:9090/CustomerServicePort": "/CustomerServicePort"},
                          {"getCustomersByName": get_customers_by_name, "updateCustomer": update_customer})
    responder.store = store
    return responder


# --------------------------------------------------------------------------- Celtix/CXF rpc/literal: Greeter
GREETER_NS = "http://objectweb.org/hello_world_rpclit"
GREETER_TYPES = "http://objectweb.org/hello_world_rpclit/types"


def greeter_responder() -> Responder:
    def answer(op, inner):
        return f'<ns:{op}Response xmlns:ns="{GREETER_NS}">{inner}</ns:{op}Response>'

    def say_hi(_params, path):
        return answer("sayHi", f"<out>Bonjour from {path.rsplit('/', 1)[1]}</out>")

    def greet_me(params, _path):
        who = _text(params, "in")
        if who == "fault":
            raise Handled("Client.BadName", "the name 'fault' is refused")
        return answer("greetMe", f"<out>Hello {escape(who or '')}</out>")

    def send_receive(params, _path):
        data = params.get("in")
        if data is None:
            raise Handled("Client", "in is missing")
        values = {etree.QName(c).localname: c.text or "" for c in data if isinstance(c.tag, str)}
        inner = (f'<out><x1:elem1 xmlns:x1="{GREETER_TYPES}">{escape(values.get("elem2", ""))}</x1:elem1>'
                 f'<x1:elem2 xmlns:x1="{GREETER_TYPES}">{escape(values.get("elem1", ""))}</x1:elem2>'
                 f'<x1:elem3 xmlns:x1="{GREETER_TYPES}">{int(values.get("elem3") or 0) + 1}</x1:elem3></out>')
        return answer("sendReceiveData", inner)

    base = "http://localhost:9002/SOAPServiceRPCLit/"
    paths = {f"{base}SoapPort": "/SOAPServiceRPCLit/SoapPort",
             **{f"{base}SoapPort{n}": f"/SOAPServiceRPCLit/SoapPort{n}" for n in (1, 2, 3)}}
    return Responder("Greeter", "hello_world_rpc_lit.wsdl", paths,
                     {"sayHi": say_hi, "greetMe": greet_me, "sendReceiveData": send_receive})


FACTORIES = {"tv": tv_responder, "customers": customers_responder, "greeter": greeter_responder}


def serve(name: str) -> tuple[Responder, Callable[[], None]]:
    """Start one responder on a free port; returns (responder, stop)."""
    responder = FACTORIES[name]()
    base_url, stop = serve_in_thread(responder, "127.0.0.1", 0)
    responder.base_url = base_url
    return responder, stop
