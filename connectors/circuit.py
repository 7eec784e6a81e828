"""A circuit breaker per department endpoint: a dead system fails fast and recovers by itself.

States: `closed` (calls pass; consecutive transient failures are counted), `open` (calls fail
at once with ConnectorError `circuit_open`, no network), `half_open` (after the reset timeout,
one trial call passes; success closes the circuit, a transient failure opens it again).

Transient failures (timeouts, connection errors, HTTP 5xx) and answers that are not what the
protocol promises (`bad_response`: an HTML error page, an empty body) count: a SOAP fault or a 404
proves the department is alive and closes the circuit. Errors that may not have reached the
department (an invalid request, a configuration error) change nothing. The clock is injectable so tests need not sleep.

Every breaker alive in the process is read at scrape time by a collector on the default registry:
`govlink_circuit_state{service, state}` is 1 for the state a caller arriving now would find, 0 for the others.
"""
from __future__ import annotations

import logging
import itertools
import threading
import time
import weakref
from typing import Callable, TypeVar

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

from connectors.errors import ConnectorError

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
# Errors that say nothing about the endpoint's health (they may be raised before anything is sent).
NEUTRAL_CODES = frozenset({"invalid_request", "misconfigured", "unknown_operation", "forbidden"})
# Non-transient errors that still say the endpoint is unhealthy (an HTML error page, an empty body).
FAILURE_CODES = frozenset({"bad_response"})
STATES = (CLOSED, OPEN, HALF_OPEN)
_ALIVE: "weakref.WeakSet[CircuitBreaker]" = weakref.WeakSet()  # what the collector below reads
_SEQUENCE = itertools.count()

# Called as listener(breaker, before, after) after each state change, outside the breaker's lock
# (the worker's circuit report, connectors/circuit_report.py). A listener's error is logged, not raised.
LISTENERS: list[Callable[["CircuitBreaker", str, str], None]] = []


class CircuitBreaker:
    """Thread-safe closed/open/half-open state machine for one endpoint."""

    def __init__(self, name: str, *, failure_threshold: int = 5, reset_timeout: float = 30.0,
                 clock: Callable[[], float] = time.monotonic):
        if failure_threshold < 1 or reset_timeout <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_timeout > 0")
        self.name = name
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_running = False
        self._created = next(_SEQUENCE)  # a reload's new breaker for a service outranks the old one
        _ALIVE.add(self)

    @property
    def state(self) -> str:
        """`closed`, `open` or `half_open` as a caller arriving now would find it."""
        with self._lock:
            if self._state == OPEN and self._clock() - self._opened_at >= self.reset_timeout:
                return HALF_OPEN
            return self._state

    def before_call(self) -> None:
        """Admit a call or raise ConnectorError `circuit_open` (transient) without touching the network."""
        before = self._state
        try:
            self._admit()
        finally:
            self._changed(before)

    def _admit(self) -> None:
        with self._lock:
            if self._state == CLOSED:
                return
            if self._state == OPEN:
                waited = self._clock() - self._opened_at
                if waited < self.reset_timeout:
                    raise self._open_error(self.reset_timeout - waited)
                self._state = HALF_OPEN
            # Half-open: exactly one trial call at a time; the rest keep failing fast.
            if self._trial_running:
                raise self._open_error(0.0)
            self._trial_running = True

    def record_success(self) -> None:
        """The endpoint answered: close the circuit and forget earlier failures."""
        with self._lock:
            before, self._state = self._state, CLOSED
            self._failures = 0
            self._trial_running = False
        self._changed(before)

    def record_failure(self) -> None:
        """A transient failure: count it, and open the circuit at the threshold or after a failed trial."""
        with self._lock:
            before = self._state
            self._trial_running = False
            self._failures += 1
            if self._state == HALF_OPEN or self._failures >= self.failure_threshold:
                self._state = OPEN
                self._opened_at = self._clock()
        self._changed(before)

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` under the breaker; ConnectorErrors that are transient count as failures."""
        self.before_call()
        try:
            result = fn()
        except ConnectorError as exc:
            if (exc.transient or exc.code in FAILURE_CODES) and exc.code != "circuit_open":
                self.record_failure()
            elif exc.code in NEUTRAL_CODES:
                self._release()
            else:
                self.record_success()
            raise
        except BaseException:
            self._release()  # a bug on our side says nothing about the endpoint
            raise
        self.record_success()
        return result

    def _changed(self, before: str) -> None:
        """Tell the listeners when the state moved (an open circuit opened again is no change)."""
        after = self._state
        if after == before:
            return
        for listener in list(LISTENERS):
            try:
                listener(self, before, after)
            except Exception:  # noqa: BLE001 - a report must never break a department call
                logging.getLogger(__name__).warning("circuit listener failed", exc_info=True)

    def _release(self) -> None:
        """Neither success nor failure: only free a half-open trial slot."""
        with self._lock:
            self._trial_running = False

    def _open_error(self, remaining: float) -> ConnectorError:
        return ConnectorError(
            "circuit_open",
            f"{self.name} is failing; calls are suspended for {remaining:.1f} s more before a trial call.",
            details={"retry_after_seconds": round(remaining, 3), "service": self.name},
        )


class CircuitCollector:
    """`govlink_circuit_state` of every breaker alive in this process (the newest one per service)."""

    def describe(self):
        yield self._family()

    def collect(self):
        family = self._family()
        newest: dict[str, CircuitBreaker] = {}
        for breaker in list(_ALIVE):
            if breaker.name not in newest or breaker._created > newest[breaker.name]._created:
                newest[breaker.name] = breaker
        for name, breaker in sorted(newest.items()):
            current = breaker.state
            for state in STATES:
                family.add_metric([name, state], 1 if state == current else 0)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("govlink_circuit_state", "1 for the state each department's circuit breaker is in "
                                 "(closed, open, half_open), 0 for the others", labels=["service", "state"])


REGISTRY.register(CircuitCollector())
