"""A month with 70,000 cases answers the statistics API (issue 18): no `IN` list of every case id
(PostgreSQL takes at most 65,535 parameters), and the answer equals today's definitions."""
from __future__ import annotations

import random
import uuid
from dataclasses import asdict
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import delete, insert

from kernel.clock import BEIJING
from store.models.supervision import CaseSatisfaction, SupervisionStep
from supervision import rollups
from supervision.statistics import StepRow, statistics, summarise
from tests.integration.supervision.conftest import auth

CASES = 70_000
FIRST = date(2031, 5, 1)  # a month nobody else's data is in
SINCE = datetime.combine(FIRST, time(0), tzinfo=BEIJING)


@pytest.fixture(scope="module")
def month(db):
    rng = random.Random(70_000)
    prefix = f"CITY70K-{uuid.uuid4().hex[:6]}-"
    steps, ratings = [], {}
    for i in range(CASES):
        case_id = f"{prefix}{i}"
        started = SINCE + timedelta(seconds=rng.randrange(0, 30 * 86400))
        ended = rng.random() < 0.9
        duration = rng.randrange(50, 60_000) if ended else None
        steps.append({"id": str(uuid.uuid4()), "step": "department-reply", "case_id": case_id,
                      "service": f"svc-{i % 7}", "system": f"svc-{i % 7}", "thread": str(uuid.uuid4()),
                      "start_message_id": str(uuid.uuid4()), "start_type": "service.call", "started_at": started,
                      "due_at": started + timedelta(seconds=30), "escalate_at": started + timedelta(seconds=300),
                      "ended_at": started + timedelta(milliseconds=duration) if ended else None, "duration_ms": duration,
                      "outcome": ("failed" if rng.random() < 0.05 else "ok") if ended else None,
                      "overdue": bool(duration and duration > 30_000) or (not ended and rng.random() < 0.5)})
        if i % 3 == 0:
            ratings[case_id] = rng.randrange(1, 6)
    with db.unit_of_work() as s:
        s.execute(insert(SupervisionStep), steps)
        s.execute(insert(CaseSatisfaction), [{"case_id": c, "rating": r, "subject": "city-test", "comment": None,
                                              "rated_at": SINCE + timedelta(days=2)} for c, r in ratings.items()])
        rollups.rebuild(s)
    yield steps, ratings
    with db.unit_of_work() as s:
        s.execute(delete(CaseSatisfaction).where(CaseSatisfaction.case_id.like(f"{prefix}%")))
        s.execute(delete(SupervisionStep).where(SupervisionStep.case_id.like(f"{prefix}%")))
        rollups.rebuild(s)


def _reference(steps, ratings) -> dict:
    rows = [StepRow(step=s["step"], case_id=s["case_id"], service=s["service"], system=s["system"],
                    duration_ms=s["duration_ms"], ended=s["ended_at"] is not None, overdue=s["overdue"],
                    failed=s["outcome"] == "failed") for s in steps]
    return {"totals": summarise([StepRow(**{**asdict(r), "step": "all"}) for r in rows], ratings, "step")[0].as_dict(),
            "by_service": [g.as_dict() for g in summarise(rows, ratings, "service")]}


def _same(got: dict, want: dict, *, rel: float) -> None:
    for field, value in want.items():
        if field in ("median_ms", "p95_ms"):
            assert got[field] == pytest.approx(value, rel=rel), field
        else:
            assert got[field] == value, field


def test_a_month_of_70000_cases_answers_the_statistics_api(app, month, supervisor):
    steps, ratings = month
    want = _reference(steps, ratings)
    response = app.test_client().get("/api/v1/supervision/statistics?since=2031-05-01&until=2031-05-30",
                                     headers=auth(supervisor))
    assert response.status_code == 200, response.get_json()
    stats = response.get_json()
    assert stats["totals"]["steps"] == CASES and stats["totals"]["ratings"] == len(ratings)
    _same(stats["totals"], want["totals"], rel=rollups.MAX_RELATIVE_ERROR)
    assert [g["key"] for g in stats["by_service"]] == [g["key"] for g in want["by_service"]]
    for got, expected in zip(stats["by_service"], want["by_service"]):
        _same(got, expected, rel=rollups.MAX_RELATIVE_ERROR)


def test_the_exact_path_joins_the_ratings_instead_of_listing_every_case(db, month):
    steps, ratings = month
    with db.unit_of_work() as s:
        stats = statistics(s, since=SINCE, until=SINCE + timedelta(days=30), exact_limit=10 ** 9)
    _same(stats["totals"], _reference(steps, ratings)["totals"], rel=0)
