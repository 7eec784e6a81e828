"""Liveness, readiness (which backing service is down) and Prometheus metrics.

`/metrics` (supervision statistics among them) answers only with the scrape token
(`Authorization: Bearer $GOVLINK_METRICS_TOKEN`); `/readyz` tells anyone ready or not and which
service is down, and shows where each service is and why it failed only with that token.
"""
from __future__ import annotations

import hmac
import time

from flask import Blueprint, Response, current_app, jsonify, request

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kernel.telemetry import metrics_registries, metrics_registry
from routes import readiness
from routes.errors import ApiError

blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    """Liveness: the process answers."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz():
    """Readiness: the database, RabbitMQ and Keycloak all answer; otherwise 503 naming the one down.

    Ready but `degraded` (still 200) when the working-day calendar lacks a year it needs (from
    December on, next year: `supervision.calendar_health`); `calendar` says which.
    """
    started = time.monotonic()
    checks = readiness.check_all(current_app.extensions["govlink"])
    down = [name for name, result in checks.items() if result["status"] != "up"]
    calendar = _calendar()
    degraded = [] if calendar["status"] == "ok" else ["calendar"]
    body = {
        "status": "not_ready" if down else ("degraded" if degraded else "ready"),
        "checks": checks,
        "calendar": calendar,
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
    }
    detailed = _has_scrape_token()
    if down:
        body["down"] = down
        body["message"] = "Not ready: " + ", ".join(
            f"{n} is down ({checks[n]['error']})" if detailed else f"{n} is down" for n in down)
    elif degraded:
        body["degraded"] = degraded
        body["message"] = f"Degraded: calendar: {calendar['message']}" + (f" ({calendar['file']})" if detailed else "")
    if not detailed:  # targets (database path, AMQP user), errors and file paths only for the operator's token
        body["checks"] = {name: {"status": result["status"]} for name, result in checks.items()}
        body["calendar"] = {k: v for k, v in calendar.items() if k != "file"}
    return jsonify(body), (200 if not down else 503)


def _calendar() -> dict:
    from supervision.calendar_health import app_coverage

    try:
        result, source = app_coverage(current_app)
    except Exception as exc:  # an unreadable supervision file is a degraded calendar too
        return {"status": "degraded", "file": current_app.extensions["govlink"].settings.supervision_file,
                "missing": [], "message": f"the supervision file cannot be read ({type(exc).__name__})"}
    return {**result.describe(), "file": source}


def _has_scrape_token() -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = current_app.extensions["govlink"].settings.metrics_token
    return scheme.lower() == "bearer" and bool(token) and hmac.compare_digest(token.strip().encode(), expected.encode())


@blp.get("/metrics")
def metrics():
    """Prometheus text exposition: this process's (or all gunicorn workers') metrics, then the
    registries areas add with `kernel.telemetry.add_metrics_registry` (figures read from the database per scrape).
    Only for the scrape token: the supervision figures are supervisors' information."""
    if not _has_scrape_token():
        raise ApiError(401, "invalid_token", "Send the scrape token: Authorization: Bearer $GOVLINK_METRICS_TOKEN.",
                       headers={"WWW-Authenticate": 'Bearer realm="govlink-metrics"'})
    body = generate_latest(metrics_registry())
    for registry in metrics_registries(current_app):
        body += generate_latest(registry)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)

