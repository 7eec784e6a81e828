"""Liveness, readiness (which backing service is down) and Prometheus metrics."""
from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from routes import readiness

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
    if down:
        body["down"] = down
        body["message"] = "Not ready: " + ", ".join(f"{n} is down ({checks[n]['error']})" for n in down)
    elif degraded:
        body["degraded"] = degraded
        body["message"] = f"Degraded: calendar: {calendar['message']} ({calendar['file']})"
    return jsonify(body), (200 if not down else 503)


def _calendar() -> dict:
    from supervision.calendar_health import app_coverage

    try:
        result, source = app_coverage(current_app)
    except Exception as exc:  # an unreadable supervision file is a degraded calendar too
        return {"status": "degraded", "file": current_app.extensions["govlink"].settings.supervision_file,
                "missing": [], "message": f"the supervision file cannot be read ({type(exc).__name__})"}
    return {**result.describe(), "file": source}


@blp.get("/metrics")
def metrics():
    """Prometheus text exposition: this process's (or all gunicorn workers') metrics, then the
    registries areas add with `add_metrics_registry` (figures read from the database per scrape)."""
    body = generate_latest(readiness.metrics_registry())
    for registry in current_app.extensions.get("govlink_metric_registries", []):
        body += generate_latest(registry)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def add_metrics_registry(app, registry) -> None:
    """Serve `registry` on /metrics too."""
    app.extensions.setdefault("govlink_metric_registries", []).append(registry)
