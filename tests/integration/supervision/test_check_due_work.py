"""The supervision check reads the steps it has work for, whatever the backlog (issue 18).

A step past due and already warned waits, open, until its escalation limit (hours later, or days). The
check used to take every open step past due that was not escalated, oldest first, up to its limit: each
minute it re-read the warned steps it had nothing to do for, and with more of them than the limit a step
newly past due was never reached, so its warning was late by as long as the backlog took to escalate.
It now takes the steps to warn and the steps to escalate, each by a partial index of its own.

The supervisors' page lists the open warnings of one service (`?service=`): it took the city's 200 most
overdue and kept that service's among them, so with more open warnings than that a service's own were cut off.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, event, select

from store.models.supervision import SupervisionAlert, SupervisionStep
from supervision.check import CheckReport, due_steps, raise_alerts
from supervision.deadlines import DeadlineEngine, FixedClock
from supervision.statistics import open_warnings

# The check's clock at the real time, as in production: the other tests' steps (in the same table, written at
# the real time) lie around it. A fixed date became the past on that day, and the plan test then saw a table
# where only its own five steps were due anywhere.
NOW = datetime.now(timezone.utc).replace(microsecond=0)


# the partial indexes of open steps (WHERE ended_at IS NULL ...)
OPEN_STEP_INDEXES = {"ix_supervision_steps_to_warn", "ix_supervision_steps_to_escalate",
                     "ix_supervision_steps_open_started_at"}


def _step(service: str, *, due: timedelta, escalate: timedelta, warned: bool = False) -> SupervisionStep:
    message_id = str(uuid.uuid4())
    return SupervisionStep(id=str(uuid.uuid4()), step="department-reply", case_id=f"CASE-DUE-{message_id[:8]}",
                           service=service, system=service, thread=message_id, start_message_id=message_id,
                           start_type=f"{service}.verify-identity", started_at=NOW + due - timedelta(seconds=30),
                           due_at=NOW + due, escalate_at=NOW + escalate, overdue=warned,
                           warned_at=NOW + due + timedelta(seconds=60) if warned else None)


def _steps(db, service):
    with db.unit_of_work() as s:
        return {st.id: st for st in s.execute(select(SupervisionStep).where(SupervisionStep.service == service)).scalars()}


def _remove(db, service):
    with db.unit_of_work() as s:
        ids = select(SupervisionStep.id).where(SupervisionStep.service == service)
        s.execute(delete(SupervisionAlert).where(SupervisionAlert.step_id.in_(ids)))
        s.execute(delete(SupervisionStep).where(SupervisionStep.service == service))


def test_a_backlog_of_warned_steps_does_not_hold_back_a_new_warning(db):
    service = f"due-probe-{uuid.uuid4().hex[:8]}"
    backlog = [_step(service, due=-timedelta(hours=h), escalate=timedelta(days=1), warned=True) for h in (3, 2, 1)]
    fresh = _step(service, due=-timedelta(minutes=1), escalate=timedelta(hours=4))
    late = _step(service, due=-timedelta(hours=5), escalate=-timedelta(minutes=1), warned=True)
    with db.unit_of_work() as s:
        s.add_all([*backlog, fresh, late])
    engine = DeadlineEngine([], None, FixedClock(NOW))
    try:
        report = CheckReport()
        raise_alerts(db, engine, report, services=(service,), limit=2)  # three warned steps wait: nothing to do
        steps = _steps(db, service)
        assert steps[fresh.id].warned_at == NOW and steps[fresh.id].overdue, report
        assert steps[late.id].escalated_at == NOW, report
        assert (report.warnings, report.escalations, report.overdue) == (1, 1, 1)
        assert all(steps[b.id].escalated_at is None and steps[b.id].warned_at < NOW for b in backlog)

        again = CheckReport()
        raise_alerts(db, engine, again, services=(service,), limit=2)
        assert (again.warnings, again.escalations) == (0, 0)  # each fires once
    finally:
        _remove(db, service)


def test_the_check_reads_its_due_steps_by_partial_indexes(db):
    """A city's live set: thousands of open steps, a few due, beside the history. The plan reads open steps
    only, through a partial index of them, never the history. Which one is the planner's choice: the two of
    the check's own (to warn, to escalate) or the one of every open step. PostgreSQL prices a partial index's
    range by the whole table's due times, nearly all past in any history, so it may take every open step for
    due and read them all (seen in CI on the day this test's fixed date became the past, and on the city
    month of bench/poll_tick.py: 3,099 open steps read in 15 ms at a tenth of the city)."""
    service = f"due-plan-{uuid.uuid4().hex[:8]}"
    with db.unit_of_work() as s:
        s.add_all(_step(service, due=timedelta(minutes=m % 600 + 1), escalate=timedelta(hours=12)) for m in range(3000))
        s.add_all(_step(service, due=-timedelta(minutes=m + 1), escalate=timedelta(hours=12)) for m in range(5))
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # exact counts for the partial indexes (ANALYZE alone estimates them from a sample of the table,
            # which the other tests' rows fill), and their dead entries gone
            conn.exec_driver_sql("VACUUM (ANALYZE) supervision_steps")
        plan = _plans(db)
    finally:
        _remove(db, service)
    assert "Seq Scan" not in plan, plan
    read = set(re.findall(r"Index (?:Only )?Scan (?:Backward )?(?:using|on) (\w+)", plan))
    assert read and read <= OPEN_STEP_INDEXES, plan


def _plans(db) -> str:
    """EXPLAIN of the statement the check sends (captured from a plain read of it: nothing is warned here, so
    the other tests' open steps are left alone)."""
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with db.engine.connect() as conn:
        event.listen(conn, "before_cursor_execute", capture)
        conn.execute(due_steps(NOW).with_for_update(skip_locked=True)).all()
        event.remove(conn, "before_cursor_execute", capture)
        conn.exec_driver_sql("SET enable_seqscan = off")
        plans = ["\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
                 for statement, parameters in seen]
        conn.rollback()
    assert len(seen) == 1
    return "\n".join(plans)


def test_a_services_open_warnings_are_not_cut_off_by_the_citys(db):
    others, mine = f"due-others-{uuid.uuid4().hex[:8]}", f"due-mine-{uuid.uuid4().hex[:8]}"
    crowd = [_step(others, due=-timedelta(days=4000 + d), escalate=timedelta(days=1), warned=True) for d in range(3)]
    own = _step(mine, due=-timedelta(minutes=5), escalate=timedelta(hours=4), warned=True)
    with db.unit_of_work() as s:
        s.add_all([*crowd, own])
    try:
        with db.unit_of_work() as s:
            assert [w["step_id"] for w in open_warnings(s, limit=2, service=mine)] == [own.id]
            assert {w["step_id"] for w in open_warnings(s, limit=3)} == {c.id for c in crowd}  # the city's most overdue
    finally:
        _remove(db, others)
        _remove(db, mine)
