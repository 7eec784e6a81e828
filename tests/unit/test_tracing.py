"""Tracing (kernel/tracing.py): off unless the standard OTEL_* variables ask for it; the W3C trace context
travels in the AMQP headers from the publisher to the consumer."""
from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import pika
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from bus.consumer import ConsumerRunner, RetryPolicy
from bus.envelope import encode, new_envelope
from bus.publisher import Publisher
from bus.topology import service_queue
from kernel.tracing import exporters_from_env
from tests.support.tracing import recording


@pytest.mark.parametrize("environ, expected", [
    ({}, ()),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ("otlp",)),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ("otlp",)),
    ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",)),
    ({"OTEL_TRACES_EXPORTER": "console, otlp"}, ("console", "otlp")),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ()),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, ()),
])
def test_the_exporter_comes_from_the_standard_variables_and_is_off_by_default(environ, expected):
    assert exporters_from_env(environ) == expected


def test_an_unknown_exporter_is_refused_with_the_variable_named():
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        exporters_from_env({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_without_otel_variables_nothing_is_installed_nor_instrumented():
    code = ("import os, requests\n"
            "for k in [k for k in os.environ if k.startswith('OTEL_')]: del os.environ[k]\n"
            "send = requests.Session.send\n"
            "from kernel import tracing\n"
            "from opentelemetry import trace\n"
            "print(tracing.setup('govlink-gateway'), tracing.active(), type(trace.get_tracer_provider()).__name__,\n"
            "      requests.Session.send is send)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split() == ["False", "False", "ProxyTracerProvider", "True"]


def test_a_published_message_carries_the_trace_context_of_its_publish_span():
    publisher = Publisher("amqp://govlink:govlink@127.0.0.1:1/%2F")  # never started: publish() only queues
    with recording() as exporter:
        with trace.get_tracer("test").start_as_current_span("request") as parent:
            publisher.publish("govlink.commands", "svc.op", b"{}", message_id="m-1", headers={"x-kept": "1"})
        headers = publisher._outbox[0].properties.headers
        (publish,) = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.PRODUCER]
    assert headers["x-kept"] == "1"
    trace_id, span_id = headers["traceparent"].split("-")[1:3]
    assert int(trace_id, 16) == parent.get_span_context().trace_id == publish.context.trace_id
    assert int(span_id, 16) == publish.context.span_id and publish.parent.span_id == parent.get_span_context().span_id
    assert publish.name == "govlink.commands svc.op publish"
    assert publish.attributes["messaging.message.id"] == "m-1"


def test_a_consumed_message_is_handled_in_a_span_continuing_the_publishers_trace():
    seen = []

    def handler(delivery):
        seen.append(trace.get_current_span().get_span_context())

    runner = ConsumerRunner("amqp://govlink:govlink@127.0.0.1:1/%2F", service_queue("traced"), handler,
                            publisher=SimpleNamespace(), retry=RetryPolicy(attempts=1))
    envelope = new_envelope("service.call", {}, client="govlink/test", service="traced", operation="op")
    with recording() as exporter:
        with trace.get_tracer("test").start_as_current_span("publisher side") as sender:
            carrier = {}
            from opentelemetry import propagate

            propagate.inject(carrier)
        props = pika.BasicProperties(headers={**carrier, "x-govlink-retries": 0}, message_id=envelope["message_id"])
        runner._process(SimpleNamespace(redelivered=False, delivery_tag=1), props, encode(envelope))
        (consume,) = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert consume.context.trace_id == sender.get_span_context().trace_id
    assert consume.parent.span_id == sender.get_span_context().span_id and consume.parent.is_remote
    assert seen[0].span_id == consume.context.span_id  # the handler runs inside the consume span
    assert consume.name == "svc.traced process"
    assert json.loads(encode(envelope))["message_id"] == consume.attributes["messaging.message.id"]


def test_urls_in_spans_lose_their_query_and_identifiers():
    from kernel.tracing import scrubbed

    assert scrubbed("http://dept:8100/e-licence/licences?holder_id=340104198803090317") == "http://dept:8100/e-licence/licences"
    assert scrubbed("/api/v1/people/340104198803090317/licences#x") == "/api/v1/people/***/licences"
    assert scrubbed("/api/v1/enterprises/91340100MA2N0X1234") == "/api/v1/enterprises/***"


def test_an_outgoing_request_is_a_client_span_without_the_identifier_it_carried():
    import requests

    from kernel.process_endpoint import start_process_endpoint

    server = start_process_endpoint("127.0.0.1", 0, health=lambda: (True, None), token="t")
    try:
        with recording() as exporter:
            requests.get(f"http://127.0.0.1:{server.port}/healthz?holder_id=340104198803090317", timeout=5)
            (client,) = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
    finally:
        server.stop()
    recorded = " ".join(str(v) for v in client.attributes.values())
    assert f"127.0.0.1:{server.port}/healthz" in recorded and "340104198803090317" not in recorded
