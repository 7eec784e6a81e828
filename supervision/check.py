"""The scheduled supervision check (every 60 s, `bus.scheduler` job `supervision.check`).

1. Read the message log past the cursor: an envelope that starts a supervised step records the
   step with its deadlines; one that ends a step closes it (outcome, duration, late or not).
2. Assess the open steps at the clock's time: past due -> overdue, and a `supervision.warning`;
   still open past the escalation limit -> a `supervision.escalation`. Each is a row unique per
   (step, kind), written with the step's mark in one transaction, so each fires once however often
   (and on however many schedulers) the check runs.
3. Publish the alert rows not yet confirmed on govlink.events (mandatory=False: nobody has to be
   listening) and record them in the message log, where they join the case's timeline.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from bus.envelope import encode, new_envelope
from bus.topology import EVENTS
from store.models.bus import MessageLogRecord
from store.models.supervision import CaseSatisfaction, SupervisionAlert, SupervisionCursor, SupervisionStep
from supervision import rollups
from supervision.config import SupervisionConfig, load
from supervision.deadlines import Clock, DeadlineEngine, StepStart, end_key, issued_at, outcome_of

log = logging.getLogger("govlink.supervision")

CLIENT = "govlink/supervision"
WARNING, ESCALATION = "supervision.warning", "supervision.escalation"
KINDS = {"warning": WARNING, "escalation": ESCALATION}
BATCH = 1000
PUBLISH_BATCH = 1000
PUBLISH_BUDGET_SECONDS = 30.0  # of the check's minute


@dataclass
class CheckReport:
    read: int = 0
    started: int = 0
    ended: int = 0
    overdue: int = 0
    warnings: int = 0
    escalations: int = 0
    published: int = 0
    alert_ids: list[int] = field(default_factory=list)
    closed: list = field(default_factory=list, repr=False)  # steps closed in the current batch (for the rollups)

    def __str__(self) -> str:
        return (f"read {self.read}, started {self.started}, ended {self.ended}, overdue {self.overdue}, "
                f"warnings {self.warnings}, escalations {self.escalations}, published {self.published}")


def run_check(runtime, *, clock: Clock | None = None, config: SupervisionConfig | None = None,
              services: tuple[str, ...] | None = None, publish: bool = True) -> CheckReport:
    """One supervision check (see module doc); `clock` decides what "now" is, `services` limits the
    assessment to the steps of those services (a re-check of one service; every service by default)."""
    engine = (config or load(settings=runtime.settings)).engine(clock)
    report = CheckReport()
    ingest(runtime.db, engine, report)
    raise_alerts(runtime.db, engine, report, services)
    if publish:
        publish_alerts(runtime, report)
    return report


def scheduled_job(runtime, period: str) -> str:
    """The `supervision.check` job of bus/scheduler.py."""
    return str(run_check(runtime))


# ---------------------------------------------------------------------------------------- 1. ingest
def ingest(db, engine: DeadlineEngine, report: CheckReport) -> None:
    """Read the message log past the cursor, a batch of `BATCH` records a transaction, until it is read."""
    while True:
        with db.unit_of_work() as session:
            cursor = _cursor(session)
            rows = session.execute(select(MessageLogRecord.seq, MessageLogRecord.body)
                                   .where(MessageLogRecord.seq > cursor.last_seq)
                                   .order_by(MessageLogRecord.seq).limit(BATCH)).all()
            report.read += len(rows)
            _apply_batch(session, engine, [(seq, env) for seq, body in rows if (env := _parse(body)) is not None],
                         report)
            rollups.add_finished(session, report.closed)  # same transaction as the steps' ends
            report.closed.clear()
            if rows:
                cursor.last_seq = rows[-1][0]
            cursor.checked_at = datetime.now(timezone.utc)
        if len(rows) < BATCH:
            return


def _cursor(session) -> SupervisionCursor:
    """The check's cursor row, locked (made at the first check)."""
    locked = select(SupervisionCursor).where(SupervisionCursor.id == 1).with_for_update()
    cursor = session.execute(locked).scalar_one_or_none()
    if cursor is None:
        try:
            with session.begin_nested():
                session.add(SupervisionCursor(id=1, last_seq=0))
        except IntegrityError:
            pass
        cursor = session.execute(locked).scalar_one()
    return cursor


def _apply_batch(session, engine: DeadlineEngine, records: list[tuple[int, dict]], report: CheckReport) -> None:
    """Start and end the steps of a batch of envelopes, in log order, with a handful of queries for the
    whole batch (each bounded by the batch, never by the history): which starts were read already, the
    open steps the batch's ends point to, the ends logged before their start, the rated cases.

    A record is read as a start first (a step is recorded once per (step, start message): the in and out
    copies of one message start it once; an end logged before its start, two processes' logs flushed out
    of order, closes it at once), then as an end: it closes every open step whose rule it ends, on the
    thread it points to (its causation or correlation id), a step started earlier in the batch included."""
    starts = {seq: start for seq, env in records if (start := engine.start(env)) is not None}
    ends = {seq: {k for k in (env.get("causation_id"), env.get("correlation_id")) if k}  # the threads each points to
            for seq, env in records if engine.is_end_type(env.get("type", ""))}
    if not starts and not ends:
        return
    seen = _started_already(session, starts.values())
    open_steps: dict[str, list[SupervisionStep]] = {}
    ending = set().union(*ends.values())
    if ending:
        for step in session.execute(select(SupervisionStep).where(SupervisionStep.thread.in_(sorted(ending)),
                                                                  SupervisionStep.ended_at.is_(None))).scalars():
            open_steps.setdefault(step.thread, []).append(step)
    earlier = _ends_by_correlation(session, records, starts)
    new_steps: list[SupervisionStep] = []
    for seq, envelope in records:
        start = starts.get(seq)
        if start is not None and (start.rule.step, start.message_id) not in seen:
            seen.add((start.rule.step, start.message_id))
            step = _new_step(start)
            session.add(step)
            new_steps.append(step)
            open_steps.setdefault(step.thread, []).append(step)
            report.started += 1
            for end_seq, other in earlier.get(envelope.get("correlation_id"), ()):
                if end_seq < seq and step.ended_at is None and engine.ends(start.rule, step.thread, other):
                    _close(step, other, report)
        for key in ends.get(seq, ()):
            for step in open_steps.get(key, ()):
                rule = engine.rule(step.step)
                if step.ended_at is None and rule is not None and engine.ends(rule, step.thread, envelope):
                    _close(step, envelope, report)
    if new_steps:
        session.flush()
        rated = {case_id for (case_id,) in session.execute(select(CaseSatisfaction.case_id).where(
            CaseSatisfaction.case_id.in_(sorted({s.case_id for s in new_steps if s.case_id}))))}
        for case_id in sorted(rated):
            rollups.credit_rating(session, case_id)  # a case rated before these steps were read


def _started_already(session, starts) -> set[tuple[str, str]]:
    """(step, start message id) of the batch's starts that a step exists for: one scan of the unique key's
    index with both columns' lists (a list of pairs was an index probe per pair: a BitmapOr of a thousand)."""
    keys = {(s.rule.step, s.message_id) for s in starts}
    if not keys:
        return set()
    found = session.execute(select(SupervisionStep.step, SupervisionStep.start_message_id).where(
        SupervisionStep.step.in_(sorted({step for step, _ in keys})),
        SupervisionStep.start_message_id.in_(sorted({message_id for _, message_id in keys}))))
    return {(step, message_id) for step, message_id in found if (step, message_id) in keys}


def _ends_by_correlation(session, records: list[tuple[int, dict]], starts: dict[int, StepStart]
                         ) -> dict[str, list[tuple[int, dict]]]:
    """The ends logged before the last of the batch's starts that carry a start's correlation id, by that
    id in log order (the correlation id index; a start without one has none)."""
    correlations = sorted({cid for seq, env in records if seq in starts and (cid := env.get("correlation_id"))})
    if not correlations:
        return {}
    end_types = sorted({t for start in starts.values() for t in start.rule.end})
    found: dict[str, list[tuple[int, dict]]] = {}
    for seq, correlation, body in session.execute(
            select(MessageLogRecord.seq, MessageLogRecord.correlation_id, MessageLogRecord.body)
            .where(MessageLogRecord.correlation_id.in_(correlations), MessageLogRecord.seq < max(starts),
                   MessageLogRecord.type.in_(end_types)).order_by(MessageLogRecord.seq)):
        envelope = _parse(body)
        if envelope is not None:
            found.setdefault(correlation, []).append((seq, envelope))
    return found


def _new_step(start: StepStart) -> SupervisionStep:
    return SupervisionStep(id=str(uuid.uuid4()), step=start.rule.step, case_id=start.case_id, service=start.service,
                           system=start.system, thread=start.thread[:64], start_message_id=start.message_id,
                           start_type=start.rule.start, started_at=start.started_at, due_at=start.due_at,
                           escalate_at=start.escalate_at, overdue=False)


def _close(step: SupervisionStep, envelope: dict, report: CheckReport) -> None:
    ended = max(issued_at(envelope), step.started_at)
    step.ended_at = ended
    step.end_message_id = str(envelope["message_id"])
    step.end_type = envelope["type"]
    step.duration_ms = int((ended - step.started_at).total_seconds() * 1000)
    step.outcome = outcome_of(envelope)
    step.overdue = step.overdue or ended > step.due_at
    report.ended += 1
    report.closed.append(step)


# ----------------------------------------------------------------------------------- 2. assess
def due_steps(now: datetime, services: tuple[str, ...] | None = None, limit: int = 5000):
    """The open steps the check has something to do for at `now`, oldest first: past due and not warned, or
    past the escalation limit and not escalated (a partial index each). A warned step waiting for its limit is
    not read again every minute, and a backlog of them cannot fill `limit` ahead of a step newly past due.
    Only open steps are read, never the history; but PostgreSQL prices the two indexes' ranges by the whole
    table's due times, nearly all past, so it may read every open step through the index of them instead
    (3,099 in 15 ms on the city month at a tenth: tests/integration/supervision/test_check_due_work.py)."""
    to_warn = and_(SupervisionStep.warned_at.is_(None), SupervisionStep.due_at < now)
    to_escalate = and_(SupervisionStep.escalated_at.is_(None), SupervisionStep.escalate_at < now)
    query = (select(SupervisionStep).where(SupervisionStep.ended_at.is_(None), or_(to_warn, to_escalate))
             .order_by(SupervisionStep.due_at).limit(limit))
    if services is not None:
        query = query.where(SupervisionStep.service.in_(services))
    return query


def raise_alerts(db, engine: DeadlineEngine, report: CheckReport, services: tuple[str, ...] | None = None,
                 limit: int = 5000) -> None:
    now = engine.now()
    with db.unit_of_work() as session:
        query = due_steps(now, services, limit)
        if db.backend == "postgresql":
            query = query.with_for_update(skip_locked=True)  # a second checker leaves these alone
        for step in session.execute(query).scalars():
            verdict = engine.assess(due_at=step.due_at, escalate_at=step.escalate_at, ended_at=step.ended_at,
                                    warned=step.warned_at is not None, escalated=step.escalated_at is not None)
            if verdict.overdue and not step.overdue:
                step.overdue = True
                report.overdue += 1
            if verdict.warn:
                step.warned_at = now
                _alert(session, step, "warning", now)
                report.warnings += 1
            if verdict.escalate:
                step.escalated_at = now
                _alert(session, step, "escalation", now)
                report.escalations += 1


def _alert(session, step: SupervisionStep, kind: str, now: datetime) -> None:
    payload = {"step_id": step.id, "step": step.step, "service": step.service, "system": step.system,
               "started_at": step.started_at.isoformat(), "due_at": step.due_at.isoformat(),
               "escalate_at": step.escalate_at.isoformat(), "raised_at": now.isoformat(),
               "overdue_seconds": int((now - step.due_at).total_seconds()), "start_message_id": step.start_message_id}
    envelope = new_envelope(KINDS[kind], payload, client=CLIENT, case_id=step.case_id, correlation_id=step.id,
                            causation_id=step.start_message_id)
    session.add(SupervisionAlert(step_id=step.id, kind=kind, case_id=step.case_id, message_id=envelope["message_id"],
                                 envelope=encode(envelope).decode(), raised_at=now))


# ---------------------------------------------------------------------------------- 3. publish
def publish_alerts(runtime, report: CheckReport, timeout: float = 10.0, *, batch: int = PUBLISH_BATCH,
                   budget_seconds: float = PUBLISH_BUDGET_SECONDS) -> None:
    """Publish the alerts not yet confirmed, oldest first, batch after batch until none is left or the
    budget is spent, so a backlog left by a broker outage goes out in one check instead of one batch a
    minute with every new alert behind it. A batch the broker refused any of ends the round: the next
    check sends those again."""
    started = time.monotonic()
    while True:
        read, refused = _publish_batch(runtime, report, timeout, batch)
        if read < batch or refused or time.monotonic() - started >= budget_seconds:
            return


def _publish_batch(runtime, report: CheckReport, timeout: float, batch: int) -> tuple[int, int]:
    """One batch: (alerts read, alerts the broker did not take)."""
    refused = 0
    with runtime.db.unit_of_work() as session:
        rows = session.execute(select(SupervisionAlert).where(SupervisionAlert.published_at.is_(None))
                               .order_by(SupervisionAlert.id).limit(batch)).scalars().all()
        futures = []
        for row in rows:
            envelope = json.loads(row.envelope)
            try:
                futures.append((row, envelope, runtime.publisher.publish(
                    EVENTS, envelope["type"], row.envelope.encode(), message_id=row.message_id, type=envelope["type"],
                    correlation_id=envelope["correlation_id"], mandatory=False)))
            except Exception as exc:  # the broker is down: the next check publishes it
                refused += 1
                log.warning("supervision alert %s not published yet (%s)", row.id, type(exc).__name__)
        for row, envelope, future in futures:
            try:
                future.result(timeout)
            except Exception as exc:
                refused += 1
                log.warning("supervision alert %s not confirmed (%s); the next check resends it", row.id, type(exc).__name__)
                continue
            row.published_at = datetime.now(timezone.utc)
            runtime.message_log.record(envelope, "out")
            report.published += 1
            report.alert_ids.append(row.id)
            log.warning("%s: step %s of case %s (%s) is overdue since %s", envelope["type"], row.step_id,
                        row.case_id, envelope["payload"]["step"], envelope["payload"]["due_at"])
    return len(rows), refused


def _parse(body: str) -> dict | None:
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    return envelope if isinstance(envelope, dict) and envelope.get("type") and envelope.get("message_id") else None


__all__ = ["run_check", "scheduled_job", "CheckReport", "WARNING", "ESCALATION", "end_key"]
