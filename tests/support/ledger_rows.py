"""A ledger for the bulk path without PostgreSQL: the rows :class:`reconciliation.ledger.
PostgresLedger` reads (LedgerPayment's columns, ``paid_at`` a timestamp with time zone, NULL for
an unpaid notice's 0), put into a table of the bulk path's own DuckDB when it is attached."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciliation.records import LedgerPayment


@dataclass(frozen=True)
class LedgerRows:
    ledger: tuple[LedgerPayment, ...]

    def attach(self, con) -> None:
        con.execute("CREATE TABLE day_rows (payment_code VARCHAR, transaction_id VARCHAR, "
                    "amount_fen BIGINT, status VARCHAR, paid_at TIMESTAMPTZ)")
        if self.ledger:
            con.executemany("INSERT INTO day_rows VALUES (?, ?, ?, ?, to_timestamp(?))",
                            [(*p[:4], p.paid_at or None) for p in self.ledger])

    def rows(self) -> str:
        return "day_rows"


def ledger_source(ledger: Iterable[LedgerPayment]) -> LedgerRows:
    """What reconciliation.bulk takes as the day's ledger."""
    return LedgerRows(tuple(ledger))
