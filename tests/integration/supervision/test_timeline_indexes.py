"""A case's timeline is read by index, however long the history (issue 18): every statement the
timeline and the case access rule send for a case id is EXPLAINed on PostgreSQL with sequential
scans priced out; a lookup without an index would still show `Seq Scan`."""
from __future__ import annotations

from sqlalchemy import event, text

from supervision.access import is_applicant
from supervision.timeline import case_timeline


class _Principal:
    subject, roles = "f3b1c1f0-0000-4000-8000-000000000001", ()
    resident_id, enterprise_uscc = "340104198506150213", None


def _statements(db, work) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.unit_of_work() as session:
            work(session)
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    return seen


def _plan(db, statement, parameters) -> str:
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        conn.exec_driver_sql("RESET enable_seqscan")
    return "\n".join(r[0] for r in rows)


def test_every_lookup_of_a_case_timeline_uses_an_index(db):
    case_id = "CASE-INDEX-PROBE-1"
    statements = _statements(db, lambda s: (case_timeline(s, case_id), is_applicant(s, case_id, _Principal())))
    assert len(statements) >= 5
    # The lookups that follow a notice or a leg (only sent when the case has one).
    with db.engine.connect() as conn:
        for sql in ("SELECT envelope FROM payment_notice_events WHERE notice_id IN ('a', 'b') ORDER BY id",
                    "SELECT envelope FROM shipment_leg_events WHERE leg_id IN ('a', 'b') ORDER BY id",
                    "SELECT * FROM shipment_tracking_events WHERE leg_id IN ('a', 'b')"):
            statements.append((sql, ()))
        conn.execute(text("SELECT 1"))
    for statement, parameters in statements:
        plan = _plan(db, statement, parameters)
        assert "Seq Scan" not in plan, f"{statement}\n{plan}"
