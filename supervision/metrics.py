"""Supervision figures as Prometheus metrics, read from the database at scrape time.

A custom collector, not Gauges: under gunicorn (PROMETHEUS_MULTIPROC_DIR set) every worker process
writes its own metric files and `/metrics` builds a fresh multiprocess registry per scrape, so a
collector registered on the default registry would never be asked, and Gauges set per process
would be summed across processes. `install_metrics(app)` therefore adds this collector's output to
whatever registry `kernel.telemetry.metrics_registry()` gives, per scrape, in every mode; each
process reads the same database, so any one of them answers correctly.
"""
from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("govlink.supervision")

PREFIX = "govlink_supervision"


class SupervisionCollector:
    """Yields the statistics of the last 30 Beijing days (today included, as the API's default) per
    service and per department system: whole days, so read from the rollups, never the raw history."""

    def __init__(self, runtime, window_days: int = 30):
        self.runtime = runtime
        self.window_days = window_days

    def describe(self):
        return []  # read at scrape time only (no database access when registering)

    def collect(self):
        from supervision.statistics import last_days, statistics, unpublished_alert_count

        up = GaugeMetricFamily(f"{PREFIX}_up", "1 if the supervision figures could be read from the database")
        try:
            started = time.monotonic()
            since, until = last_days(self.window_days)
            with self.runtime.db.unit_of_work() as session:
                stats = statistics(session, since=since, until=until)
                unpublished = unpublished_alert_count(session)
            elapsed = time.monotonic() - started
        except Exception as exc:  # the database is down: say so, do not break /metrics
            log.warning("supervision metrics unavailable (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        families = {
            "steps": GaugeMetricFamily(f"{PREFIX}_steps", "Supervised steps started in the window", labels=["dimension", "key"]),
            "open": GaugeMetricFamily(f"{PREFIX}_open_steps", "Supervised steps not finished yet", labels=["dimension", "key"]),
            "overdue_rate": GaugeMetricFamily(f"{PREFIX}_overdue_ratio", "Share of steps past their deadline",
                                              labels=["dimension", "key"]),
            "failure_rate": GaugeMetricFamily(f"{PREFIX}_failure_ratio", "Share of finished steps that failed",
                                              labels=["dimension", "key"]),
            "median_ms": GaugeMetricFamily(f"{PREFIX}_step_duration_median_seconds", "Median duration of finished steps",
                                           labels=["dimension", "key"]),
            "p95_ms": GaugeMetricFamily(f"{PREFIX}_step_duration_p95_seconds", "95th percentile duration of finished steps",
                                        labels=["dimension", "key"]),
            "satisfaction": GaugeMetricFamily(f"{PREFIX}_satisfaction_average", "Average rating (1-5) of the cases involved",
                                              labels=["dimension", "key"]),
        }
        for dimension in ("service", "system", "step"):
            for group in stats[f"by_{dimension}"]:
                labels = [dimension, group["key"]]
                families["steps"].add_metric(labels, group["steps"])
                families["open"].add_metric(labels, group["open"])
                families["overdue_rate"].add_metric(labels, group["overdue_rate"])
                families["failure_rate"].add_metric(labels, group["failure_rate"])
                for name in ("median_ms", "p95_ms"):
                    if group[name] is not None:
                        families[name].add_metric(labels, group[name] / 1000.0)
                if group["satisfaction"] is not None:
                    families["satisfaction"].add_metric(labels, group["satisfaction"])
        yield from families.values()
        warnings = GaugeMetricFamily(f"{PREFIX}_open_warnings", "Overdue steps warned about and still open")
        warnings.add_metric([], stats["open_warnings"])
        yield warnings
        waiting = GaugeMetricFamily(f"{PREFIX}_alerts_unpublished",
                                    "Warnings and escalations raised but not yet confirmed by the broker (resent each check)")
        waiting.add_metric([], unpublished)
        yield waiting
        complaints = GaugeMetricFamily(f"{PREFIX}_complaints", "Complaints filed in the last 30 Beijing days, by status",
                                        labels=["status"])
        for status, count in stats["complaints"].items():
            complaints.add_metric([status], count)
        yield complaints
        scrape = GaugeMetricFamily(f"{PREFIX}_scrape_seconds", "How long reading the supervision figures took")
        scrape.add_metric([], elapsed)
        yield scrape


def install_metrics(app) -> None:
    """Make the gateway's `/metrics` include the supervision collector (see module doc)."""
    from kernel.telemetry import add_metrics_registry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SupervisionCollector(app.extensions["govlink"]))
    add_metrics_registry(app, registry)
