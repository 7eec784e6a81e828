"""A day's payment reconciliation at a million rows a side: DuckDB takes out the clean pairs.

Nearly every payment code of a day has one ledger record and one statement line, and they agree:
the engine would count such a pair and drop it. Here DuckDB does that part in bulk, and the one
engine (:func:`reconciliation.engine.match`, the tolerance rules, :func:`~reconciliation.payments.
classify_payments`) gets every record of every other group, so the result and its content hash are
those of :func:`reconciliation.payments.reconcile_payments` over the whole day.

1. ``ledger`` (in a thread, beside 2): DuckDB reads the day's ledger straight from PostgreSQL
   (:class:`reconciliation.ledger.PostgresLedger`) into table ``ledger``. Until it is read DuckDB
   keeps to one thread: PostgreSQL needs a core of its own;
2. ``check`` (in a thread, while DuckDB is opened and PostgreSQL attached) and ``statement``:
   the daily statement's title and header are checked
   (:func:`reconciliation.statement_table.check_statement`), and its rows are checked as they are
   loaded as table ``statement`` (:func:`~reconciliation.statement_table.load_statement`);
3. ``prefilter``: a payment code is *clean* when it has exactly one record a side (each side's
   ``_busy`` table lists the others: :data:`BUSY_SQL`), they are consistent
   (``payments._consistent``: same amount, the ledger's transaction number empty or the same, the
   ledger status's kind the line's kind) and no carried TIMING item has its code
   (:data:`CLEAN_SQL`). The records of every other code come back; the clean ones are counted
   (every ledger record that did not come back is in a clean pair);
4. ``engine``: the records that came back (the ledger's sorted, the statement's in line order,
   each followed by the carried records) are matched and classified; the clean count and amount
   are added to the engine's. Meanwhile, in a thread, DuckDB is closed and its directory removed
   (``close``, some 0.35 s at ten million lines a side).

``stages`` of the answer has each step's seconds.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from itertools import chain
from typing import Protocol

from payment_bridge.payment_code import DEFAULT_PROFILE, PaymentCodeProfile
from reconciliation.categories import Discrepancy, RunResult
from reconciliation.duck import DuckSession, cores, duck_session
from reconciliation.engine import match
from reconciliation.payments import KIND_OF, PaymentRules, carried_records, classify_payments, payment_pairing
from reconciliation.records import LedgerPayment, StatementEntry
from reconciliation.statement_table import FIRST_ROW_LINE, at_sql, check_statement, load_statement


# Codes with more than one record on a side (``h``: the code's hash, so a collision only makes a
# code busy for nothing: busy codes come back whole and the engine sorts them out).
BUSY_SQL = "CREATE TABLE {table}_busy AS SELECT h FROM {table} GROUP BY h HAVING count(*) > 1"

_KIND_OF_STATUS = " ".join(f"WHEN '{status}' THEN '{kind}'" for status, kind in KIND_OF.items())

# The ledger and statement records of every payment code that is not clean, a joined row each (a
# record of a code with several records comes back more than once: its rowid tells). The join is on
# the codes' hashes, which is cheaper than on the text; two codes of one hash come back as well.
CLEAN_SQL = f"""
SELECT l.rowid, l.payment_code, l.transaction_id, l.amount_fen, l.status, l.paid_at,
       s.rowid + {FIRST_ROW_LINE}, s.reference, s.transaction_id, s.amount_fen, s.fee_fen, s.kind,
       {at_sql('s.confirmed')}
  FROM ledger AS l FULL JOIN statement AS s ON s.h = l.h
 WHERE l.rowid IS NULL OR s.rowid IS NULL OR l.payment_code IS DISTINCT FROM s.reference
    OR l.h IN (SELECT h FROM ledger_busy UNION ALL SELECT h FROM statement_busy)
    OR l.payment_code IN (SELECT unnest($carried::VARCHAR[]))
    OR NOT coalesce(l.amount_fen = s.amount_fen
                    AND (l.transaction_id = s.transaction_id OR l.transaction_id IS NULL OR l.transaction_id = '')
                    AND s.kind = CASE l.status {_KIND_OF_STATUS} END,
                    false)
"""


@dataclass
class BulkRun:
    result: RunResult
    statement_date: date  # from the statement's title line
    adm_div_code: str
    line_count: int
    clean_in_bulk: int = 0  # the clean pairs DuckDB counted (the engine may find more among the rest)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per step


# DuckDB's buffers for a day. The tables live in a database file in the run's private directory
# (compressed, and paged out to it rather than spilled): at ten million rows a side they are some
# 1.4 GB uncompressed, and an in-memory database under its limit spilled them, and the join's hash
# table, to temporary files for most of the run. With the statement's bytes the caller holds (some
# 740 MB at ten million lines), the process stays under 2 GiB (bench reconcile_10m: peak 1,767 MiB).
# Its speed-up is not settled: one synthetic trial at 768 MB took the prefilter from 95 s to 23 s,
# the one bench run at 640 MB (load 3-4) still spent 40 s in it. Measure before raising the limit.
# Text columns are stored uncompressed (``uncompressed_text``): DuckDB choosing and applying FSST or
# a dictionary for ten million unique codes and transaction numbers cost more CPU than the load
# itself (at two million lines: 2.7-3.2 CPU seconds to store the statement instead of 4.3-5.7; the
# file 137 MB instead of 52 MB, paged out rather than held under the limit).
BULK_MEMORY_LIMIT = "640MB"
# The process's budget (issue 18: under 2,048 MiB at ten million lines a side). Once the statement
# is checked and loaded its bytes are let go (:class:`RawStatement`), and the join gets DuckDB's
# share of the budget: the rest is for Python, the rows that come back and what DuckDB allocates
# outside its buffer pool. Measured at ten million lines a side (recon11, 4 A/B pairs against 640 MB
# throughout and the caller holding the bytes, load 2.8-6.7): the join's spill files went from
# 1.0-1.2 GB a run to 0.06-0.2 GB and the prefilter from 6.4-9.6 s to 4.9-6.1 s of wall time, but the
# process's CPU barely moved (medians 39.1 CPU s against 40.3) and its peak rose to 1,824-1,848 MiB
# (from 1,707-1,790: the join's buffers are now the peak, not the load beside the statement's bytes).
PROCESS_BUDGET_MIB = 2048
JOIN_HEADROOM_MIB = 512
JOIN_MEMORY_LIMIT = f"{PROCESS_BUDGET_MIB - JOIN_HEADROOM_MIB}MiB"
# Measured at 2M rows a side (CPU seconds of each step alone) and not taken, for they saved nothing:
# the codes as HUGEINT keys (busy and join slower than on the UBIGINT hash), as BIGINT keys without
# the marker digits (statement cheaper, ledger dearer: a wash), the statement read from its CSV in
# each query instead of a table, a join of row ids only with the rows fetched after, the join in
# hash partitions (many times slower), a 900 MB limit for the join alone (at 10M: the same CPU, a
# higher peak). The join alone is a quarter of the prefilter's CPU; the comparisons and busy lookups the rest.


class RawStatement:
    """The statement's bytes handed over to :func:`reconcile_payments_bulk`, which takes them
    (:meth:`take`) and lets go of them once they are checked and loaded, before the join: a caller
    that keeps no reference of its own has them freed then (some 740 MB at ten million lines)."""
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data: bytes | None = data

    def take(self) -> bytes:
        data, self.data = self.data, None
        if data is None:
            raise ValueError("the statement was handed over already")
        return data


class LedgerSource(Protocol):
    """The day's ledger for DuckDB: rows in LedgerPayment's column order, ``paid_at`` a timestamp
    with time zone (NULL for an unpaid notice). :class:`reconciliation.ledger.PostgresLedger`."""

    def attach(self, con) -> None:
        """Make the rows reachable from DuckDB connection ``con``, before it is shut in."""

    def rows(self) -> str:
        """A table expression of the rows, on the connection attached."""


def reconcile_payments_bulk(ledger: LedgerSource, statement: bytes | RawStatement, day: date,
                            rules: PaymentRules = PaymentRules(), carried: Sequence[Discrepancy] = (), *,
                            profile: PaymentCodeProfile = DEFAULT_PROFILE, threads: int | None = None) -> BulkRun:
    """Reconcile ``day``: ``ledger`` (read in a thread) against ``statement``, the
    raw daily file (a :class:`RawStatement` to have it freed before the join); ``carried`` are
    yesterday's TIMING items. ``threads``: DuckDB's once the
    ledger is read (default: the cores). A malformed statement raises
    :class:`~payment_bridge.errors.StatementError`."""
    stages: dict[str, float] = {}
    carried_left, carried_right = carried_records(carried)
    raw = statement.take() if isinstance(statement, RawStatement) else statement
    with ThreadPoolExecutor(2, "reconcile") as pool:
        checking = pool.submit(_timed, stages, "check", check_statement, raw, profile=profile)
        with ExitStack() as duck:
            session = duck.enter_context(duck_session(threads=1, prepare=ledger.attach, on_disk=True,
                                                      uncompressed_text=True, memory_limit=BULK_MEMORY_LIMIT))
            reader = session.con.cursor()  # beside the check
            ledger_read = pool.submit(_load_ledger, reader, ledger, threads or cores(), stages)
            try:
                checked = checking.result()
                started = time.perf_counter()
                info = load_statement(session, checked)
                session.con.execute(BUSY_SQL.format(table="statement"))
                stages["statement"] = time.perf_counter() - started
                ledger_read.result()
            finally:
                if not ledger_read.done():  # the statement was refused: stop reading the ledger
                    reader.interrupt()
                    wait([ledger_read])
            del raw, checking, checked  # the statement is in DuckDB: its bytes go (unless the caller keeps them)
            session.con.execute(f"SET memory_limit = '{JOIN_MEMORY_LIMIT}'")
            started = time.perf_counter()
            ledger_left, statement_left, clean_count, clean_amount = _prefilter(
                session, sorted({r[0] for r in chain(carried_left, carried_right)}))  # their group keys
            stages["prefilter"] = time.perf_counter() - started
            closing = duck.pop_all()  # from here on closed in a thread (DuckDB and its directory) beside the engine
        closed = pool.submit(_timed, stages, "close", closing.close)
        try:
            started = time.perf_counter()
            pairing = payment_pairing(rules, frozenset(carried_left) | frozenset(carried_right))
            found = match(pairing, chain(ledger_left, carried_left), chain(statement_left, carried_right))
            found.clean_count += clean_count
            found.clean_amount_fen += clean_amount
            result = classify_payments(found, day, rules)
            stages["engine"] = time.perf_counter() - started
        finally:
            wait([closed])
        closed.result()  # a failure to close is raised, once the engine is done
    return BulkRun(result, info.statement_date, info.adm_div_code, info.line_count, clean_count, stages)


def _timed(stages: dict[str, float], name: str, function, *args, **kwargs):
    started = time.perf_counter()
    try:
        return function(*args, **kwargs)
    finally:
        stages[name] = time.perf_counter() - started


_LEDGER_SQL = f"""
CREATE TABLE ledger AS
SELECT CAST(payment_code AS VARCHAR) AS payment_code, CAST(transaction_id AS VARCHAR) AS transaction_id,
       CAST(amount_fen AS BIGINT) AS amount_fen, CAST(status AS VARCHAR) AS status,
       coalesce(CAST(floor(epoch(paid_at)) AS BIGINT), 0) AS paid_at, hash(payment_code) AS h
  FROM {{rows}} AS r({", ".join(LedgerPayment._fields)})"""


def _load_ledger(cursor, ledger: LedgerSource, threads: int, stages: dict[str, float]) -> None:
    """Table ``ledger``, through ``cursor`` (this thread's own); DuckDB gets its ``threads`` when
    PostgreSQL is done."""
    try:
        started = time.perf_counter()
        try:
            cursor.execute(_LEDGER_SQL.format(rows=ledger.rows()))
        finally:
            cursor.execute(f"SET threads = {int(threads)}")
        read = time.perf_counter()
        cursor.execute(BUSY_SQL.format(table="ledger"))
        stages["ledger"], stages["ledger_busy"] = read - started, time.perf_counter() - read
    finally:
        cursor.close()


def _prefilter(session: DuckSession, carried_codes: list[str]) -> tuple[list, list, int, int]:
    """(ledger records, statement records) of the codes that are not clean, and the clean pairs'
    count and amount."""
    ledger_rows, ledger_amount = session.con.execute(
        "SELECT count(*), coalesce(sum(amount_fen), 0) FROM ledger").fetchone()
    lefts: dict[int, tuple] = {}
    rights: dict[int, tuple] = {}
    for row in session.con.execute(CLEAN_SQL, {"carried": carried_codes}).fetchall():
        if row[0] is not None:
            lefts[row[0]] = row[1:6]
        if row[6] is not None:
            rights[row[6]] = (*row[7:13], row[6])  # the line number is the entry's last field
    ledger_left = sorted(map(LedgerPayment._make, lefts.values()))
    statement_left = [StatementEntry._make(rights[line]) for line in sorted(rights)]
    clean_amount = int(ledger_amount) - sum(r.amount_fen for r in ledger_left if r.amount_fen is not None)
    return ledger_left, statement_left, ledger_rows - len(ledger_left), clean_amount
