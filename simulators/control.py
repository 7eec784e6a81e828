"""Run-time control shared by every simulator: misbehaviour on demand and call counters.

Each simulated system mounts `control_blueprint(state)` (`GET/POST /<system>/_control`,
`POST /<system>/_control/reset`) and wraps its service endpoints in `Misbehaviour`, which can
make them slow, answer HTTP 500, drop the connection, answer a fault, demand a WS-Security
UsernameToken, or answer in GBK/GB18030 instead of UTF-8.

POST /<system>/_control accepts any of:
    mode             normal | slow | fail (HTTP 500) | drop (connection closed) | fault (the calls; the WSDL is served)
    delay_seconds    how long `slow` waits before answering (default 3)
    encoding         utf-8 | GBK | GB18030: the charset of answers
    declare_encoding true: the XML declaration names the charset; false: no declaration
    charset_header   true: Content-Type names the charset; false: it does not
    fault_code, fault_string   what `fault` answers (SOAP fault; REST: HTTP 422 JSON)
    require_wsse     {"username": ..., "password": ...} or null: demand a UsernameToken (SOAP)
    reset_counters   true: zero the counters
GET shows the settings (never the password) and `calls` (served, per operation) and
`injected` (requests answered by misbehaviour, per mode).
"""
from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections import Counter
from typing import Callable, Iterable, Protocol

from flask import Blueprint, Flask, jsonify, request

MODES = ("normal", "slow", "fail", "drop", "fault")
ENCODINGS = {"utf-8": "utf-8", "gbk": "GBK", "gb18030": "GB18030"}


class ControlState:
    """The mutable behaviour and counters of one simulated system; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._request = threading.local()
        self.counting_since = 0  # bumped whenever the counters are zeroed
        self.reset()

    def reset(self) -> None:
        """Back to normal behaviour with zeroed counters (seed data is kept)."""
        with self._lock:
            self.counting_since += 1
            self.mode = "normal"
            self.delay_seconds = 3.0
            self.encoding = "utf-8"
            self.declare_encoding = True
            self.charset_header = True
            self.fault_code = "Server.SimulatedFault"
            self.fault_string = "系统繁忙，请稍后再试 (simulated fault)"
            self.require_wsse: dict | None = None
            self.calls: Counter = Counter()
            self.injected: Counter = Counter()

    def update(self, changes: dict) -> None:
        """Apply a `_control` POST body; ValueError names the bad field."""
        unknown = set(changes) - {"mode", "delay_seconds", "encoding", "declare_encoding", "charset_header",
                                  "fault_code", "fault_string", "require_wsse", "reset_counters"}
        if unknown:
            raise ValueError(f"unknown control field(s): {', '.join(sorted(unknown))}")
        if "mode" in changes and changes["mode"] not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if "encoding" in changes and str(changes["encoding"]).lower() not in ENCODINGS:
            raise ValueError("encoding must be utf-8, GBK or GB18030")
        wsse = changes.get("require_wsse")
        if wsse is not None and not (isinstance(wsse, dict) and wsse.get("username") and wsse.get("password")):
            raise ValueError("require_wsse must be null or {username, password}")
        with self._lock:
            for name in ("mode", "fault_code", "fault_string", "require_wsse"):
                if name in changes:
                    setattr(self, name, changes[name])
            if "delay_seconds" in changes:
                self.delay_seconds = float(changes["delay_seconds"])
            if "encoding" in changes:
                self.encoding = ENCODINGS[str(changes["encoding"]).lower()]
            for name in ("declare_encoding", "charset_header"):
                if name in changes:
                    setattr(self, name, bool(changes[name]))
            if changes.get("reset_counters"):
                self.counting_since += 1
                self.calls.clear()
                self.injected.clear()

    def arrived(self) -> None:
        """A request starts on this thread: counted later only if the counters are not zeroed meanwhile."""
        self._request.counting_since = self.counting_since

    def served(self, operation: str) -> None:
        """Count one call that reached the system's business logic.

        A request that arrived before the counters were zeroed (one held by `slow` for a test
        that has ended) is not counted against the next test."""
        with self._lock:
            if getattr(self._request, "counting_since", self.counting_since) == self.counting_since:
                self.calls[operation] += 1

    def count_injected(self, mode: str) -> None:
        with self._lock:
            self.injected[mode] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "mode": self.mode, "delay_seconds": self.delay_seconds, "encoding": self.encoding,
                "declare_encoding": self.declare_encoding, "charset_header": self.charset_header,
                "fault_code": self.fault_code, "fault_string": self.fault_string,
                "require_wsse": {"username": self.require_wsse["username"]} if self.require_wsse else None,
                "calls": dict(self.calls), "injected": dict(self.injected),
            }


class Controllable(Protocol):
    """What `/_control` drives: ControlState, and the payment and courier simulators' own switches."""

    def reset(self) -> None: ...

    def update(self, changes: dict) -> None: ...

    def snapshot(self) -> dict: ...


def control_blueprint(state: Controllable, name: str = "control") -> Blueprint:
    """`/_control` (GET shows, POST changes) and `/_control/reset` for one system.

    A POST whose values `update` refuses (ValueError or TypeError) is answered 400.
    """
    bp = Blueprint(name, __name__)

    @bp.get("/_control")
    def show():
        return jsonify(state.snapshot())

    @bp.post("/_control")
    def change():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="invalid_request", message="send a JSON object"), 400
        try:
            state.update(body)
        except (ValueError, TypeError) as exc:
            return jsonify(error="invalid_request", message=str(exc)), 400
        return jsonify(state.snapshot())

    @bp.post("/_control/reset")
    def reset():
        state.reset()
        return jsonify(state.snapshot())

    return bp


def system_app(import_name: str, state: ControlState) -> Flask:
    """A simulated system's Flask app with its `/_control`; real Chinese characters on the wire, so GBK
    answers mean something."""
    app = Flask(import_name)
    app.json.ensure_ascii = False
    app.register_blueprint(control_blueprint(state))
    return app


Response = tuple[str, list[tuple[str, str]], bytes]


class Misbehaviour:
    """WSGI middleware around a system's service endpoints (paths under `/_` are exempt).

    `fault_body(code, text) -> (content_type, body)` renders the system's own kind of fault;
    `wsse_check(body, username, password) -> problem or None` verifies a UsernameToken (SOAP).
    """

    def __init__(self, app, state: ControlState, *, fault: Callable[[str, str], Response],
                 wsse_check: Callable[[bytes, str, str], str | None] | None = None,
                 wsse_fault: Callable[[str], Response] | None = None):
        self.app = app
        self.state = state
        self.fault = fault
        self.wsse_check = wsse_check
        self.wsse_fault = wsse_fault

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/_"):
            return self.app(environ, start_response)
        state = self.state
        state.arrived()
        mode = state.mode
        if mode == "slow":
            state.count_injected("slow")
            time.sleep(state.delay_seconds)
        elif mode == "drop" and environ.get("werkzeug.socket") is not None:
            state.count_injected("drop")  # counted before the client can see the drop (tests read it at once)
            self._drop(environ)
            return []
        elif mode in ("fail", "drop"):
            state.count_injected("fail")
            return self._send(start_response, ("500 INTERNAL SERVER ERROR", [("Content-Type", "text/plain; charset=utf-8")],
                                               b"simulated failure\n"), encode=False)
        elif mode == "fault" and not _describes(environ):  # a faulting service still publishes its WSDL
            state.count_injected("fault")
            return self._send(start_response, self.fault(state.fault_code, state.fault_string))
        if state.require_wsse and self.wsse_check and environ.get("REQUEST_METHOD") == "POST":
            body = _read_body(environ)
            problem = self.wsse_check(body, state.require_wsse["username"], state.require_wsse["password"])
            if problem:
                state.count_injected("wsse")
                return self._send(start_response, self.wsse_fault(problem))
        return self._send(start_response, _collect(self.app, environ))

    def _send(self, start_response, response: Response, *, encode: bool = True) -> list[bytes]:
        status, headers, body = response
        if encode:
            headers, body = recode(headers, body, self.state.encoding, self.state.declare_encoding, self.state.charset_header)
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [body]

    @staticmethod
    def _drop(environ) -> bool:
        """Close the client's connection without an answer (werkzeug servers only)."""
        sock = environ.get("werkzeug.socket")
        if sock is None:
            return False
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return True


def _describes(environ) -> bool:
    """A GET of the service's description (`?wsdl`, `?xsd=...`): a department whose calls answer faults
    still serves it, so a worker reading its WSDL for the first time meets the fault on the call."""
    query = environ.get("QUERY_STRING", "").lower()
    return environ.get("REQUEST_METHOD") == "GET" and (query.startswith("wsdl") or query.startswith("xsd"))


def recode(headers: list[tuple[str, str]], body: bytes, encoding: str, declare: bool, charset_header: bool):
    """Re-encode a UTF-8 text answer (XML or JSON) as `encoding`, adjusting declaration and header."""
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    media = content_type.split(";")[0].strip().lower()
    if encoding == "utf-8" or not (media.endswith("xml") or media.endswith("json")):
        return headers, body
    text = body.decode("utf-8")
    if media.endswith("xml"):
        if text.lstrip().startswith("<?xml"):
            text = text[text.index("?>") + 2:].lstrip()
        if declare:
            text = f'<?xml version="1.0" encoding="{encoding}"?>\n' + text
    new_type = f"{media}; charset={encoding}" if charset_header else media
    headers = [(k, new_type if k.lower() == "content-type" else v) for k, v in headers]
    return headers, text.encode(encoding)


def _read_body(environ) -> bytes:
    """Read the request body and put it back for the wrapped app."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _collect(app, environ) -> Response:
    """Run a WSGI app and return its whole answer (simulator answers are small)."""
    captured: dict = {}
    chunks: list[bytes] = []

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, list(headers)
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return captured["status"], captured["headers"], b"".join(chunks)


def json_fault(code: str, text: str) -> Response:
    """The REST systems' equivalent of a SOAP fault: HTTP 422 with a JSON error."""
    body = json.dumps({"error": code, "message": text}, ensure_ascii=False).encode("utf-8")
    return "422 UNPROCESSABLE ENTITY", [("Content-Type", "application/json; charset=utf-8")], body
