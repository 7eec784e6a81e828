"""The circuit breakers as every worker reports them (`connector_circuits`, written by each connector
worker: connectors/circuit_report.py). A worker not seen for `stale_after` is stale: its state is
shown but not counted, since nobody knows it any more."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from store.models.operations import ConnectorCircuit

SEVERITY = {"closed": 0, "half_open": 1, "open": 2}
STALE_BEATS = 4  # a worker that missed this many heartbeats is stale


def stale_after(settings) -> timedelta:
    return timedelta(seconds=max(settings.circuit_heartbeat_seconds * STALE_BEATS, 5))


def summarize(rows: list[dict], now: datetime, stale: timedelta) -> dict:
    """(pure) One service's circuit: the worst state among the workers still reporting ("unknown" when
    none is), and each worker's own view with `stale` set for those not seen for `stale`."""
    workers = [{**row, "stale": now - row["seen_at"] > stale} for row in sorted(rows, key=lambda r: r["worker_id"])]
    alive = [w["state"] for w in workers if not w["stale"]]
    state = max(alive, key=lambda s: SEVERITY.get(s, 0)) if alive else "unknown"
    return {"state": state, "workers": workers,
            "open_workers": sum(1 for w in workers if not w["stale"] and w["state"] == "open")}


def by_service(session, services: list[str], now: datetime, stale: timedelta) -> dict[str, dict]:
    """service -> its summary, for these services (one indexed query)."""
    rows: dict[str, list[dict]] = {s: [] for s in services}
    if services:
        for r in session.execute(select(ConnectorCircuit).where(ConnectorCircuit.service.in_(services))).scalars():
            rows[r.service].append({"worker_id": r.worker_id, "state": r.state, "changed_at": r.changed_at,
                                    "seen_at": r.seen_at})
    return {s: summarize(found, now, stale) for s, found in rows.items()}
