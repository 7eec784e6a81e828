"""The working-day calendar and the pure deadline engine (with a fixed clock)."""
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from config.settings import Settings
from kernel.clock import BEIJING
from supervision.calendar import WorkingCalendar, parse_dates
from supervision.config import SupervisionConfigError, load, parse
from supervision.deadlines import DeadlineEngine, FixedClock, Limit, Rule, outcome_of

CAL = WorkingCalendar(parse_dates(["2026-10-01..2026-10-07", "2026-09-25"]), parse_dates(["2026-10-10", "2026-09-20"]))


def bj(*args):
    return datetime(*args, tzinfo=BEIJING)


def test_weekends_holidays_and_makeup_days():
    assert CAL.is_working_day(date(2026, 9, 24))  # Thursday
    assert not CAL.is_working_day(date(2026, 9, 25))  # listed holiday (Friday)
    assert not CAL.is_working_day(date(2026, 9, 26))  # Saturday
    assert CAL.is_working_day(date(2026, 9, 20))  # Sunday, but a make-up working day (调休)
    assert not CAL.is_working_day(date(2026, 10, 5))  # Monday in the National Day week
    assert CAL.is_working_day(date(2026, 10, 10))  # Saturday, make-up working day


def test_two_working_days_skip_weekend_and_holiday():
    # Thursday 24 Sep afternoon: Fri 25 is a holiday, 26/27 weekend -> Mon 28 (1), Tue 29 (2) -> due Wed 00:00.
    due = CAL.add_working_days(bj(2026, 9, 24, 15, 0), 2)
    assert due == bj(2026, 9, 30, 0, 0)
    # Across the National Day week: Wed 30 Sep -> Thu 8 (1), Fri 9 (2) -> due Sat 10 00:00.
    assert CAL.add_working_days(bj(2026, 9, 30, 9, 0), 2) == bj(2026, 10, 10, 0, 0)
    # Started on a holiday: the first working day after it counts as day 1; the make-up Saturday counts.
    assert CAL.add_working_days(bj(2026, 10, 3, 12, 0), 3) == bj(2026, 10, 11, 0, 0)
    assert CAL.add_working_days(bj(2026, 10, 3, 12, 0), 0) == bj(2026, 10, 3, 12, 0)


@given(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31)), st.integers(1, 30))
def test_add_working_days_counts_exactly_n(start, n):
    due = CAL.add_working_days(datetime.combine(start, datetime.min.time(), tzinfo=BEIJING) + timedelta(hours=10), n)
    last = (due.astimezone(BEIJING) - timedelta(seconds=1)).date()
    assert CAL.is_working_day(last)
    assert CAL.working_days_between(start + timedelta(days=1), last) == n


def test_date_ranges_parse_and_refuse_backwards():
    assert len(parse_dates(["2026-02-15..2026-02-23"])) == 9
    with pytest.raises(ValueError):
        parse_dates(["2026-02-23..2026-02-15"])


def test_shipped_config_loads():
    config = load()
    steps = {r.step for r in config.rules}
    assert {"department-reply", "payment", "results-dispatch"} <= steps
    assert not config.calendar.is_working_day(date(2026, 10, 1))
    assert config.calendar.is_working_day(date(2026, 2, 14))  # 调休 Saturday


def test_the_file_comes_from_the_settings(tmp_path, monkeypatch):
    other = tmp_path / "other-city.yaml"
    other.write_text("rules: []\ncalendar: {holidays: ['2026-05-20']}\n", encoding="utf-8")
    config = load(settings=Settings(supervision_file=str(other)))
    assert config.rules == () and not config.calendar.is_working_day(date(2026, 5, 20))
    monkeypatch.setenv("GOVLINK_SUPERVISION_FILE", str(other))  # how a process points it elsewhere
    assert load().rules == ()
    monkeypatch.delenv("GOVLINK_SUPERVISION_FILE")
    assert Settings.from_env({}).supervision_file.endswith("config/supervision.yaml") and load().rules


def test_config_errors_name_the_rule():
    with pytest.raises(SupervisionConfigError, match="payment"):
        parse({"rules": [{"step": "payment", "start": "payment.registered", "end": ["payment.paid"],
                          "limit": {"days": 7, "seconds": 3}, "escalate": {"days": 10}}]})


def _env(type_, mid, *, correlation="c1", causation=None, at, service=None, payload=None, case="CASE-1"):
    return {"message_id": mid, "type": type_, "correlation_id": correlation, "causation_id": causation,
            "service": service, "case_id": case, "issued_at": at.isoformat(), "client": "govlink/test",
            "payload": payload or {}}


RULES = [
    Rule(step="department-reply", start="service.call", end=("service.result", "service.call.failed"), pair="causation",
         limit=Limit(seconds=30), escalate=Limit(seconds=300)),
    Rule(step="department-reply", start="service.call", end=("service.result", "service.call.failed"), pair="causation",
         limit=Limit(seconds=5), escalate=Limit(seconds=60), services=("slow-registry",)),
    Rule(step="results-dispatch", start="shipment.booked", end=("shipment.picked_up",), pair="correlation",
         limit=Limit(working_days=2), escalate=Limit(working_days=4), when={"kind": "results"}),
]


def test_start_end_and_the_more_specific_rule():
    clock = FixedClock(datetime(2026, 9, 24, 7, 0, tzinfo=timezone.utc))
    engine = DeadlineEngine(RULES, CAL, clock)
    t0 = clock.now()
    call = _env("service.call", "m1", at=t0, service="population-registry")
    start = engine.start(call)
    assert start.rule.limit == Limit(seconds=30) and start.due_at == t0 + timedelta(seconds=30)
    slow = engine.start(_env("service.call", "m2", at=t0, service="slow-registry"))
    assert slow.rule.limit == Limit(seconds=5)  # the rule naming the service wins over "*"
    reply = _env("service.result", "r1", causation="m1", at=t0 + timedelta(seconds=2))
    assert engine.ends(start.rule, start.thread, reply)
    assert not engine.ends(start.rule, start.thread, {**reply, "causation_id": "other"})
    assert engine.start(_env("shipment.booked", "b1", at=t0, payload={"kind": "materials"})) is None
    booked = engine.start(_env("shipment.booked", "b2", at=t0, correlation="leg-1", payload={"kind": "results"}))
    assert booked.thread == "leg-1" and booked.due_at == bj(2026, 9, 30, 0, 0)


def test_assessment_warns_then_escalates_once_with_the_clock():
    clock = FixedClock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))
    engine = DeadlineEngine(RULES, CAL, clock)
    due, escalate = clock.now() + timedelta(seconds=30), clock.now() + timedelta(seconds=300)
    assess = lambda **kw: engine.assess(due_at=due, escalate_at=escalate, ended_at=None, **kw)
    assert not assess(warned=False, escalated=False).overdue
    clock.advance(seconds=31)
    first = assess(warned=False, escalated=False)
    assert first.overdue and first.warn and not first.escalate
    assert not assess(warned=True, escalated=False).warn
    clock.advance(seconds=300)
    late = assess(warned=True, escalated=False)
    assert late.escalate and not late.warn
    assert not assess(warned=True, escalated=True).escalate
    ended = engine.assess(due_at=due, escalate_at=escalate, ended_at=due + timedelta(seconds=1), warned=False, escalated=False)
    assert ended.overdue and not ended.warn and not ended.escalate  # late but done: counted, not warned


def test_outcomes():
    assert outcome_of({"type": "service.call.failed", "payload": {}}) == "failed"
    assert outcome_of({"type": "service.result", "payload": {"error": {"code": "fault"}}}) == "failed"
    assert outcome_of({"type": "payment.paid", "payload": {}}) == "ok"
