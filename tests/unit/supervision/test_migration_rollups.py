"""Migration 0010 carries its own copy of the rollup rebuild (a migration never imports an area):
on steps and ratings recorded before it, it writes exactly what `supervision.rollups.rebuild` writes."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from store import migrate
from store.db import Database
from store.models.supervision import CaseSatisfaction, RatedGroup, SatisfactionRollup, SupervisionRollup, SupervisionStep
from supervision.rollups import rebuild

T0 = datetime(2030, 12, 29, 15, 30, tzinfo=timezone.utc)  # late evening in Beijing: days and weeks both move


def _rows(session) -> dict:
    return {model.__tablename__: sorted(tuple(getattr(row, c.key) for c in model.__table__.columns)
                                        for row in session.scalars(select(model)))
            for model in (SupervisionRollup, SatisfactionRollup, RatedGroup)}


def test_the_migration_rebuilds_the_rollups_as_supervision_does(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    migrate.upgrade(db, "0009")
    rnd = random.Random(10)
    with db.unit_of_work() as session:
        for i in range(80):
            started = T0 + timedelta(hours=rnd.randint(0, 24 * 20), seconds=rnd.randint(0, 3599))
            ended = started + timedelta(minutes=5) if i % 7 else None  # some still open
            session.add(SupervisionStep(
                id=f"s{i:03d}", step=rnd.choice(["department-reply", "payment"]), case_id=f"c{i % 25}",
                service=rnd.choice(["svc-a", "svc-b", None]), system=rnd.choice(["payment/nontax", None]),
                thread=f"t{i}", start_message_id=f"m{i}", start_type="service.call", started_at=started,
                due_at=started + timedelta(hours=1), escalate_at=started + timedelta(hours=2), ended_at=ended,
                duration_ms=rnd.choice([None, rnd.randint(0, 1023), rnd.randint(1024, 10 ** 7)]) if ended else None,
                outcome=rnd.choice(["ok", "failed"]) if ended else None, overdue=rnd.random() < 0.3, created_at=started))
        for case in range(0, 30, 2):  # c26, c28: rated cases without a step
            session.add(CaseSatisfaction(case_id=f"c{case}", rating=1 + case % 5, subject="someone",
                                         rated_at=T0 + timedelta(days=case % 9, hours=20)))
    migrate.upgrade(db, "0010")
    with db.unit_of_work() as session:
        migrated = _rows(session)
        rebuild(session)
        session.flush()
        rebuilt = _rows(session)
    db.dispose()
    assert all(migrated.values()) and migrated == rebuilt
