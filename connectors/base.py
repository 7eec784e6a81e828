"""The connector interface: canonical JSON in, canonical JSON out, one error type (R8).

A connector speaks to one declared department service (`config/connectors/<service>.yaml`).
Callers (the bus worker) only see `Connector.call` and `ConnectorError`; SOAP, REST, field
mapping, timeouts and the circuit breaker stay behind it.
"""
from __future__ import annotations

import abc
import logging
import time
from typing import TYPE_CHECKING, Any, Mapping

from prometheus_client import Counter, Histogram

from connectors import mapping
from connectors.circuit import CircuitBreaker
from connectors.errors import ERROR_CODES, ConnectorError
from kernel import tracing

__all__ = ["ERROR_CODES", "Connector", "ConnectorError"]

log = logging.getLogger("govlink.connectors")
CALLS = Counter("govlink_connector_calls_total", "Department calls by outcome (ok or error code)",
                ["service", "operation", "outcome"])
LATENCY = Histogram("govlink_connector_call_seconds", "Department call duration, failures included", ["service", "operation"])

if TYPE_CHECKING:
    from connectors.declaration import OperationDeclaration, RetryPolicy, ServiceDeclaration


class Connector(abc.ABC):
    """One declared department service. Thread-safe: one instance serves every worker thread.

    Subclasses implement `_invoke` (the wire call with the department's own field names);
    this class resolves the operation, applies the timeout and circuit breaker and maps the
    answer back to canonical fields.
    """

    def __init__(self, declaration: "ServiceDeclaration", *, breaker: CircuitBreaker | None = None):
        self.declaration = declaration
        policy = declaration.circuit_breaker
        self.circuit = breaker or CircuitBreaker(
            declaration.service, failure_threshold=policy.failure_threshold, reset_timeout=policy.reset_timeout_seconds
        )

    @property
    def service(self) -> str:
        return self.declaration.service

    @property
    def retry(self) -> "RetryPolicy":
        """How the caller (the bus) should retry transient errors of this service."""
        return self.declaration.retry

    def operations(self) -> list[str]:
        """The canonical operation names this service declares."""
        return sorted(self.declaration.operations)

    def operation(self, name: str) -> "OperationDeclaration":
        """The declaration of one operation; ConnectorError `unknown_operation` if it is not declared."""
        try:
            return self.declaration.operations[name]
        except KeyError:
            raise ConnectorError(
                "unknown_operation",
                f"Service {self.service} has no operation {name!r}; declared: {', '.join(self.operations())}.",
            ) from None

    def call(self, operation: str, payload: dict, *, timeout: float | None = None) -> dict:
        """Call `operation` with a canonical payload and return the canonical answer.

        `timeout` (seconds) overrides the declared `timeout_seconds` for this call (e.g. the time
        left of a request-reply deadline). Raises ConnectorError.
        """
        op = self.operation(operation)
        if not isinstance(payload, Mapping):
            raise ConnectorError("invalid_request", f"The payload for {self.service}/{operation} must be a JSON object.")
        if timeout is not None and timeout <= 0:
            raise ConnectorError("timeout", f"No time was left to call {self.service}/{operation}.")
        effective = float(timeout if timeout is not None else self.declaration.timeout_seconds)
        # Prepared outside the breaker: a bad payload is the caller's fault, not the department's,
        # and must be reported as such even while the circuit is open.
        request = self._prepare(op, dict(payload))
        with tracing.span(f"{self.service} {operation}", **{"govlink.service": self.service,
                                                            "govlink.operation": operation}) as span:
            return self._call(op, operation, request, effective, span)

    def _call(self, op: "OperationDeclaration", operation: str, request: Any, effective: float, span) -> dict:
        """The department call under the circuit breaker, counted, timed and mapped back."""
        started = time.monotonic()
        try:
            answer = self.circuit.call(lambda: self._invoke(op, request, effective))
            try:
                result = mapping.map_response(mapping.to_plain(answer), self._response_mapping(op))
            except mapping.MappingError as exc:
                raise ConnectorError(
                    "bad_response", f"{self.service} answered {operation} in an unexpected shape: {exc}"
                ) from None
        except ConnectorError as exc:
            self._observe(operation, exc.code, started)
            tracing.failed(span, exc.code)
            log.warning("%s/%s failed: %s", self.service, operation, exc.message,
                        extra={"service": self.service, "operation": operation, "code": exc.code, "transient": exc.transient})
            raise
        self._observe(operation, "ok", started)
        return result if isinstance(result, dict) else {"result": result}

    def _observe(self, operation: str, outcome: str, started: float) -> None:
        CALLS.labels(self.service, operation, outcome).inc()
        LATENCY.labels(self.service, operation).observe(time.monotonic() - started)

    def masked(self, operation: str, payload: Mapping) -> dict:
        """`payload` with the operation's declared personal identifiers masked, for logs."""
        op = self.declaration.operations.get(operation)
        return mapping.mask_fields(payload, op.pii if op else ())

    def close(self) -> None:
        """Release pooled connections (optional; connectors live as long as the process)."""

    def _response_mapping(self, op: "OperationDeclaration") -> Mapping[str, str] | None:
        """The response mapping to apply (SOAP resolves abbreviated paths against the WSDL)."""
        return op.response

    def _prepare(self, op: "OperationDeclaration", payload: dict) -> Any:
        """Canonical payload -> the department's request (no I/O); `invalid_request` names what is wrong."""
        try:
            return mapping.map_request(payload, op.request)
        except mapping.MappingError as exc:
            raise ConnectorError("invalid_request", f"{self.service}/{op.name}: {exc}") from None

    @abc.abstractmethod
    def _invoke(self, op: "OperationDeclaration", request: Any, timeout: float) -> Any:
        """Send one prepared request and return the department's answer as plain data."""
