"""Many rows into one table, in the caller's transaction: COPY on PostgreSQL (psycopg), else an executemany.

COPY sends the rows as one stream; an executemany's per-row INSERT (prepare, bind, result) cost some ten
times the CPU of the row itself (issue 18's service_call: the message log writes four records per
department call). Errors are SQLAlchemy's, as an INSERT's would be (IntegrityError, OperationalError, ...),
and a connection lost during the COPY is invalidated like one lost during a statement.
"""
from __future__ import annotations

from sqlalchemy import Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


def insert_rows(connection, table: Table, rows: list[dict]) -> None:
    """Insert `rows` (dicts keyed by column name, the same keys in each) into `table`. `connection` is a
    Core connection or an ORM session in a transaction; column types' bind processing is not applied on
    PostgreSQL, so values must already be what the column stores (aware datetimes, str, int)."""
    if not rows:
        return
    conn = connection.connection() if isinstance(connection, Session) else connection
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        conn.execute(insert(table), rows)
        return
    names = list(rows[0])
    quote = conn.dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(name) for name in names)}) FROM STDIN"
    raw, error = conn.connection.driver_connection, conn.dialect.dbapi.Error
    try:
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
    except error as exc:
        lost = conn.dialect.is_disconnect(exc, raw, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(statement, None, exc, error, connection_invalidated=lost,
                                  dialect=conn.dialect) from exc
