"""Operators' actions on parked messages are records in the hash-chained message log (issue 16.3)."""
import json

import pytest
from sqlalchemy import select, update

from bus.message_log.operator import OperatorActionRefused, record_operator_action
from bus.message_log.verify import verify
from store import migrate
from store.db import Database
from store.models.bus import MessageLogRecord


@pytest.fixture()
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'log.sqlite3'}")
    migrate.upgrade(database)
    return database


def _records(db):
    with db.unit_of_work() as s:
        return [(r.direction, r.type, r.service, r.user_masked, json.loads(r.body))
                for r in s.execute(select(MessageLogRecord).order_by(MessageLogRecord.seq)).scalars()]


def test_a_purge_is_recorded_with_who_when_which_and_why(db):
    with db.unit_of_work() as s:
        record_operator_action(s, action="dlq.purge", operator="ops-alice", os_user="root",
                               service="population-registry", queue="svc.population-registry.parking",
                               messages=[{"message_id": "m-1", "sha256": "a" * 64}], reason="duplicate of case 17")
    ((direction, kind, service, user, body),) = _records(db)
    assert (direction, kind, service, user) == ("audit", "govlink.operator.dlq.purge", "population-registry",
                                                "ops-alice")
    assert body["user"] == body["payload"]["operator"] == "ops-alice" and body["payload"]["os_user"] == "root"
    assert body["client"] == "govlink/operator"
    assert body["payload"]["messages"] == [{"message_id": "m-1", "sha256": "a" * 64}]
    assert body["payload"]["reason"] == "duplicate of case 17"
    assert body["payload"]["queue"] == "svc.population-registry.parking"
    assert body["issued_at"].endswith("+00:00")  # when, timezone-aware
    with db.unit_of_work() as s:
        assert verify(s).ok


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_purge_without_a_reason_is_refused_and_nothing_is_written(db, reason):
    with pytest.raises(OperatorActionRefused) as caught, db.unit_of_work() as s:
        record_operator_action(s, action="dlq.purge", operator="ops-alice", service="x", queue="svc.x.parking",
                               messages=[{"message_id": "m-1", "sha256": "b" * 64}], reason=reason)
    assert caught.value.code == "reason_required"
    assert _records(db) == []


def test_an_overlong_reason_is_refused(db):
    with pytest.raises(OperatorActionRefused) as caught, db.unit_of_work() as s:
        record_operator_action(s, action="dlq.purge", operator="ops-alice", service="x", queue="svc.x.parking",
                               messages=[], reason="x" * 501)
    assert caught.value.code == "reason_too_long"


def test_an_operator_is_required(db):
    with pytest.raises(OperatorActionRefused) as caught, db.unit_of_work() as s:
        record_operator_action(s, action="dlq.replay", operator=" ", service="x", queue="svc.x.parking",
                               messages=[{"message_id": "m-1", "sha256": "b" * 64}])
    assert caught.value.code == "operator_required"


def test_a_replay_needs_no_reason_and_an_altered_audit_record_breaks_the_chain(db):
    with db.unit_of_work() as s:
        record_operator_action(s, action="dlq.replay", operator="ops-bob", service="x", queue="svc.x.parking",
                               messages=[{"message_id": None, "sha256": "c" * 64}])
    with db.unit_of_work() as s:
        s.execute(update(MessageLogRecord).values(body=MessageLogRecord.body + " "))
    with db.unit_of_work() as s:
        report = verify(s)
    assert not report.ok and "record 1 was altered" in report.problems[0]


def test_identifiers_in_the_reason_are_masked_in_readable_columns_and_the_body(db):
    with db.unit_of_work() as s:
        record_operator_action(s, action="dlq.purge", operator="340104198506150213", service="x",
                               queue="svc.x.parking", messages=[], reason="citizen 340104198506150213 withdrew")
    ((_, _, _, user, body),) = _records(db)
    assert user == "3401**********0213"
    assert "340104198506150213" not in json.dumps(body, ensure_ascii=False)
