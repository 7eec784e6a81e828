"""Tracing with OpenTelemetry: one trace from the gateway's HTTP request over the bus to the department.

Off by default. `setup()` (called by the bootstrap when a process starts) installs a tracer provider
only when the standard variables ask for an exporter: `OTEL_TRACES_EXPORTER` (`otlp`, `console`, several
separated by commas; `none` turns tracing off) or an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, which the OTLP/HTTP exporter reads with its other `OTEL_EXPORTER_OTLP_*`
settings); `OTEL_SDK_DISABLED=true` wins. `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` name the process.
Without them nothing is instrumented and the few spans govlink starts itself are the API's no-op ones.

When on: the gateway's Flask app (`instrument_app`), every engine the bootstrap builds (`instrument_engine`)
and every `requests` call (so zeep's SOAP and the REST connectors) get spans, and `requests` sends the
W3C `traceparent`. The bus carries the context itself: `bus.publisher` injects it into a message's AMQP
headers in a PRODUCER span (`publish_headers`), `bus.consumer` handles the message in a CONSUMER span
continuing it (`consuming`), with the OTel propagator API (`opentelemetry.propagate`), never by hand.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
from typing import Mapping

from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

log = logging.getLogger("govlink.tracing")

KNOWN_EXPORTERS = ("otlp", "console")
UNTRACED_URLS = "healthz,readyz,metrics"  # probes and scrapes every few seconds are not worth a trace
_provider: list = []  # the one tracer provider this process installed (OpenTelemetry's is process-wide)
# URL attributes the instrumentations record; a query or a path may carry an ID number, USCC or phone.
URL_ATTRIBUTES = ("url.full", "http.url", "http.target", "url.path", "url.query")
_IDENTIFIER = re.compile(r"[0-9A-Z]{6,}[0-9A-Za-z]*|\d{6,}")


def scrubbed(value: str) -> str:
    """(pure) A URL or path without its query and with identifier-like runs (6+ digits or capitals) masked."""
    return _IDENTIFIER.sub("***", value.split("?", 1)[0].split("#", 1)[0])


def _scrub_span(span, *_args) -> None:
    """The instrumentations' hook: their URL attributes, scrubbed (they stay useful: host, route, path shape)."""
    attributes = getattr(span, "attributes", None) or {}
    for name in URL_ATTRIBUTES:
        if isinstance(attributes.get(name), str):
            span.set_attribute(name, "" if name == "url.query" else scrubbed(attributes[name]))


def exporters_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """(pure) The trace exporters the standard OTEL_* variables ask for; () means tracing stays off."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    names = tuple(n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip())
    if "none" in names:
        return ()
    unknown = [n for n in names if n not in KNOWN_EXPORTERS]
    if unknown:
        raise ValueError(f"OTEL_TRACES_EXPORTER names {', '.join(unknown)}; govlink exports traces with "
                         f"{' or '.join(KNOWN_EXPORTERS)} (or none)")
    if names:
        return names
    if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return ("otlp",)
    return ()


def active() -> bool:
    """True once `setup` installed a tracer provider in this process."""
    return bool(_provider)


def setup(service_name: str, *, exporter=None, environ: Mapping[str, str] | None = None) -> bool:
    """Install the tracer provider and instrument `requests`, if the environment asks for it (or with `exporter`,
    e.g. an in-memory one in tests, exported synchronously). Once per process; True when tracing is on."""
    if _provider:
        return True
    kinds = () if exporter is not None else exporters_from_env(environ)
    if exporter is None and not kinds:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    env = os.environ if environ is None else environ
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    for kind in kinds:
        provider.add_span_processor(BatchSpanProcessor(_exporter(kind)))
    trace.set_tracer_provider(provider)
    _provider.append(provider)
    from opentelemetry.instrumentation.requests import RequestsInstrumentor

    RequestsInstrumentor().instrument(tracer_provider=provider, request_hook=_scrub_span)
    log.info("tracing on: %s", ", ".join(kinds) or type(exporter).__name__)
    return True


def _exporter(kind: str):
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout, compression: OTEL_EXPORTER_OTLP_*


def instrument_app(app) -> None:
    """Spans for the gateway's HTTP requests (a `traceparent` sent by the caller is continued)."""
    if _provider:
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        FlaskInstrumentor().instrument_app(app, tracer_provider=_provider[0], excluded_urls=UNTRACED_URLS,
                                           response_hook=_scrub_span)


def instrument_engine(engine) -> None:
    """Spans for the statements `engine` runs."""
    if _provider:
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.metrics import get_meter

        usage = get_meter("govlink.store").create_up_down_counter("db.client.connections.usage")
        EngineTracer(trace.get_tracer("govlink.store", tracer_provider=_provider[0]), engine, usage)


@contextlib.contextmanager
def publishing(exchange: str, routing_key: str, message_id: str | None, headers: dict | None):
    """A PRODUCER span for one message; yields the headers to send, with the span's context injected
    (the headers unchanged when tracing is off)."""
    if not _provider:
        yield headers
        return
    tracer = trace.get_tracer("govlink.bus")
    with tracer.start_as_current_span(f"{exchange or '(default)'} {routing_key} publish", kind=SpanKind.PRODUCER,
                                      attributes=_messaging(exchange, routing_key, message_id)):
        carrier = dict(headers or {})
        propagate.inject(carrier)
        yield carrier


@contextlib.contextmanager
def consuming(queue: str, headers: Mapping | None, message_id: str | None):
    """A CONSUMER span continuing the trace whose context `headers` carry; yields the span (or None when off)."""
    if not _provider:
        yield None
        return
    carrier = {k: v for k, v in (headers or {}).items() if isinstance(v, str)}
    tracer = trace.get_tracer("govlink.bus")
    with tracer.start_as_current_span(f"{queue} process", context=propagate.extract(carrier), kind=SpanKind.CONSUMER,
                                      attributes={**_messaging("", queue, message_id),
                                                  "messaging.operation.type": "process"}) as span:
        yield span


@contextlib.contextmanager
def span(name: str, **attributes):
    """An INTERNAL span (e.g. one department call); yields it (or None when off)."""
    if not _provider:
        yield None
        return
    with trace.get_tracer("govlink").start_as_current_span(name, attributes=attributes) as current:
        yield current


def failed(current, code: str) -> None:
    """Mark `current` (from `consuming` or `span`) as failed with an error code (no message: it may hold personal data)."""
    if current is not None:
        current.set_status(Status(StatusCode.ERROR, code))
        current.set_attribute("govlink.error_code", code)


def _messaging(exchange: str, routing_key: str, message_id: str | None) -> dict:
    attributes = {"messaging.system": "rabbitmq", "messaging.destination.name": exchange or routing_key,
                  "messaging.rabbitmq.destination.routing_key": routing_key}
    if message_id:
        attributes["messaging.message.id"] = message_id
    return attributes
