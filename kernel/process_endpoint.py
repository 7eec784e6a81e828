"""The `/healthz` and `/metrics` of a process that is not the gateway (a worker, the scheduler).

A tiny WSGI app on its own port, served by the standard library's WSGI server in a daemon thread, so
Prometheus scrapes every process and an orchestrator's health check asks each one:

- `/healthz`: 200 `{"status": "ok"}` when the process's own check says it is well, else 503
  `{"status": "unhealthy", "reason": ...}` (a check that raises is unhealthy too);
- `/metrics`: the Prometheus text exposition of `registry`, only with the scrape token
  (`Authorization: Bearer $GOVLINK_METRICS_TOKEN`), as on the gateway.
"""
from __future__ import annotations

import hmac
import json
import logging
import threading
from socketserver import ThreadingMixIn
from typing import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("govlink.process")

# (ok, reason): the reason says what is wrong when not ok (no secrets, no personal data).
HealthCheck = Callable[[], "tuple[bool, str | None]"]


def endpoint_app(health: HealthCheck, token: str, registry=REGISTRY):
    """(WSGI) `/healthz` and `/metrics` over `health` and `registry`."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            try:
                ok, reason = health()
            except Exception as exc:  # a check that cannot run cannot say the process is well
                ok, reason = False, f"the health check failed ({type(exc).__name__})"
            body = {"status": "ok"} if ok else {"status": "unhealthy", "reason": reason}
            return _json(start_response, "200 OK" if ok else "503 Service Unavailable", body)
        if path == "/metrics":
            if not _has_token(environ.get("HTTP_AUTHORIZATION", ""), token):
                return _json(start_response, "401 Unauthorized", {
                    "code": "invalid_token",
                    "message": "Send the scrape token: Authorization: Bearer $GOVLINK_METRICS_TOKEN."},
                    [("WWW-Authenticate", 'Bearer realm="govlink-metrics"')])
            payload = generate_latest(registry)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(payload)))])
            return [payload]
        return _json(start_response, "404 Not Found", {"code": "not_found", "message": "Only /healthz and /metrics."})

    return app


def _has_token(header: str, expected: str) -> bool:
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and bool(given.strip()) and bool(expected) and \
        hmac.compare_digest(given.strip().encode(), expected.encode())


def _json(start_response, status: str, body: dict, headers=()):
    payload = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *headers])
    return [payload]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:  # scrapes and probes every few seconds: not worth a log line
        pass


class ProcessEndpoint:
    """A running endpoint; `port` is the one bound (useful when asked for port 0)."""

    def __init__(self, server: WSGIServer, name: str):
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, name=f"{name}-endpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_process_endpoint(host: str, port: int, *, health: HealthCheck, token: str, registry=REGISTRY,
                           name: str = "govlink") -> ProcessEndpoint:
    """Serve `/healthz` and `/metrics` on `host:port` (0: a free port) in a daemon thread; OSError if it cannot bind."""
    server = make_server(host, port, endpoint_app(health, token, registry), server_class=_Server,
                         handler_class=_QuietHandler)
    endpoint = ProcessEndpoint(server, name)
    log.info("%s: /healthz and /metrics on %s:%d", name, host, endpoint.port)
    return endpoint
