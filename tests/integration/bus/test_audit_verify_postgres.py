"""On PostgreSQL the chain is re-hashed in the database: it must agree with Python record for record."""
import importlib
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, delete, text, update
from sqlalchemy.engine import make_url

from bus.envelope import new_envelope
from bus.message_log.chain import append
from bus.message_log.verify import verify
from store import migrate
from store.db import Database
from store.models.bus import MessageLogHead, MessageLogRecord
from tests.support.scratch_db import drop_scratch_database

AWKWARD = ["合肥市 \"引号\" \\ 反斜杠", "tab\there\nnew\rline\x01\x1f\x7f", "\u2028\u2029 é ü 𠀋", "'; DROP TABLE x; --", ""]


@pytest.fixture()
def log_db(settings, unique):
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        pytest.fail("integration tests run on PostgreSQL; set GOVLINK_DATABASE_URL (make test does)")
    name = f"govlink_log_{unique}"
    admin = create_engine(url.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(url.set(database=name).render_as_string(hide_password=False))
    migrate.upgrade(database)
    with database.unit_of_work() as s:
        entries = []
        for i, value in enumerate(AWKWARD * 4):
            env = new_envelope("service.call", {"i": i, "value": value}, client="channel/web-portal", user=value or None)
            entries.append((env, ("in", "out", "dead", "audit")[i % 4]))
        append(s, entries)
    with database.unit_of_work() as s:  # columns a writer would never hold, as a restore or an attacker might
        for rec in s.query(MessageLogRecord):
            value = AWKWARD[rec.seq % len(AWKWARD)]
            rec.type, rec.service, rec.case_id = f"t{value}"[:120], value or None, value[:60] or None
            rec.client, rec.correlation_id = (value or None), (value[:60] or None)
        # A logged_at with no microseconds (isoformat() leaves them out).
        s.get(MessageLogRecord, 1).logged_at = datetime(2026, 12, 6, 1, 2, 3, tzinfo=timezone.utc)
    _rehash_from(database, 1)
    yield database
    database.dispose()
    drop_scratch_database(admin, name)
    admin.dispose()


def _rehash_from(database, seq):
    from bus.message_log.chain import GENESIS, HASHED_COLUMNS, record_hash

    with database.unit_of_work() as s:
        before = s.get(MessageLogRecord, seq - 1)
        prev = before.record_hash if before else GENESIS
        for rec in s.query(MessageLogRecord).filter(MessageLogRecord.seq >= seq).order_by(MessageLogRecord.seq):
            row = {c: getattr(rec, c) for c in HASHED_COLUMNS}
            row["logged_at"] = rec.logged_at.astimezone(timezone.utc).isoformat()
            rec.prev_hash, rec.record_hash = prev, record_hash(prev, row)
            prev = rec.record_hash
        s.execute(update(MessageLogHead).values(last_hash=prev))


def both(database):
    with database.unit_of_work() as s:
        sql, python = verify(s, method="sql"), verify(s, method="python")
    assert (sql.checked, sql.last_seq, sql.last_hash) == (python.checked, python.last_seq, python.last_hash)
    assert sorted(sql.problems) == sorted(python.problems)
    return sql


def test_postgres_and_python_agree_on_an_intact_chain_of_awkward_text(log_db):
    report = both(log_db)
    assert report.ok and report.checked == 20


def test_postgres_finds_what_python_finds(log_db, monkeypatch):
    monkeypatch.setattr(importlib.import_module("bus.message_log.verify"), "SQL_RANGE", 7)  # several ranges: problems across their borders too
    with log_db.unit_of_work() as s:
        s.execute(update(MessageLogRecord).where(MessageLogRecord.seq == 3).values(body="{}"))
        s.execute(update(MessageLogRecord).where(MessageLogRecord.seq == 7).values(client="channel/forged"))
        s.execute(delete(MessageLogRecord).where(MessageLogRecord.seq.in_([8, 14, 15])))
    report = both(log_db)
    assert sorted(report.problems) == sorted([
        "record 3 was altered (its hash does not match its content)",
        "record 7 was altered (its hash does not match its content)",
        "records 8..8 are missing", "record 9 does not follow the record before it (chain broken)",
        "records 14..15 are missing", "record 16 does not follow the record before it (chain broken)"])
    with log_db.unit_of_work() as s:
        s.execute(delete(MessageLogRecord).where(MessageLogRecord.seq == 20))
    assert "the chain ends at record 19 but its head says 20 (records removed at the end?)" in both(log_db).problems


def test_the_command_goes_on_from_its_checkpoint_and_refuses_a_forged_one(log_db, monkeypatch):
    from click.testing import CliRunner

    from bootstrap.cli import main
    from store.models.bus import MessageLogCheckpoint

    monkeypatch.setenv("GOVLINK_DATABASE_URL", log_db.engine.url.render_as_string(hide_password=False))
    first = CliRunner().invoke(main, ["audit", "verify"])
    assert first.exit_code == 0 and "message log intact: 20 records verified" in first.output, first.output
    with log_db.unit_of_work() as s:
        append(s, [(new_envelope("service.call", {"i": i}, client="channel/web-portal"), "in") for i in range(3)])
    second = CliRunner().invoke(main, ["audit", "verify"])
    assert second.exit_code == 0, second.output
    assert "message log intact: 3 records verified after the checkpoint at record 20" in second.output
    with log_db.unit_of_work() as s:  # moved past records an attacker would rather nobody re-read
        s.execute(update(MessageLogCheckpoint).where(MessageLogCheckpoint.seq == 23).values(seq=22))
    forged = CliRunner().invoke(main, ["audit", "verify"])
    assert forged.exit_code == 1 and "checkpoint_refused" in forged.output, forged.output
    full = CliRunner().invoke(main, ["audit", "verify", "--full"])
    assert full.exit_code == 0 and "message log intact: 23 records verified" in full.output, full.output


def test_records_written_during_a_verification_are_not_taken_for_tampering(log_db, monkeypatch):
    from bus.message_log import checkpoint

    module = importlib.import_module("bus.message_log.verify")
    walk = module._walk_sql

    def walk_while_writers_append(session, *args):
        with log_db.unit_of_work() as other:  # committed after the verification's snapshot was taken
            append(other, [(new_envelope("service.call", {"i": i}, client="channel/web-portal"), "in") for i in range(2)])
        return walk(session, *args)

    monkeypatch.setattr(module, "_walk_sql", walk_while_writers_append)
    with log_db.unit_of_work() as s:
        report = checkpoint.verify_from_checkpoint(s, b"k" * 32)
    assert report.ok and report.checked == 20, report.problems
