"""The operations console's pure decisions: circuits across workers, parking-lot growth, a job's next
run, the alerts, and a service's target without credentials."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from types import SimpleNamespace

from bus.scheduler import Job
from operations import alerts, catalogue, circuits, jobs, live, parking
from supervision.calendar_health import Coverage

NOW = datetime(2026, 12, 10, 4, 0, 30, tzinfo=timezone.utc)  # 12:00:30 in Beijing


def _row(worker, state, seen_seconds_ago=1):
    seen = NOW - timedelta(seconds=seen_seconds_ago)
    return {"worker_id": worker, "state": state, "changed_at": seen, "seen_at": seen}


def test_the_circuit_shown_is_the_worst_of_the_workers_still_reporting():
    s = circuits.summarize([_row("a", "closed"), _row("b", "open"), _row("c", "half_open")], NOW, timedelta(seconds=60))
    assert s["state"] == "open" and s["open_workers"] == 1 and [w["stale"] for w in s["workers"]] == [False] * 3
    s = circuits.summarize([_row("a", "closed"), _row("b", "open", 300)], NOW, timedelta(seconds=60))
    assert s["state"] == "closed" and s["workers"][1]["stale"] is True and s["open_workers"] == 0
    assert circuits.summarize([_row("b", "open", 300)], NOW, timedelta(seconds=60))["state"] == "unknown"
    assert circuits.summarize([], NOW, timedelta(seconds=60))["state"] == "unknown"


def test_a_parking_lot_grows_against_a_count_at_least_five_minutes_old():
    first = parking.next_sample(None, 2, NOW)
    assert not parking.growing(first)
    soon = parking.next_sample(first, 5, NOW + timedelta(minutes=1))
    assert soon["previous_count"] is None and soon["sampled_at"] == NOW and not parking.growing(soon)
    later = parking.next_sample(soon, 7, NOW + timedelta(minutes=6))
    assert later["previous_count"] == 5 and parking.growing(later)
    assert not parking.growing(parking.next_sample(later, 3, NOW + timedelta(minutes=7)))


def test_the_next_run_of_interval_and_daily_jobs():
    every = Job("poll", run=None, every_seconds=60)
    daily = Job("reconcile.daily", run=None, daily_at=time(2, 0))
    assert jobs.next_run(every, None, NOW) == NOW  # never ran: due now
    ran = {"period": every.period(NOW), "status": "succeeded"}
    assert jobs.next_run(every, ran, NOW) == datetime(2026, 12, 10, 4, 1, tzinfo=timezone.utc)
    assert jobs.next_run(every, {**ran, "status": "running"}, NOW) is None
    retry_at = NOW + timedelta(minutes=10)
    assert jobs.next_run(daily, {"period": "2026-12-10", "status": "retry", "next_attempt_at": retry_at}, NOW) == retry_at
    # ran today (Beijing): tomorrow 02:00 Beijing = 18:00 UTC today
    assert jobs.next_run(daily, {"period": "2026-12-10", "status": "succeeded"}, NOW) == datetime(2026, 12, 10, 18, 0, tzinfo=timezone.utc)
    early = datetime(2026, 12, 9, 17, 0, tzinfo=timezone.utc)  # 01:00 Beijing on the 10th: today 02:00
    assert jobs.next_run(daily, {"period": "2026-12-09", "status": "succeeded"}, early) == datetime(2026, 12, 9, 18, 0, tzinfo=timezone.utc)
    assert jobs.schedule_text(daily) == "daily 02:00 (Beijing)" and jobs.schedule_text(every) == "every 60 s"


def test_alerts_for_circuits_parking_jobs_calendar_and_warnings():
    state = circuits.summarize([_row("a", "open")], NOW, timedelta(seconds=60))
    found = alerts.circuit_alerts({"svc": state, "ok": circuits.summarize([_row("a", "closed")], NOW, timedelta(60))})
    assert [(a["kind"], a["subject"], a["severity"]) for a in found] == [("circuit_open", "svc", "critical")]
    found = alerts.parking_alerts({"a": 11, "b": 3, "c": 2, "d": None, "e": 0},
                                  {"b": {"count": 3, "previous_count": 1}, "c": {"count": 2, "previous_count": 2}}, 10)
    assert [a["subject"] for a in found] == ["a", "b"] and "up from 1" in found[1]["message"]
    run = {"period": "2026-12-10", "status": "failed", "attempts": 6, "outcome": "RuntimeError: x"}
    found = alerts.job_alerts([{"name": "reconcile.daily", "last_run": run}, {"name": "poll", "last_run": None}])
    assert [a["subject"] for a in found] == ["reconcile.daily"]
    coverage = Coverage(NOW.date(), (2025, 2026), (2027,))
    assert alerts.calendar_alerts(coverage)[0]["severity"] == "warning"
    assert alerts.calendar_alerts(Coverage(NOW.date(), (2026, 2027), ())) == []
    warning = {"level": "escalation", "step": "call", "case_id": "C1", "service": "s", "system": None, "due_at": NOW,
               "warned_at": NOW}
    assert alerts.warning_alerts([warning])[0]["kind"] == "supervision_escalation"
    ordered = alerts.ordered([{"severity": "warning"}, {"severity": "critical"}, {"severity": "info"}])
    assert [a["severity"] for a in ordered] == ["critical", "warning", "info"]


def test_error_rate_and_the_target_without_credentials():
    assert live.error_rate(0, 0) is None and live.error_rate(3, 1) == 0.25
    soap = SimpleNamespace(kind="soap", endpoint="http://user:secret@dept.example:8080/ws", wsdl=None, base_url=None,
                           openapi=None)
    assert catalogue.target_of(soap) == "http://dept.example:8080/ws"
    rest = SimpleNamespace(kind="rest", endpoint=None, wsdl=None, base_url="https://licence.example/api", openapi=None)
    assert catalogue.target_of(rest) == "https://licence.example/api"


def test_hour_figures_on_the_embedded_database(tmp_path):
    """SQLite (make run's default): the same figures, the p95 picked by ORDER BY ... OFFSET; the 0019
    migration runs there too."""
    from store import migrate
    from store.db import Database
    from store.models.bus import ServiceCall

    db = Database(f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    migrate.upgrade(db)
    with db.unit_of_work() as s:
        for n in range(1, 21):  # 20 calls in the hour: 1..20 ms, the last two failed
            s.add(ServiceCall(message_id=f"m{n}", service="svc", operation="op", client="c", status="failed" if n > 18
                              else "succeeded", created_at=NOW - timedelta(minutes=n), duration_ms=n))
        s.add(ServiceCall(message_id="old", service="svc", operation="op", client="c", status="failed",
                          created_at=NOW - timedelta(hours=2), duration_ms=999))
        s.add(ServiceCall(message_id="open", service="svc", operation="op", client="c", status="accepted",
                          created_at=NOW - timedelta(minutes=1)))
    with db.unit_of_work() as s:
        figures = live.hour_figures(s, ["svc", "idle"], NOW)
    assert figures["svc"] == {"calls": 21, "succeeded": 18, "errors": 2, "error_rate": 0.1, "p95_ms": 19}
    assert figures["idle"]["calls"] == 0 and figures["idle"]["p95_ms"] is None
    db.dispose()


def test_every_alert_message_code_has_a_text_in_both_languages_filled_by_its_params():
    """Gap 2: the console translates an alert's message by its code; the API's code and English text stay."""
    import re
    from pathlib import Path

    from routes.console_i18n import catalogue, coded_text, translator

    source = (Path(__file__).resolve().parents[2] / "operations" / "alerts.py").read_text()
    source += (Path(__file__).resolve().parents[2] / "operations" / "board.py").read_text()
    codes = set(re.findall(r'"code": "([a-z_]+)"', source)) | set(re.findall(r'code, text = "([a-z_]+)"', source))
    codes |= {"circuit_open", "circuit_half_open"}  # f"circuit_{state}"
    assert {"job_failed", "job_owner_lost", "job_lease_expired", "bus_unavailable", "deadline_passed"} <= codes
    for lang in ("zh", "en"):
        assert {f"alert_msg_{c}" for c in codes} <= set(catalogue(lang)["operations"]), lang
    zh = translator("zh", "operations")
    params = {"job": "reconcile.daily", "period": "2026-12-06", "attempts": 6, "outcome": "RuntimeError"}
    assert coded_text(zh, "job_failed", params, "english") == "reconcile.daily（2026-12-06）经 6 次尝试后失败：RuntimeError"
    assert coded_text(zh, "no_such_code", params, "english") == "english"
    assert coded_text(zh, "job_failed", {}, "english") == "english"  # a text naming a missing value: the English one
