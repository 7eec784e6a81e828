"""A ledger as :func:`reconciliation.ledger.ledger_stream` opens it for the bulk path, without
PostgreSQL: an Arrow C stream of LedgerPayment's columns, ``paid_at`` a timestamp with time zone
(NULL for an unpaid notice's 0), made by a DuckDB of its own."""
from __future__ import annotations

from collections.abc import Iterable
from contextlib import nullcontext

import duckdb

from reconciliation.records import LedgerPayment


class ArrowRows:
    """Anything with ``__arrow_c_stream__`` is a table to DuckDB; this hands over one stream."""

    def __init__(self, relation):
        self._relation = relation

    def __arrow_c_stream__(self, requested_schema=None):
        return self._relation.__arrow_c_stream__(requested_schema)


def ledger_source(ledger: Iterable[LedgerPayment]):
    """What reconciliation.bulk takes: a function opening the ledger."""
    con = duckdb.connect()
    con.execute("CREATE TABLE day_rows (payment_code VARCHAR, transaction_id VARCHAR, amount_fen BIGINT, "
                "status VARCHAR, paid_at TIMESTAMPTZ)")
    values = [(*p[:4], p.paid_at or None) for p in ledger]
    if values:
        con.executemany("INSERT INTO day_rows VALUES (?, ?, ?, ?, to_timestamp(?))", values)
    rows = ArrowRows(con.sql("SELECT * FROM day_rows"))
    return lambda: nullcontext(rows)
