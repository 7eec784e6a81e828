"""Each worker writes its circuit breakers' states to `connector_circuits`, so that the operations
console sees every worker's view of a department, not one process's memory.

A row per (worker, service): written at once when a breaker changes state (a listener of
`connectors.circuit`, which only wakes this reporter's thread: the department call never waits on
the database), and refreshed by a heartbeat every `circuit_heartbeat_seconds`. A worker that stops
writing is shown as stale by the console; its rows are deleted on a clean stop, and rows nobody
refreshed for a day are removed by any reporter.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from sqlalchemy import delete

from connectors import circuit
from kernel.clock import utcnow
from store.models.operations import ConnectorCircuit

log = logging.getLogger(__name__)

FORGET_AFTER = timedelta(days=1)


def default_worker_id(name: str = "worker") -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{name}"[:200]


class CircuitReporter:
    """Writes the states of `runtime.connectors`' breakers for one worker (start/stop)."""

    def __init__(self, runtime, *, worker_id: str | None = None, interval: float | None = None):
        self.runtime = runtime
        self.worker_id = worker_id or default_worker_id(getattr(runtime, "name", "worker"))
        self.interval = float(interval if interval is not None else runtime.settings.circuit_heartbeat_seconds)
        self._changes: dict[str, tuple[str, datetime]] = {}
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------------- the breakers' listener
    def _on_change(self, breaker, before: str, after: str) -> None:
        try:
            mine = self.runtime.connectors.get(breaker.name).circuit is breaker
        except Exception:  # noqa: BLE001 - not one of this worker's services
            mine = False
        if mine:
            with self._lock:
                self._changes[breaker.name] = (after, utcnow())
            self._wake.set()

    # -------------------------------------------------------------------- writing
    def report(self) -> int:
        """Write every service's state now (transitions with their time); return the rows written."""
        now = utcnow()
        with self._lock:
            changes, self._changes = self._changes, {}
        states = {c.service: c.circuit.state for c in self.runtime.connectors}
        with self.runtime.db.unit_of_work() as session:
            for service, state in states.items():
                row = session.get(ConnectorCircuit, (self.worker_id, service))
                changed_at = changes.get(service, (None, None))[1]
                if row is None:
                    session.add(ConnectorCircuit(worker_id=self.worker_id, service=service, state=state,
                                                 changed_at=changed_at or now, seen_at=now))
                    continue
                if row.state != state:
                    row.changed_at = changed_at or now
                row.state, row.seen_at = state, now
            session.execute(delete(ConnectorCircuit).where(ConnectorCircuit.seen_at < now - FORGET_AFTER))
        self._known = states
        return len(states)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.report()
            except Exception as exc:  # noqa: BLE001 - the database is down: try again at the next beat
                log.warning("circuit report not written (%s)", type(exc).__name__)
            self._wake.wait(self.interval)
            self._wake.clear()

    def start(self) -> "CircuitReporter":
        circuit.LISTENERS.append(self._on_change)
        self._thread = threading.Thread(target=self._run, name=f"circuit-report-{self.worker_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, *, forget: bool = True) -> None:
        """Stop reporting; with `forget`, remove this worker's rows (a clean stop is not a stale worker)."""
        if self._on_change in circuit.LISTENERS:
            circuit.LISTENERS.remove(self._on_change)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        if forget:
            try:
                with self.runtime.db.unit_of_work() as session:
                    session.execute(delete(ConnectorCircuit).where(ConnectorCircuit.worker_id == self.worker_id))
            except Exception as exc:  # noqa: BLE001
                log.warning("circuit rows of %s not removed (%s)", self.worker_id, type(exc).__name__)
