"""The hash chain detects altered, removed and reordered records (SQLite in a temp dir)."""
import pytest
from sqlalchemy import delete, update

from bus.envelope import new_envelope
from bus.message_log.chain import append
from bus.message_log.verify import verify
from store import migrate
from store.db import Database
from store.models.bus import MessageLogRecord


@pytest.fixture()
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'log.sqlite3'}")
    migrate.upgrade(database)
    with database.unit_of_work() as s:
        append(s, [(new_envelope("service.call", {"i": i, "id": "340104198506150213"}, client="channel/web-portal",
                                 user="340104198506150213"), "in") for i in range(5)])
    return database


def test_intact_chain_verifies(db):
    with db.unit_of_work() as s:
        report = verify(s)
    assert report.ok and report.checked == 5


def test_readable_columns_are_masked(db):
    with db.unit_of_work() as s:
        rec = s.get(MessageLogRecord, 1)
    assert rec.user_masked == "3401**********0213"


def test_altered_record_is_detected(db):
    with db.unit_of_work() as s:
        s.execute(update(MessageLogRecord).where(MessageLogRecord.seq == 3).values(type="service.forged"))
    with db.unit_of_work() as s:
        report = verify(s)
    assert not report.ok and any("record 3 was altered" in p for p in report.problems)


def test_removed_record_is_detected(db):
    with db.unit_of_work() as s:
        s.execute(delete(MessageLogRecord).where(MessageLogRecord.seq == 2))
    with db.unit_of_work() as s:
        report = verify(s)
    assert not report.ok and any("missing" in p for p in report.problems)


def test_removed_tail_is_detected(db):
    with db.unit_of_work() as s:
        s.execute(delete(MessageLogRecord).where(MessageLogRecord.seq == 5))
    with db.unit_of_work() as s:
        assert not verify(s).ok
