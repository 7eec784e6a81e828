"""Statistics from rollups (issue 18) equal today's definitions (`summarise`, the reference) on small
data: on the embedded SQLite, with the exact path switched off so the rollups answer."""
from __future__ import annotations

import random
import uuid
from dataclasses import asdict
from datetime import date, datetime, time, timedelta, timezone

import pytest

from bus.envelope import new_envelope
from bus.message_log.chain import append
from kernel.clock import BEIJING
from store import migrate
from store.db import Database
from store.models.supervision import CaseSatisfaction, SupervisionRollup, SupervisionStep
from supervision import feedback, rollups
from supervision.check import CheckReport, ingest
from supervision.config import load
from supervision.statistics import StepRow, percentile, statistics, summarise

DAY0 = date(2031, 3, 2)  # a Sunday, far from every other test's data
SINCE = datetime.combine(DAY0, time(0), tzinfo=BEIJING)
UNTIL = SINCE + timedelta(days=30)
SERVICES = ["svc-a", "svc-b", None]
SYSTEMS = {"department-reply": None, "payment": "payment/nontax", "results-dispatch": "courier/sf"}


@pytest.fixture()
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'stats.sqlite3'}")
    migrate.upgrade(database)
    yield database
    database.dispose()


def test_buckets_are_exact_below_1024_ms_and_within_the_stated_error_above():
    assert [rollups.bucket(v) for v in (0, 1, 1023)] == [0, 1, 1023]
    for v in (1024, 1500, 30_000, 7 * 86_400_000):
        assert abs(rollups.value_of(rollups.bucket(v)) - v) / v <= rollups.MAX_RELATIVE_ERROR + 1e-12
    values = [random.Random(3).randrange(0, 1024) for _ in range(101)]
    histogram = {}
    for v in values:
        histogram[v] = histogram.get(v, 0) + 1
    for q in (0, 50, 95, 100):
        assert rollups.histogram_percentile(histogram, q) == percentile(values, q)
    assert rollups.histogram_percentile({}, 50) is None


def _random_steps(rng: random.Random, n: int, *, slow: bool) -> list[SupervisionStep]:
    steps = []
    for i in range(n):
        step = rng.choice(list(SYSTEMS))
        service = rng.choice(SERVICES)
        system = SYSTEMS[step] or service
        started = SINCE + timedelta(seconds=rng.randrange(0, 30 * 86400))
        ended = rng.random() < 0.8
        duration = (rng.randrange(1, 900_000) if slow else rng.randrange(0, 1024)) if ended else None
        failed = ended and rng.random() < 0.1
        steps.append(SupervisionStep(
            id=str(uuid.uuid4()), step=step, case_id=f"C{rng.randrange(0, n // 3 + 1)}" if rng.random() < 0.95 else None,
            service=service, system=system, thread=str(uuid.uuid4()), start_message_id=str(uuid.uuid4()), start_type="x",
            started_at=started, due_at=started + timedelta(minutes=5), escalate_at=started + timedelta(minutes=10),
            ended_at=started + timedelta(milliseconds=duration) if ended else None, duration_ms=duration,
            outcome=("failed" if failed else "ok") if ended else None, overdue=rng.random() < 0.2))
    return steps


def _reference(steps, ratings) -> dict:
    """Today's definitions over the raw rows (the old statistics' body)."""
    rows = [StepRow(step=s.step, case_id=s.case_id, service=s.service, system=s.system, duration_ms=s.duration_ms,
                    ended=s.ended_at is not None, overdue=s.overdue, failed=s.outcome == "failed") for s in steps]
    cases = {r.case_id for r in rows if r.case_id}
    ratings = {c: r for c, r in ratings.items() if c in cases}
    totals = summarise([StepRow(**{**asdict(r), "step": "all"}) for r in rows], ratings, "step")
    return {"totals": totals[0].as_dict(), **{f"by_{d}": [g.as_dict() for g in summarise(rows, ratings, d)]
                                              for d in ("service", "system", "step")}}


def _load(db, steps, ratings):
    with db.unit_of_work() as s:
        s.add_all(steps)
        for case_id, rating in ratings.items():
            s.add(CaseSatisfaction(case_id=case_id, rating=rating, subject="someone", rated_at=SINCE + timedelta(days=3)))
    with db.unit_of_work() as s:
        rollups.rebuild(s)


def _compare(got: dict, want: dict, *, exact_percentiles: bool) -> None:
    for name in ("totals", "by_service", "by_system", "by_step"):
        g_list = got[name] if name != "totals" else [got[name]]
        w_list = want[name] if name != "totals" else [want[name]]
        assert [g["key"] for g in g_list] == [w["key"] for w in w_list]
        for g, w in zip(g_list, w_list):
            for field in ("median_ms", "p95_ms"):
                if exact_percentiles or w[field] is None:
                    assert g[field] == w[field], (name, g["key"], field)
                else:
                    assert g[field] == pytest.approx(w[field], rel=rollups.MAX_RELATIVE_ERROR), (name, g["key"], field)
            rest = lambda d: {k: v for k, v in d.items() if k not in ("median_ms", "p95_ms")}  # noqa: E731
            assert rest(g) == rest(w), (name, g["key"])


@pytest.mark.parametrize("slow", [False, True], ids=["durations-under-1024ms", "durations-up-to-15min"])
def test_rollups_answer_todays_definitions(db, slow):
    rng = random.Random(18)
    steps = _random_steps(rng, 3000, slow=slow)
    ratings = {f"C{i}": rng.randrange(1, 6) for i in range(0, 1000, 3)}
    _load(db, steps, ratings)
    want = _reference(steps, ratings)
    with db.unit_of_work() as s:
        from_rollups = statistics(s, since=SINCE, until=UNTIL, exact_limit=0)
        exact = statistics(s, since=SINCE, until=UNTIL)  # 3,000 steps: the exact path
    _compare(from_rollups, want, exact_percentiles=not slow)
    _compare(exact, want, exact_percentiles=True)
    assert from_rollups["satisfaction"] == exact["satisfaction"] and exact["satisfaction"]["ratings"] == len(ratings)


def test_a_period_counts_only_its_days_and_a_service_filter_keeps_the_definitions(db):
    rng = random.Random(7)
    steps = _random_steps(rng, 2000, slow=True)
    ratings = {f"C{i}": rng.randrange(1, 6) for i in range(0, 700, 2)}
    _load(db, steps, ratings)
    since, until = SINCE + timedelta(days=5), SINCE + timedelta(days=12)
    inside = [s for s in steps if since <= s.started_at < until]
    # A case counts in a group on the day of its first step there: keep cases wholly inside.
    straddling = {s.case_id for s in steps if s.case_id and not since <= s.started_at < until} & {s.case_id for s in inside}
    ratings_inside = {c: r for c, r in ratings.items() if c not in straddling}
    with db.unit_of_work() as s:
        for case_id in straddling:
            s.delete(s.get(CaseSatisfaction, case_id)) if s.get(CaseSatisfaction, case_id) else None
    with db.unit_of_work() as s:
        rollups.rebuild(s)
        got = statistics(s, since=since, until=until, exact_limit=0)
        one = statistics(s, since=since, until=until, service="svc-a", exact_limit=0)
    _compare(got, _reference(inside, ratings_inside), exact_percentiles=False)
    svc = [x for x in inside if x.service == "svc-a"]
    _compare(one, _reference(svc, ratings_inside), exact_percentiles=False)


def _envelope(type_, payload, issued, **kw):
    envelope = new_envelope(type_, payload, client="channel/web-portal", **kw)
    envelope["issued_at"] = issued.isoformat()
    return envelope


def test_the_check_keeps_the_rollups_as_it_closes_steps_and_ratings_count_once(db):
    """Steps closed by the check and a rating given before the check read the steps: the rollups
    equal a rebuild from the raw rows, and the statistics equal the reference."""
    t0 = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    entries = []
    for i in range(40):
        call = _envelope("service.call", {"i": i}, t0 + timedelta(seconds=i), service=f"svc-{i % 3}", operation="q",
                         case_id=f"K{i % 10}")
        entries.append((call, "in"))
        if i % 4:
            kind = "service.call.failed" if i % 7 == 0 else "service.result"
            reply = _envelope(kind, {"ok": True}, t0 + timedelta(seconds=i, milliseconds=200 + 20 * i),
                              service=call["service"], case_id=call["case_id"], causation_id=call["message_id"],
                              correlation_id=call["correlation_id"])
            entries.append((reply, "out"))
    with db.unit_of_work() as s:
        append(s, entries[:30])
        s.add(CaseSatisfaction(case_id="K9", rating=2, subject="x", rated_at=t0))  # no step of K9 read yet
        feedback.credit_rating(s, "K9")
    engine = load().engine()
    ingest(db, engine, CheckReport())
    with db.unit_of_work() as s:
        s.add(CaseSatisfaction(case_id="K1", rating=5, subject="x", rated_at=t0))
        feedback.credit_rating(s, "K1")
        append(s, entries[30:])
    ingest(db, engine, CheckReport())
    with db.unit_of_work() as s:
        kept = {(r.span, r.day, r.step, r.service, r.system): (r.finished, r.overdue, r.failed, r.histogram)
                for r in s.query(SupervisionRollup)}
        since, until = datetime.combine(t0.astimezone(BEIJING).date(), time(0), tzinfo=BEIJING), None
        until = since + timedelta(days=2)
        incremental = statistics(s, since=since, until=until, exact_limit=0)
        steps = s.query(SupervisionStep).all()
    with db.unit_of_work() as s:
        rollups.rebuild(s)
        rebuilt = {(r.span, r.day, r.step, r.service, r.system): (r.finished, r.overdue, r.failed, r.histogram)
                   for r in s.query(SupervisionRollup)}
    assert kept == rebuilt and sum(v[0] for k, v in kept.items() if k[0] == "D") == 30
    assert sum(v[0] for k, v in kept.items() if k[0] == "W") == 30
    _compare(incremental, _reference(steps, {"K9": 2, "K1": 5}), exact_percentiles=True)
    assert incremental["totals"]["ratings"] == 2 and incremental["totals"]["satisfaction"] == 3.5


def test_histograms_encode_decode_and_merge_like_counters():
    rng = random.Random(5)
    parts = [[rollups.bucket(rng.randrange(0, 10 ** rng.randrange(1, 9))) for _ in range(rng.randrange(0, 50))]
             for _ in range(40)]
    merged, want = rollups.Histogram(), {}
    for part in parts:
        counter = {}
        for b in part:
            counter[b] = counter.get(b, 0) + 1
            want[b] = want.get(b, 0) + 1
        stored = rollups.Histogram.of(counter).encode()
        assert isinstance(stored, bytes) and rollups.Histogram.decode(stored).as_dict() == counter
        merged.add(rollups.Histogram.decode(stored))
    assert merged.as_dict() == want
    assert rollups.histogram_percentile(merged, 95) == rollups.histogram_percentile(want, 95)


def test_a_period_is_read_as_its_whole_weeks_and_the_days_around_them():
    d = date(2031, 3, 4)  # a Tuesday
    assert rollups.spans(d, d + timedelta(days=30)) == \
        ((date(2031, 3, 10), date(2031, 3, 31)), [(d, date(2031, 3, 10)), (date(2031, 3, 31), date(2031, 4, 3))])
    assert rollups.spans(d, d + timedelta(days=6)) == ((d, d), [(d, d + timedelta(days=6))])
    monday = date(2031, 3, 3)
    assert rollups.spans(monday, monday + timedelta(days=14)) == ((monday, monday + timedelta(days=14)),
                                                                  [(monday, monday), (monday + timedelta(days=14),) * 2])


def test_complaint_counts_cover_the_period_only(db):
    """/metrics and the statistics count the complaints filed in their period, not every complaint ever."""
    now = datetime.now(timezone.utc)
    with db.unit_of_work() as s:
        old = feedback.file_complaint(s, "CASE-OLD", "subject-1", "太慢")
        old.created_at = now - timedelta(days=400)
        feedback.file_complaint(s, "CASE-NEW", "subject-2", "太慢")
        closed = feedback.file_complaint(s, "CASE-NEW-2", "subject-3", "太慢")
        closed.status = "closed"
    with db.unit_of_work() as s:
        counts = statistics(s, since=now - timedelta(days=30), until=now + timedelta(days=1))["complaints"]
        assert counts == {"filed": 1, "assigned": 0, "replied": 0, "closed": 1}
        assert feedback.complaint_counts(s, since=now - timedelta(days=500), until=now + timedelta(days=1))["filed"] == 2
