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
from tests.support.chain import older_records_in_format_1, rehash_from
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
    rehash_from(database, 1)
    yield database
    database.dispose()
    drop_scratch_database(admin, name)
    admin.dispose()


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


# Chain format 2 (issue 18): what PostgreSQL re-hashes with record_send, and Python with chain.format2_bytes.
def test_new_records_are_written_in_format_2_and_both_walkers_agree_on_them(log_db):
    with log_db.unit_of_work() as s:
        assert {f for (f,) in s.query(MessageLogRecord.chain_format).distinct()} == {2}
        digest = s.execute(text("SELECT encode(sha256(record_send(ROW(2, convert_to(prev_hash, 'UTF8'), seq::int8, "
                                "logged_at::timestamptz, convert_to(message_id, 'UTF8'), convert_to(direction, 'UTF8'), "
                                "convert_to(type, 'UTF8'), convert_to(service, 'UTF8'), convert_to(client, 'UTF8'), "
                                "convert_to(user_masked, 'UTF8'), convert_to(correlation_id, 'UTF8'), "
                                "convert_to(case_id, 'UTF8'), convert_to(body, 'UTF8')))), 'hex') "
                                "FROM message_log WHERE seq = 2")).scalar_one()
        assert digest == s.get(MessageLogRecord, 2).record_hash  # the documented definition, by hand
    assert both(log_db).ok


TAMPERED = {
    "body": ("UPDATE message_log SET body = body || ' ' WHERE seq = 4", ["record 4 was altered (its hash does not match its content)"]),
    "user": ("UPDATE message_log SET user_masked = '3401**********9999' WHERE seq = 6",
             ["record 6 was altered (its hash does not match its content)"]),
    "logged_at": ("UPDATE message_log SET logged_at = logged_at + interval '1 microsecond' WHERE seq = 9",
                  ["record 9 was altered (its hash does not match its content)"]),
    "seq": ("UPDATE message_log SET seq = 21 WHERE seq = 20", [
        "records 20..20 are missing", "record 21 was altered (its hash does not match its content)",
        "the chain ends at record 21 but its head says 20 (records removed at the end?)"]),
    "swapped": ("UPDATE message_log SET seq = -5 WHERE seq = 5; UPDATE message_log SET seq = 5 WHERE seq = 6; "
                "UPDATE message_log SET seq = 6 WHERE seq = -5", [
        "record 5 does not follow the record before it (chain broken)",
        "record 5 was altered (its hash does not match its content)",
        "record 6 does not follow the record before it (chain broken)",
        "record 6 was altered (its hash does not match its content)",
        "record 7 does not follow the record before it (chain broken)"]),
    "removed": ("DELETE FROM message_log WHERE seq = 10",
                ["records 10..10 are missing", "record 11 does not follow the record before it (chain broken)"]),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_a_tampered_format_2_record_is_reported_by_both_walkers(log_db, case, monkeypatch):
    monkeypatch.setattr(importlib.import_module("bus.message_log.verify"), "SQL_RANGE", 7)
    statement, expected = TAMPERED[case]
    with log_db.unit_of_work() as s:
        assert {f for (f,) in s.query(MessageLogRecord.chain_format).distinct()} == {2}
        s.execute(text(statement))
    assert sorted(both(log_db).problems) == sorted(expected)


def test_format_1_records_followed_by_format_2_records_verify_by_both_walkers(log_db, monkeypatch):
    monkeypatch.setattr(importlib.import_module("bus.message_log.verify"), "SQL_RANGE", 7)
    older_records_in_format_1(log_db, 8)
    with log_db.unit_of_work() as s:
        formats = [f for (f,) in s.query(MessageLogRecord.chain_format).order_by(MessageLogRecord.seq)]
    assert formats == [1] * 8 + [2] * 12
    report = both(log_db)
    assert report.ok and report.checked == 20, report.problems


@pytest.mark.parametrize("seq, marker", [(12, 1), (3, 2), (12, 3), (3, 0)])
def test_a_record_whose_format_marker_was_changed_is_reported(log_db, seq, marker):
    older_records_in_format_1(log_db, 8)
    with log_db.unit_of_work() as s:
        s.execute(update(MessageLogRecord).where(MessageLogRecord.seq == seq).values(chain_format=marker))
    assert both(log_db).problems == [f"record {seq} was altered (its hash does not match its content)"]


def test_a_checkpoint_in_the_format_1_records_carries_on_across_the_boundary(log_db):
    from bus.message_log import checkpoint

    older_records_in_format_1(log_db, 8)
    key = b"k" * 32
    with log_db.unit_of_work() as s:  # a checkpoint recorded before the upgrade, at the last format-1 record
        s.execute(delete(MessageLogRecord).where(MessageLogRecord.seq > 8))
        s.execute(update(MessageLogHead).values(last_seq=8, last_hash=s.get(MessageLogRecord, 8).record_hash))
    with log_db.unit_of_work() as s:
        assert checkpoint.record(s, key, checkpoint.verify_from_checkpoint(s, key)).seq == 8
    with log_db.unit_of_work() as s:  # then the upgraded code appends in format 2
        append(s, [(new_envelope("service.call", {"i": i}, client="channel/web-portal"), "in") for i in range(3)])
    with log_db.unit_of_work() as s:
        report = checkpoint.verify_from_checkpoint(s, key)
    assert report.ok and (report.since, report.checked) == (8, 3), report.problems
    with log_db.unit_of_work() as s:
        s.execute(text("UPDATE message_log SET body = body || ' ' WHERE seq = 10"))
    with log_db.unit_of_work() as s:
        assert checkpoint.verify_from_checkpoint(s, key).problems == [
            "record 10 was altered (its hash does not match its content)"]


def test_a_range_with_more_problems_than_one_fetch_holds_is_reported_whole(log_db, monkeypatch):
    module = importlib.import_module("bus.message_log.verify")
    monkeypatch.setattr(module, "_CAP", 3)  # the range's rows come again through a cursor
    statement, expected = TAMPERED["swapped"]
    with log_db.unit_of_work() as s:
        s.execute(text(statement + "; " + TAMPERED["removed"][0]))
    assert sorted(both(log_db).problems) == sorted(expected + TAMPERED["removed"][1])


def both_since(database, seq):
    from bus.message_log.verify import Anchor

    with database.unit_of_work() as s:
        anchor = Anchor(seq, s.get(MessageLogRecord, seq).record_hash)
        sql, python = verify(s, since=anchor, method="sql"), verify(s, since=anchor, method="python")
    assert (sql.checked, sql.last_seq, sql.last_hash) == (python.checked, python.last_seq, python.last_hash)
    assert sorted(sql.problems) == sorted(python.problems)
    return sql


@pytest.mark.parametrize("removed, expected", [
    ([9], ["records 9..9 are missing", "record 10 does not follow the record before it (chain broken)"]),
    ([9, 15, 16], ["records 9..9 are missing", "record 10 does not follow the record before it (chain broken)",
                   "records 15..16 are missing", "record 17 does not follow the record before it (chain broken)"]),
    (list(range(9, 17)), ["records 9..16 are missing", "record 17 does not follow the record before it (chain broken)"]),
])
def test_records_removed_after_a_checkpoint_are_found_by_both_walkers_across_ranges(log_db, monkeypatch, removed,
                                                                                     expected):
    monkeypatch.setattr(importlib.import_module("bus.message_log.verify"), "SQL_RANGE", 4)  # ranges 9..12, 13..16, ..
    with log_db.unit_of_work() as s:
        s.execute(delete(MessageLogRecord).where(MessageLogRecord.seq.in_(removed)))
    report = both_since(log_db, 8)
    assert sorted(report.problems) == sorted(expected)
    assert report.checked == 12 - len(removed)


def _plan_nodes(node):
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_a_range_hands_on_only_its_records_with_a_problem_not_every_record(log_db):
    """Issue 18: one window over every record of a range (a Gather Merge into the leader, in key order) made the
    parallel workers wait for the leader; each record is linked to the one before it where it is hashed, in the
    workers, so only records with a problem (and the verification's first) go further, and no JIT is compiled per
    range. (Parallel plans are allowed here for a log of 20 records, which PostgreSQL would otherwise read alone.)"""
    module = importlib.import_module("bus.message_log.verify")
    with log_db.unit_of_work() as s:
        s.execute(text("ANALYZE message_log"))
    with log_db.unit_of_work() as s:
        s.execute(text(module._PARALLEL))
        s.execute(text("SET LOCAL min_parallel_table_scan_size = 0; SET LOCAL min_parallel_index_scan_size = 0"))
        assert s.execute(text("SHOW jit")).scalar() == "off"
        (plan,) = s.execute(text("EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) " + module._SQL_RANGE),
                            {"lo": 1, "hi": 21, "first": 1}).scalar()
    nodes = list(_plan_nodes(plan["Plan"]))
    assert not {n["Node Type"] for n in nodes} & {"WindowAgg", "Gather Merge"}, [n["Node Type"] for n in nodes]
    (gather,) = [n for n in nodes if n["Node Type"] == "Gather"]
    below = list(_plan_nodes(gather))[1:]
    assert any("sha256" in n.get("Filter", "") and "prev_hash" in n.get("Filter", "") for n in below)  # hash, link
    assert gather["Actual Rows"] == plan["Plan"]["Actual Rows"] == 1  # the first record (none before it): no other


def test_the_walkers_agree_whatever_the_sessions_client_encoding(log_db):
    """The SQL walker takes each text's UTF-8 bytes with textsend (in a UTF8 database), which sends in the
    session's client encoding: it must hash UTF-8 even for a session in another encoding."""
    with log_db.unit_of_work() as s:
        s.execute(text("SET LOCAL client_encoding = 'GB18030'"))  # every character of AWKWARD has a GB18030 form
        sql, python = verify(s, method="sql"), verify(s, method="python")
    assert sql.ok and python.ok and sql.checked == python.checked == 20, sql.problems
