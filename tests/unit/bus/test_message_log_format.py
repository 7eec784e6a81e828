"""Chain format 2 (issue 18): a length-prefixed binary row, so no two different records hash alike,
old format-1 records verify as they were written, and each record is checked by its own format (SQLite)."""
import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from bus.envelope import new_envelope
from bus.message_log.chain import GENESIS, _row, append, format2_bytes, record_hash
from bus.message_log.verify import verify
from store import migrate
from store.db import Database
from store.models.bus import MessageLogRecord
from tests.support.chain import older_records_in_format_1

AT = datetime(2026, 12, 7, 3, 4, 5, 123456, tzinfo=timezone.utc)
ENVELOPE = new_envelope("service.call", {"i": 1}, client="channel/web-portal", service="e-licence",
                        user="340104198506150213")


def _record(**changes) -> dict:
    return {**_row(7, ENVELOPE, "in", AT), "logged_at": AT, **changes}


def test_the_same_record_hashes_the_same():
    assert record_hash(GENESIS, _record()) == record_hash(GENESIS, _record())


def test_format_2_is_the_documented_length_prefixed_row():
    row = _record(service="ab", client=None)
    data = format2_bytes(GENESIS, row)
    assert data[:4] == (13).to_bytes(4, "big")  # 13 columns, then (OID, length, bytes) each
    assert data[4:16] == (23).to_bytes(4, "big") + (4).to_bytes(4, "big") + (2).to_bytes(4, "big")  # int4 2
    assert data[16:24] == (17).to_bytes(4, "big") + (64).to_bytes(4, "big") and data[24:88] == GENESIS.encode()
    assert data[88:104] == (20).to_bytes(4, "big") + (8).to_bytes(4, "big") + (7).to_bytes(8, "big")  # int8 seq
    microseconds = (AT - datetime(2000, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)
    assert data[104:120] == (1184).to_bytes(4, "big") + (8).to_bytes(4, "big") + microseconds.to_bytes(8, "big")
    assert (17).to_bytes(4, "big") + (2).to_bytes(4, "big") + b"ab" + (17).to_bytes(4, "big") + b"\xff\xff\xff\xff" in data
    assert record_hash(GENESIS, row) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("left, right", [
    ({"service": "ab", "client": "c"}, {"service": "a", "client": "bc"}),  # a byte moved to the next column
    ({"service": "a|", "client": "b"}, {"service": "a", "client": "|b"}),
    ({"type": "x", "service": ""}, {"type": "x", "service": None}),  # empty is not NULL
    ({"case_id": None, "body": "{}"}, {"case_id": "{}", "body": ""}),
])
def test_moving_a_byte_between_columns_changes_the_hash(left, right):
    assert record_hash(GENESIS, _record(**left)) != record_hash(GENESIS, _record(**right))


def test_one_microsecond_or_the_seq_or_the_previous_hash_changes_the_hash():
    base = record_hash(GENESIS, _record())
    assert record_hash(GENESIS, _record(logged_at=AT + timedelta(microseconds=1))) != base
    assert record_hash(GENESIS, _record(seq=8)) != base
    assert record_hash("1" * 64, _record()) != base
    assert record_hash(GENESIS, _record(logged_at=AT.isoformat())) == base  # the time as ISO text, or as a datetime


def test_the_format_marker_is_hashed_and_an_unknown_one_refused():
    row = _record()
    assert record_hash(GENESIS, row, 2) != record_hash(GENESIS, {**row, "logged_at": AT.isoformat()}, 1)
    with pytest.raises(ValueError, match="unknown chain format"):
        record_hash(GENESIS, row, 3)


@pytest.fixture()
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'log.sqlite3'}")
    migrate.upgrade(database)
    with database.unit_of_work() as s:
        append(s, [(new_envelope("service.call", {"i": i}, client="channel/web-portal", user="340104198506150213"),
                    "in") for i in range(10)])
    return database


def test_new_records_are_format_2_and_verify(db):
    with db.unit_of_work() as s:
        assert [r.chain_format for r in s.query(MessageLogRecord)] == [2] * 10
        assert verify(s).ok


def test_format_1_records_then_format_2_records_verify(db):
    older_records_in_format_1(db, 4)
    with db.unit_of_work() as s:
        report = verify(s)
    assert report.ok and report.checked == 10, report.problems


@pytest.mark.parametrize("change", [
    {"body": "{}"}, {"user_masked": "3401**********9999"}, {"chain_format": 1}, {"chain_format": 3},
    {"logged_at": AT}])
def test_a_tampered_format_2_record_is_reported(db, change):
    older_records_in_format_1(db, 4)
    with db.unit_of_work() as s:
        s.execute(update(MessageLogRecord).where(MessageLogRecord.seq == 7).values(**change))
    with db.unit_of_work() as s:
        assert verify(s).problems == ["record 7 was altered (its hash does not match its content)"]


def test_a_format_1_record_marked_format_2_is_reported(db):
    older_records_in_format_1(db, 4)
    with db.unit_of_work() as s:
        s.execute(update(MessageLogRecord).where(MessageLogRecord.seq == 2).values(chain_format=2))
    with db.unit_of_work() as s:
        assert verify(s).problems == ["record 2 was altered (its hash does not match its content)"]
