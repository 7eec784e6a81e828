"""On PostgreSQL the message log's records go in with COPY (issue 18's service_call: the per-row INSERT of
an executemany was most of the log writer's CPU, some 10% of the gateway's and the worker's per department
call). The rows must be exactly what the INSERT wrote, and a conflict must still be SQLAlchemy's
IntegrityError (the spool retries those as transient)."""
import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError

from bus.envelope import encode, new_envelope
from bus.message_log.chain import HASHED_COLUMNS, append, record_hash
from store.models.bus import MessageLogHead, MessageLogRecord

AWKWARD = ["合肥市 \"引号\" \\ 反斜杠", "tab\there\nnew\rline\x01\x1f\x7f", "\\N", "\u2028 é 𠀋", "'; DROP TABLE x; --"]


def _entries(unique):
    return [(new_envelope("service.call", {"value": value}, client="channel/web-portal", user=value, case_id=f"{unique}-{i}",
                          service="population-registry", operation="verify-identity"), ("in", "out")[i % 2])
            for i, value in enumerate(AWKWARD)]


def test_records_go_in_with_copy_and_read_back_as_written(db, unique):
    statements = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    entries = _entries(unique)
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.transaction() as conn:
            last = append(conn, entries)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert not [s for s in statements if s.lstrip().upper().startswith("INSERT INTO MESSAGE_LOG ")], statements
    with db.unit_of_work() as session:
        rows = session.scalars(select(MessageLogRecord).where(MessageLogRecord.seq > last - len(entries))
                               .order_by(MessageLogRecord.seq)).all()
    assert [r.case_id for r in rows] == [e["case_id"] for e, _ in entries]
    for row, (envelope, direction) in zip(rows, entries):
        assert row.body == encode(envelope).decode() and row.direction == direction
        assert row.logged_at.tzinfo is not None
        columns = {name: getattr(row, name) for name in HASHED_COLUMNS}
        columns["logged_at"] = row.logged_at.isoformat()
        assert record_hash(row.prev_hash, columns) == row.record_hash


def test_a_conflicting_record_is_an_integrity_error(db, unique):
    with pytest.raises(IntegrityError):
        with db.transaction() as conn:
            head = conn.execute(select(MessageLogHead.last_seq, MessageLogHead.last_hash)).first()
            taken = {"seq": head.last_seq + 1, "message_id": "x", "direction": "in", "type": "t.x", "body": "{}",
                     "prev_hash": head.last_hash, "record_hash": f"{unique:0<64}"[:64]}
            conn.execute(insert(MessageLogRecord.__table__), taken)  # the next seq, taken behind the head's back
            append(conn, _entries(unique)[:2])
