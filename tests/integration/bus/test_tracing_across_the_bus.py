"""One OpenTelemetry trace from the gateway to the department and back (issue 20): the HTTP request's
span, the bus publish, the worker's consume (the context crossed RabbitMQ in the AMQP headers), the
department call and its SOAP request over HTTP (zeep through requests), and the database statements,
each under its right parent. Real Keycloak token, RabbitMQ, PostgreSQL and the SOAP simulator; the
spans are read from OpenTelemetry's in-memory exporter."""
from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
import yaml
from opentelemetry.trace import SpanKind

from bootstrap.gateway import create_app
from bus.topology import service_queue
from connectors.worker import connector_runners
from kernel.identifiers import make_resident_id
from tests.conftest import client_credentials_token
from tests.support.queues import delete_queues, work_queue_names
from tests.support.tracing import recording

SHIPPED = Path(__file__).resolve().parents[3] / "config" / "connectors"
CASE_SYSTEM = "GOV/11340100002987128A/case-system"


@pytest.fixture()
def traced(settings, sim, tmp_path, unique, db, monkeypatch):
    """Tracing on (in-memory), a copy of the population registry (SOAP) and its in-process worker."""
    monkeypatch.setenv("GOVLINK_SIMULATORS_URL", sim.base_url)  # where the declaration's WSDL is
    with recording() as exporter:
        service = f"population-registry-{unique}"
        decl = yaml.safe_load((SHIPPED / "population-registry.yaml").read_text())
        decl["service"] = service
        (tmp_path / f"{service}.yaml").write_text(yaml.safe_dump(decl, allow_unicode=True))
        access = tmp_path.parent / f"access-{unique}.yaml"
        access.write_text(yaml.safe_dump({"grants": [{"clients": [CASE_SYSTEM], "service": service, "operations": ["*"]}]}))
        app = create_app(settings.replace(connectors_dir=str(tmp_path), access_file=str(access), retry_tiers="1,1",
                                          simulators_url=sim.base_url))
        runtime = app.extensions["govlink"]
        runners = [r.start() for r in connector_runners(runtime)]
        try:
            yield app, service, exporter
        finally:
            for runner in runners:
                runner.stop()
            runtime.close()
            delete_queues(settings, work_queue_names(service_queue(service, (1, 1))))


def test_one_trace_spans_gateway_bus_worker_and_department(traced, sim, settings):
    app, service, exporter = traced
    id_number = make_resident_id("340104", date(1988, 3, 9), 317)
    sim.admin("/population/_admin/people", {"name": "王晓明", "idNumber": id_number})
    token = client_credentials_token(settings, "case-system")
    exporter.clear()
    r = app.test_client().post(f"/api/v1/services/{service}/verify-identity",
                               json={"payload": {"name": "王晓明", "id_number": id_number}},
                               headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.get_json()["result"]["match"] is True, r.get_json()

    # The worker's consume span ends after its reply is confirmed, which may be after the gateway answered.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(s.kind == SpanKind.CONSUMER for s in exporter.get_finished_spans()):
        time.sleep(0.05)
    spans = exporter.get_finished_spans()
    servers = [s for s in spans if s.kind == SpanKind.SERVER and s.name.startswith("POST /api/v1/services/")]
    assert len(servers) == 1, [(s.name, s.parent, s.context.trace_id, s.instrumentation_scope.name) for s in servers]
    http = servers[0]
    assert http.parent is None  # the trace starts at the gateway
    trace = [s for s in spans if s.context.trace_id == http.context.trace_id]
    by_id = {s.context.span_id: s for s in trace}

    def one(kind, name):
        found = [s for s in trace if s.kind == kind and s.name == name]
        assert len(found) == 1, (kind, name, sorted(s.name for s in trace))
        return found[0]

    def ancestors(span):
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            yield span

    publish = one(SpanKind.PRODUCER, f"govlink.commands {service}.verify-identity publish")
    consume = one(SpanKind.CONSUMER, f"svc.{service} process")
    department = one(SpanKind.INTERNAL, f"{service} verify-identity")
    assert publish.parent.span_id == http.context.span_id
    assert consume.parent.span_id == publish.context.span_id and consume.parent.is_remote  # across RabbitMQ
    assert department.parent.span_id == consume.context.span_id
    soap = [s for s in trace if s.kind == SpanKind.CLIENT and s.parent and s.parent.span_id == department.context.span_id]
    methods = [s.attributes.get("http.request.method", s.attributes.get("http.method")) for s in soap]
    assert "POST" in methods, methods  # the SOAP request (the WSDL's GET comes first, on first use)
    reply = [s for s in trace if s.kind == SpanKind.PRODUCER and s.parent.span_id == consume.context.span_id]
    assert reply, "the worker's reply is published inside its consume span"
    statements = [s for s in trace if s.kind == SpanKind.CLIENT and "postgresql" in
                  (s.attributes.get("db.system"), s.attributes.get("db.system.name"))]
    assert any(consume in ancestors(s) for s in statements), "the worker's statements are in the trace"
    assert any(consume not in ancestors(s) for s in statements), "the gateway's statements are in the trace"
    assert all(s.status.is_ok for s in (http, publish, consume, department))


def test_a_traced_gateway_opens_a_span_for_every_call_with_a_known_token(traced, sim, settings):
    """The lean paths below Flask (routes/call_path.py, routes/token_reads.py) are not installed in a traced
    gateway: a second call and a second `GET /api/v1/me` with the same token get their HTTP span too."""
    app, service, exporter = traced
    id_number = make_resident_id("340104", date(1988, 3, 9), 317)
    sim.admin("/population/_admin/people", {"name": "王晓明", "idNumber": id_number})
    token = client_credentials_token(settings, "case-system")
    client = app.test_client()
    exporter.clear()
    for _ in range(2):
        r = client.post(f"/api/v1/services/{service}/verify-identity", json={"payload": {"name": "王晓明", "id_number": id_number}},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.get_json()
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    servers = sorted(s.name for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER)
    assert servers == ["GET /api/v1/me"] * 2 + ["POST /api/v1/services/<string:service>/<string:operation>"] * 2
