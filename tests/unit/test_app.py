"""The app factory, error shape, correlation ids, OpenAPI and metrics (no backing service needed)."""
import io
import json
import logging

import pytest

from config.settings import Settings
from bootstrap.gateway import create_app


@pytest.fixture()
def client():
    app = create_app(Settings.from_env({}, log_json=True, max_body_bytes=1024))
    return app.test_client()


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}


def test_openapi_document_lists_the_api(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["info"]["title"] == "govlink"
    assert "/api/v1/system/info" in doc["paths"]


def test_swagger_ui_is_served_without_a_cdn(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/docs/static/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert client.get("/api/docs/static/swagger-ui-bundle.js").status_code == 200


def test_metrics_are_prometheus_text(client):
    client.get("/healthz")
    assert client.get("/metrics").status_code == 401  # only for the scrape token (issue 15 #13)
    r = client.get("/metrics", headers={"Authorization": "Bearer dev-metrics-token"})
    assert r.status_code == 200 and r.mimetype == "text/plain"
    assert "govlink_http_requests_total" in r.get_data(as_text=True)


def test_unknown_route_gets_json_error_with_correlation_id(client):
    r = client.get("/nope", headers={"X-Correlation-ID": "test-cid-0001"})
    body = r.get_json()
    assert r.status_code == 404
    assert body["code"] == "not_found" and body["correlation_id"] == "test-cid-0001"
    assert r.headers["X-Correlation-ID"] == "test-cid-0001"


def test_hostile_correlation_id_is_replaced(client):
    r = client.get("/healthz", headers={"X-Correlation-ID": "<script>alert(1)</script>"})
    assert "<" not in r.headers["X-Correlation-ID"] and len(r.headers["X-Correlation-ID"]) == 36


def test_oversized_body_refused_with_code(client):
    r = client.post("/api/v1/system/info", data=b"x" * 5000, content_type="application/json")
    assert r.status_code == 413 and r.get_json()["code"] == "body_too_large"


def test_request_log_is_json_with_correlation_id_and_masks_identifiers():
    stream = io.StringIO()
    from config.logging import configure_logging

    settings = Settings.from_env({}, log_json=True)
    app = create_app(settings)
    configure_logging(settings, stream)
    app.test_client().get("/healthz/340104198506150213", headers={"X-Correlation-ID": "cid-for-log-test"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    request_line = next(l for l in lines if l["logger"] == "govlink.gateway")
    assert request_line["correlation_id"] == "cid-for-log-test"
    assert "340104198506150213" not in stream.getvalue()
    assert "3401**********0213" in request_line["msg"]
    logging.getLogger().handlers.clear()
