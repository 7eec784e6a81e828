"""What the console's pages gather: the services with their live state, and the alerts."""
from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError

from operations import alerts as decide
from operations import catalogue, circuits, jobs as scheduled, live, parking
from reconciliation.job_leases import attention_rows, lease_of
from supervision.statistics import open_warnings

log = logging.getLogger(__name__)


def _parked(runtime, names: list[str]) -> tuple[dict[str, int | None], bool]:
    """Parked counts, and whether the bus answered (a page still renders when RabbitMQ is down)."""
    try:
        return parking.counts(runtime, names), True
    except Exception as exc:  # noqa: BLE001 - the bus is down: show the rest
        log.warning("parking lots not counted (%s)", type(exc).__name__)
        return {name: None for name in names}, False


def services(runtime, now, only: str | None = None) -> list[dict]:
    """Every declared service (or `only`), with its hour's figures, its circuit across workers and its
    parking lot (count, growing or not)."""
    described = [s for s in catalogue.services(runtime) if only is None or s["service"] == only]
    names = [s["service"] for s in described]
    counts, bus_ok = _parked(runtime, names)
    with runtime.db.unit_of_work() as session:
        figures = live.hour_figures(session, names, now)
        states = circuits.by_service(session, names, now, circuits.stale_after(runtime.settings))
    try:
        with runtime.db.unit_of_work() as session:
            samples = parking.observe(session, counts, now)
    except IntegrityError:  # another page view kept the first sample of a lot at the same moment
        samples = {name: {"count": count, "previous_count": None} for name, count in counts.items()}
    return [{**s, "live": figures[s["service"]], "circuit": states[s["service"]],
             "parked": counts[s["service"]], "parked_growing": parking.growing(samples.get(s["service"], {})),
             "parking_sample": samples.get(s["service"], {}), "bus_available": bus_ok} for s in described]


def alerts(runtime, jobs: dict, now, coverage) -> list[dict]:
    """Every alert now, most severe first."""
    board = services(runtime, now)
    with runtime.db.unit_of_work() as session:
        warnings = open_warnings(session, limit=100)
        runs = scheduled.overview(session, jobs, now)
        finance_jobs = attention_rows(session, now)
    counts = {s["service"]: s["parked"] for s in board}
    samples = {s["service"]: s["parking_sample"] for s in board}
    found = (decide.circuit_alerts({s["service"]: s["circuit"] for s in board})
             + decide.parking_alerts(counts, samples, runtime.settings.parking_alert_threshold)
             + decide.job_alerts(runs) + decide.calendar_alerts(coverage) + decide.warning_alerts(warnings)
             + decide.reconciliation_job_alerts(finance_jobs, now, lease_of(runtime.settings)))
    if board and not board[0]["bus_available"]:
        found.append({"kind": "bus_unavailable", "severity": "critical", "subject": "rabbitmq",
                      "code": "bus_unavailable", "params": {}, "message": "the parking lots could not be read: RabbitMQ did not answer"})
    return decide.ordered(found)
