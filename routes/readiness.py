"""Probes of the backing services, run in parallel with short timeouts."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import bus.connection
import idp.keycloak
import store.db
from config.settings import redact_url

SERVICES = ("database", "rabbitmq", "keycloak")


def _probes(ctx):
    s = ctx.settings
    t = s.readiness_timeout_seconds
    return {
        "database": (lambda: store.db.ping(ctx.db), redact_url(s.database_url)),
        "rabbitmq": (lambda: bus.connection.ping(s.amqp_url, t), redact_url(s.amqp_url)),
        "keycloak": (lambda: idp.keycloak.ping(s, t), s.issuer),
    }


def describe_error(exc: BaseException) -> str:
    """A short, secret-free reason ('connection refused', 'timed out', ...)."""
    text = str(exc).strip() or type(exc).__name__
    first = text.splitlines()[0]
    low = text.lower()
    for needle, reason in (("refused", "connection refused"), ("timed out", "timed out"), ("timeout", "timed out"),
                           ("name or service not known", "unknown host"), ("password authentication", "login refused")):
        if needle in low:
            return reason
    return f"{type(exc).__name__}: {first[:200]}"


def check_all(ctx) -> dict:
    """{service: {"status": "up"|"down", "target": ..., "error": ...}} for every backing service."""
    probes = _probes(ctx)

    def run(name):
        probe, target = probes[name]
        try:
            probe()
            return name, {"status": "up", "target": target}
        except Exception as exc:  # any failure means not ready; the reason is reported
            return name, {"status": "down", "target": target, "error": describe_error(exc)}

    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        return dict(pool.map(run, SERVICES))

