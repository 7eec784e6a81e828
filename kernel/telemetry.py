"""Telemetry every answer shares: the correlation id, the request metrics, the response headers,
and the extra Prometheus registries `/metrics` serves.

One module for the gateway's Flask hooks (`routes/app.py`) and its token fast path below Flask
(`routes/token_reads.py`), so both answer with the same headers, counters and log line. The extra
registries are kept on the app object (`app.extensions`), never in a module global, so an area
below the gateway (supervision) can add one without importing `routes`.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import uuid

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

log = logging.getLogger("govlink.gateway")

REQUESTS = Counter("govlink_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"])
LATENCY = Histogram("govlink_http_request_seconds", "HTTP request duration", ["method", "endpoint"])
_CID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
_REGISTRIES = "govlink_metric_registries"

# Every answer may not be framed (clickjacking) nor sniffed; pages also get a CSP that forbids framing
# and plugins and pins <base>, and keep no referrer across sites (sign-in codes live in our URLs).
PAGE_CSP = "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
ANSWER_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                  ("Referrer-Policy", "same-origin"))
PAGE_HEADERS = (("Content-Security-Policy", PAGE_CSP), ("Cross-Origin-Opener-Policy", "same-origin"))
STAFF_PAGE_HEADERS = (("Cache-Control", "no-store"),)  # staff pages stay out of caches


def correlation_id_from(incoming: str | None) -> str:
    """The caller's correlation id if it is well-formed, else a new one."""
    return incoming if incoming and _CID.match(incoming) else str(uuid.uuid4())


@contextlib.contextmanager
def correlated(environ):
    """The correlation id of a WSGI request (the caller's, if well-formed), set for the block and yielded:
    for the layers that answer below Flask, whose own hooks set it for every other request."""
    cid = correlation_id_from(environ.get("HTTP_X_CORRELATION_ID") or environ.get("HTTP_X_REQUEST_ID"))
    reset = correlation_id.set(cid)
    try:
        yield cid
    finally:
        correlation_id.reset(reset)


def response_headers(cid: str, mimetype: str | None, *, staff: bool = False) -> list[tuple[str, str]]:
    """(pure) The headers every answer carries: its correlation id and the security headers."""
    headers = [("X-Correlation-ID", cid), *ANSWER_HEADERS]
    if mimetype == "text/html":
        headers.extend(PAGE_HEADERS)
        if staff:
            headers.extend(STAFF_PAGE_HEADERS)
    return headers


def record_request(method: str, endpoint: str, path: str, status: int, elapsed: float) -> None:
    """Count and time an answered request, and log it (not health checks and scrapes)."""
    REQUESTS.labels(method, endpoint, status).inc()
    LATENCY.labels(method, endpoint).observe(elapsed)
    if endpoint not in ("/healthz", "/metrics"):
        log.info("%s %s -> %s", method, path, status, extra={"status": status, "ms": round(elapsed * 1000, 1)})


def metrics_registry():
    """The default registry, or a multiprocess view when gunicorn runs several workers."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def add_metrics_registry(app, registry) -> None:
    """Serve `registry` on the app's /metrics too (after `metrics_registry()`)."""
    app.extensions.setdefault(_REGISTRIES, []).append(registry)


def metrics_registries(app) -> list:
    """The registries areas added to `app` with `add_metrics_registry`."""
    return list(app.extensions.get(_REGISTRIES, []))
