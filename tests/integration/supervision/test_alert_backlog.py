"""Alerts not yet published drain in one check, batch after batch (issue 18).

Alert rows wait in the table until the broker confirms them (a broker outage leaves them there). The
check published one batch of the oldest a minute, so after an outage a backlog of 30,000 warnings took half
an hour to go out and every new warning waited behind it. It now reads batch after batch until the backlog
is empty, within a time budget; a batch in which the broker refuses anything ends the round (the next check
resends), so a broker that is down is not asked again and again. How many wait is on /metrics
(`govlink_supervision_alerts_unpublished`), so an operator sees a bus that keeps refusing them.
"""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from bootstrap.runtime import Runtime
from store.models.supervision import SupervisionAlert, SupervisionStep
from supervision.check import CheckReport, publish_alerts, raise_alerts
from supervision.metrics import SupervisionCollector
from supervision.deadlines import DeadlineEngine, FixedClock
from tests.integration.supervision.test_check_due_work import NOW, _remove, _step


def _alerts(db, service, n):
    """`n` warnings of steps of `service`, raised and not published."""
    with db.unit_of_work() as s:
        s.add_all(_step(service, due=-timedelta(minutes=m + 1), escalate=timedelta(hours=4)) for m in range(n))
    report = CheckReport()
    raise_alerts(db, DeadlineEngine([], None, FixedClock(NOW)), report, services=(service,))
    assert report.warnings == n


def _unpublished(db, service) -> int:
    with db.unit_of_work() as s:
        steps = select(SupervisionStep.id).where(SupervisionStep.service == service)
        return s.execute(select(func.count()).select_from(SupervisionAlert)
                         .where(SupervisionAlert.step_id.in_(steps), SupervisionAlert.published_at.is_(None))).scalar_one()


def _gauge(runtime, name: str) -> float:
    families = {f.name: f for f in SupervisionCollector(runtime).collect()}
    assert name in families, sorted(families)
    return families[name].samples[0].value


@pytest.fixture
def runtime(settings):
    rt = Runtime(settings, name=f"alert-backlog-{uuid.uuid4().hex[:6]}")
    yield rt
    rt.close()


def _reads(db):
    """Counts the check's reads of the unpublished alerts."""
    seen = []

    def count(conn, cursor, statement, params, context, executemany):
        if "FROM supervision_alerts" in statement and "published_at IS NULL" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    return seen, lambda: event.remove(db.engine, "before_cursor_execute", count)


def test_a_backlog_of_alerts_goes_out_in_one_check(runtime, db):
    service = f"drain-{uuid.uuid4().hex[:8]}"
    _alerts(db, service, 5)
    try:
        report = CheckReport()
        publish_alerts(runtime, report, batch=2)  # five waiting, two a batch
        assert _unpublished(db, service) == 0
        assert report.published >= 5
    finally:
        _remove(db, service)


def test_a_refused_batch_ends_the_round(runtime, db):
    service = f"drain-down-{uuid.uuid4().hex[:8]}"
    _alerts(db, service, 5)
    runtime.publisher.stop(1)  # the broker cannot be reached: every publish is refused
    seen, stop_counting = _reads(runtime.db)
    try:
        report = CheckReport()
        publish_alerts(runtime, report, batch=2)
        assert len(seen) == 1  # one batch read, refused; not read again and again until the budget runs out
        assert report.published == 0 and _unpublished(db, service) == 5
        # the operator sees the backlog on /metrics (the city's, so at least these five)
        assert _gauge(runtime, "govlink_supervision_alerts_unpublished") >= 5
    finally:
        stop_counting()
        _remove(db, service)
