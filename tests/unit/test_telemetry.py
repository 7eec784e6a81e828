"""One telemetry module (kernel/telemetry.py) for the gateway and its token fast path."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from bootstrap.gateway import create_app
from config.settings import Settings
from kernel.telemetry import add_metrics_registry, metrics_registries, response_headers

ROOT = Path(__file__).resolve().parents[2]


def test_every_answer_carries_its_correlation_id_and_the_security_headers():
    api = dict(response_headers("cid-12345678", "application/json"))
    assert api == {"X-Correlation-ID": "cid-12345678", "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                   "Referrer-Policy": "same-origin"}
    page = dict(response_headers("c", "text/html"))
    assert page["Content-Security-Policy"].startswith("frame-ancestors 'none'") and "Cache-Control" not in page
    assert dict(response_headers("c", "text/html", staff=True))["Cache-Control"] == "no-store"


def test_flask_answers_with_the_same_headers_as_the_fast_path():
    client = create_app(Settings.from_env({}, log_json=True)).test_client()
    answer = client.get("/healthz", headers={"X-Correlation-ID": "abcdefgh-1234"})
    for name, value in response_headers("abcdefgh-1234", "application/json"):
        assert answer.headers[name] == value


def test_the_token_fast_path_does_not_import_the_app_and_sends_no_header_by_hand():
    code = "import sys, routes.token_reads; assert 'routes.app' not in sys.modules"
    answer = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert answer.returncode == 0, answer.stderr[-2000:]
    source = (ROOT / "routes" / "token_reads.py").read_text()
    assert "nosniff" not in source and "X-Frame-Options" not in source


def test_an_area_adds_a_metrics_registry_to_the_app_without_the_routes():
    from supervision.metrics import install_metrics

    app = SimpleNamespace(extensions={"govlink": SimpleNamespace()})
    install_metrics(app)
    (registry,) = metrics_registries(app)
    assert isinstance(registry, CollectorRegistry)
    add_metrics_registry(app, CollectorRegistry())
    assert len(metrics_registries(app)) == 2
