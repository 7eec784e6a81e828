"""A department call's accepted record, when nothing shares its transaction (issue 18's service_call): one
INSERT in autocommit, so the gateway spends no BEGIN and COMMIT round trips on it; the row is committed
(another connection reads it) before the call is published, and a second record of the same call is
still refused (the message id is the primary key), leaving the first as it was."""
import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from bus.envelope import new_envelope
from bus.message_log.spool import MessageLog
from bus.request import DepartmentCall
from store.models.bus import ServiceCall


class _Principal:
    caller, subject = "GOV/11340100002987128A/case-system", "service-account-case-system"

    def envelope_claims(self):
        return {"subject": self.subject}


class _Runtime:
    def __init__(self, db, message_log):
        self.db, self.message_log = db, message_log


@pytest.fixture()
def runtime(db, tmp_path):
    log = MessageLog(db, spool_dir=tmp_path)
    yield _Runtime(db, log)
    log.close()


def test_the_accepted_record_is_one_autocommitted_insert(db, runtime, unique):
    seen = []

    def before(conn, _cursor, statement, *_args):
        seen.append((statement.split()[0].upper(), conn.connection.driver_connection.autocommit))

    call = DepartmentCall(runtime, "population-registry", "verify-identity", {"name": unique},
                          principal=_Principal(), wait_seconds=15, correlation_id=unique)
    event.listen(db.engine, "before_cursor_execute", before)
    try:
        call.record(_Principal.subject)
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    assert [s for s in seen if s[0] == "INSERT"] == [("INSERT", True)], seen
    with db.engine.connect() as other:
        row = other.execute(select(ServiceCall.__table__).where(ServiceCall.message_id == call.call_id)).one()
    assert (row.status, row.owner, row.service) == ("accepted", _Principal.subject, "population-registry")


def test_a_second_record_of_the_same_call_is_refused_and_changes_nothing(db, runtime, unique):
    envelope = new_envelope("service.call", {"n": 1}, client=_Principal.caller, service="population-registry",
                            operation="verify-identity", correlation_id=unique)
    call = DepartmentCall(runtime, "population-registry", "verify-identity", {"n": 1}, principal=_Principal())
    call.envelope = envelope
    call.record("first-owner")
    with pytest.raises(IntegrityError):
        call.record("second-owner")
    with db.unit_of_work() as session:
        assert session.get(ServiceCall, envelope["message_id"]).owner == "first-owner"
    with db.engine.connect() as conn:  # the pool's connections are back in transaction mode
        assert conn.connection.driver_connection.autocommit is False
