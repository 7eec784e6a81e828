"""The check's ingest reads a batch of the message log with a handful of queries (`supervision.check.
_apply_batch`); the steps and rollups it keeps equal the record-by-record reading it replaced (kept here
as the reference), over a log with every order a city's processes produce: duplicates (in and out copies),
ends logged before their starts, a record that ends one step and starts the next, ends of nothing, rated
cases, and batches that cut through all of it. On the embedded SQLite."""
from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event, select

from bus.envelope import new_envelope
from bus.message_log.chain import append
from store import migrate
from store.db import Database
from store.models.bus import MessageLogRecord
from store.models.supervision import (CaseSatisfaction, RatedGroup, SatisfactionRollup, SupervisionCursor,
                                      SupervisionRollup, SupervisionStep)
from supervision import check, feedback, rollups
from supervision.check import CheckReport, _close, _parse, ingest
from supervision.config import load
from supervision.deadlines import StepStart

T0 = datetime(2031, 5, 6, 1, 0, tzinfo=timezone.utc)


@pytest.fixture()
def databases(tmp_path):
    made = []
    for name in ("batched", "reference"):
        database = Database(f"sqlite:///{tmp_path / name}.sqlite3")
        migrate.upgrade(database)
        made.append(database)
    yield made
    for database in made:
        database.dispose()


# --------------------------------------------------------------- the reference: one record at a time
def _reference_ingest(db, engine, report: CheckReport) -> None:
    while True:
        with db.unit_of_work() as session:
            cursor = session.get(SupervisionCursor, 1)
            if cursor is None:
                cursor = SupervisionCursor(id=1, last_seq=0)
                session.add(cursor)
            rows = session.execute(select(MessageLogRecord.seq, MessageLogRecord.body)
                                   .where(MessageLogRecord.seq > cursor.last_seq)
                                   .order_by(MessageLogRecord.seq).limit(check.BATCH)).all()
            for seq, body in rows:
                report.read += 1
                envelope = _parse(body)
                if envelope is not None:
                    _reference_apply(session, engine, envelope, seq, report)
            rollups.add_finished(session, report.closed)
            report.closed.clear()
            if rows:
                cursor.last_seq = rows[-1][0]
        if len(rows) < check.BATCH:
            return


def _reference_apply(session, engine, envelope: dict, seq: int, report: CheckReport) -> None:
    start = engine.start(envelope)
    if start is not None:
        step = _reference_start(session, start)
        if step is not None:
            report.started += 1
            for (earlier,) in session.execute(select(MessageLogRecord.body).where(
                    MessageLogRecord.correlation_id == envelope.get("correlation_id"), MessageLogRecord.seq < seq,
                    MessageLogRecord.type.in_(start.rule.end)).order_by(MessageLogRecord.seq)):
                other = _parse(earlier)
                if other is not None and step.ended_at is None and engine.ends(start.rule, step.thread, other):
                    _close(step, other, report)
    if engine.is_end_type(envelope.get("type", "")):
        threads = {k for k in (envelope.get("causation_id"), envelope.get("correlation_id")) if k}
        for step in session.execute(select(SupervisionStep).where(SupervisionStep.thread.in_(threads),
                                                                  SupervisionStep.ended_at.is_(None))).scalars():
            rule = engine.rule(step.step)
            if rule is not None and engine.ends(rule, step.thread, envelope):
                _close(step, envelope, report)


def _reference_start(session, start: StepStart):
    if session.execute(select(SupervisionStep.id).where(SupervisionStep.step == start.rule.step,
                                                        SupervisionStep.start_message_id == start.message_id)).first():
        return None
    step = check._new_step(start)
    session.add(step)
    session.flush()
    rollups.credit_rating(session, step.case_id)
    return step


# ------------------------------------------------------------------------------- a city's log, small
def _at(envelope: dict, when: datetime) -> dict:
    envelope["issued_at"] = when.isoformat()
    return envelope


def _log(rng: random.Random, n: int) -> list[tuple[dict, str]]:
    """Department calls, payment notices and deliveries of n cases, their records shuffled a little
    (two processes' logs flushed out of order), some logged twice, some never answered."""
    events: list[tuple[float, dict, str]] = []
    for i in range(n):
        case = f"CASE-{i % (n // 3 + 1)}"
        t = T0 + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
        kind = rng.random()
        if kind < 0.5:  # a department call and its reply (causation)
            call = _at(new_envelope("service.call", {"i": i}, client="channel/web-portal", service=f"svc-{i % 4}",
                                    operation="q", case_id=case), t)
            events.append((t.timestamp(), call, "out"))
            if rng.random() < 0.3:
                events.append((t.timestamp() + 0.001, call, "in"))  # the worker's copy of the same message
            if rng.random() < 0.85:
                reply_type = rng.choice(["service.result", "service.result", "service.call.failed"])
                took = timedelta(seconds=rng.choice([0.2, 3, 45, 400]))
                reply = _at(new_envelope(reply_type, {"ok": True}, client="govlink/connector-worker",
                                         service=call["service"], case_id=case, causation_id=call["message_id"],
                                         correlation_id=call["correlation_id"]), t + took)
                # Now and then the reply is logged first (another process's spool flushed sooner).
                lag = -1.0 if rng.random() < 0.15 else took.total_seconds()
                events.append((t.timestamp() + lag, reply, "in"))
        elif kind < 0.75:  # a payment notice and its later events (correlation)
            notice = _at(new_envelope("payment.registered", {"agency_code": "A1"}, client="govlink/payments",
                                      case_id=case), t)
            events.append((t.timestamp(), notice, "out"))
            for later in rng.sample(["payment.paid", "payment.cancelled", "payment.expired"], rng.randrange(0, 3)):
                when = t + timedelta(hours=rng.choice([1, 30, 200]))
                end = _at(new_envelope(later, {}, client="govlink/payments", case_id=case,
                                       correlation_id=notice["correlation_id"]), when)
                events.append((when.timestamp() if rng.random() > 0.1 else t.timestamp() - 2, end, "out"))
        else:  # a delivery of the results: booked, picked up (ends dispatch, starts delivery), delivered
            booked = _at(new_envelope("shipment.booked", {"kind": rng.choice(["results", "results", "materials"]),
                                                          "service_code": "S1"}, client="govlink/logistics",
                                      case_id=case), t)
            events.append((t.timestamp(), booked, "out"))
            when = t
            for later in ["shipment.picked_up", "shipment.in_transit", "shipment.delivered"][:rng.randrange(0, 4)]:
                when = when + timedelta(hours=rng.choice([2, 20, 70]))
                end = _at(new_envelope(later, {"kind": booked["payload"]["kind"]}, client="govlink/logistics",
                                       case_id=case, correlation_id=booked["correlation_id"]), when)
                events.append((when.timestamp(), end, "out"))
    for i in range(n // 10):  # ends of nothing, and records no rule reads
        events.append(((T0 + timedelta(hours=i)).timestamp(), new_envelope(
            "service.result", {}, client="govlink/connector-worker", causation_id=str(uuid.uuid4())), "in"))
        events.append(((T0 + timedelta(hours=i)).timestamp(), new_envelope("case.note", {}, client="channel/web-portal"), "in"))
    events.sort(key=lambda e: e[0])
    return [(envelope, direction) for _, envelope, direction in events]


def _state(db) -> dict:
    with db.unit_of_work() as s:
        steps = sorted((r.step, r.start_message_id, r.case_id, r.service, r.system, r.thread, r.started_at, r.due_at,
                        r.ended_at, r.end_message_id, r.end_type, r.duration_ms, r.outcome, r.overdue)
                       for r in s.scalars(select(SupervisionStep)))
        kept = sorted((r.span, r.day, r.step, r.service, r.system, r.finished, r.overdue, r.failed, r.histogram)
                      for r in s.scalars(select(SupervisionRollup)))
        rated = sorted((r.case_id, r.dimension, r.key, r.day) for r in s.scalars(select(RatedGroup)))
        satisfaction = sorted((r.day, r.dimension, r.key, r.ratings, r.rating_sum)
                              for r in s.scalars(select(SatisfactionRollup)))
    return {"steps": steps, "rollups": kept, "rated": rated, "satisfaction": satisfaction}


@pytest.mark.parametrize("batch", [7, 50, 1000])
def test_the_batched_ingest_keeps_what_the_record_by_record_reading_kept(databases, monkeypatch, batch):
    monkeypatch.setattr(check, "BATCH", batch)
    rng = random.Random(batch)
    entries = _log(rng, 300)
    engine = load().engine()
    cut = len(entries) // 2
    reports = []
    for db, ingest_with in zip(databases, (ingest, _reference_ingest)):
        report = CheckReport()
        with db.unit_of_work() as s:
            append(s, entries[:cut])
            # One case rated before the check read any of its steps, one between two checks.
            s.add(CaseSatisfaction(case_id="CASE-3", rating=4, subject="x", rated_at=T0 + timedelta(days=2)))
            feedback.credit_rating(s, "CASE-3")
        ingest_with(db, engine, report)
        with db.unit_of_work() as s:
            s.add(CaseSatisfaction(case_id="CASE-5", rating=2, subject="x", rated_at=T0 + timedelta(days=2)))
            feedback.credit_rating(s, "CASE-5")
            append(s, entries[cut:])
        ingest_with(db, engine, report)
        reports.append(report)
    batched, reference = (_state(db) for db in databases)
    assert batched["steps"] == reference["steps"]
    assert batched == reference
    assert str(reports[0]) == str(reports[1])
    ended = [s for s in batched["steps"] if s[8] is not None]
    # The log has what the comparison needs: steps of every rule, closed and open, late and failed.
    assert {s[0] for s in ended} == {"department-reply", "payment", "results-dispatch", "results-delivery"}
    assert len(ended) < len(batched["steps"]) and any(s[13] for s in ended) and any(s[12] == "failed" for s in ended)
    assert reports[0].read == len(entries) and batched["rated"]


def test_a_batch_costs_a_handful_of_queries_whatever_its_size(databases, monkeypatch):
    """The reference ran some four statements per start; the batch reads the log, the steps and the ratings
    with a fixed number of statements (the rollups a row per group the batch closed steps in: a day's, a
    week's, per step, service and system, however many steps)."""
    db = databases[0]
    monkeypatch.setattr(check, "BATCH", 1000)
    with db.unit_of_work() as s:
        append(s, _log(random.Random(1), 300))
    statements = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    report = CheckReport()
    ingest(db, load().engine(), report)
    assert report.started > 250
    selects = [q for q in statements if q.lstrip().upper().startswith("SELECT") and "FROM supervision_rollups" not in q]
    assert len(selects) <= 7, "\n".join(q[:120].replace("\n", " ") for q in selects)
