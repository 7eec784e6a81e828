"""One in-memory span exporter for the test process (OpenTelemetry's tracer provider is set once per process).

`recording()` turns it on for one test and clears it; between such tests nothing is kept, so the spans
of the rest of the suite do not pile up in memory.
"""
from __future__ import annotations

import contextlib

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class SwitchedExporter(InMemorySpanExporter):
    def __init__(self):
        super().__init__()
        self.on = False

    def export(self, spans):
        return super().export(spans) if self.on else super().export(())


_EXPORTER: list[SwitchedExporter] = []
_PROVIDER: list = []  # the provider `tracing.setup` installed, kept while tracing is switched off


@contextlib.contextmanager
def recording():
    """The test process's exporter, recording until the block ends."""
    from kernel import tracing

    if not _EXPORTER:
        _EXPORTER.append(SwitchedExporter())
        assert tracing.setup("govlink-tests", exporter=_EXPORTER[0]), "tracing was set up with another exporter"
        _PROVIDER.extend(tracing._provider)
    elif not tracing._provider:
        tracing._provider.extend(_PROVIDER)  # on again for this block (the provider itself is process-wide)
    exporter = _EXPORTER[0]
    exporter.clear()
    exporter.on = True
    try:
        yield exporter
    finally:
        exporter.on = False
        exporter.clear()
        # Off again for the rest of the suite: apps and engines made later are not instrumented, as in a
        # process with no OTEL_* settings (a gateway whose wsgi_app the OpenTelemetry middleware wrapped
        # broke the token-reads tests that reach below Flask).
        tracing._provider.clear()
