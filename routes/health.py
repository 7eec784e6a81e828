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
    """Readiness: the database, RabbitMQ and Keycloak all answer; otherwise 503 naming the one down."""
    started = time.monotonic()
    checks = readiness.check_all(current_app.extensions["govlink"])
    down = [name for name, result in checks.items() if result["status"] != "up"]
    body = {
        "status": "ready" if not down else "not_ready",
        "checks": checks,
        "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
    }
    if down:
        body["down"] = down
        body["message"] = "Not ready: " + ", ".join(f"{n} is down ({checks[n]['error']})" for n in down)
    return jsonify(body), (200 if not down else 503)


@blp.get("/metrics")
def metrics():
    """Prometheus text exposition."""
    return Response(generate_latest(readiness.metrics_registry()), mimetype=CONTENT_TYPE_LATEST)
