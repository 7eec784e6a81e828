"""Rows handed to DuckDB through a named pipe (reconciliation.duck.feed): nothing stored on disk,
and neither side left waiting for the other when one of them fails."""
from __future__ import annotations

import os
import stat
import threading

import duckdb
import pytest

from reconciliation.duck import duck_session, feed, sql_literal
from reconciliation.statement_table import check_statement, load_statement
from tests.unit.reconciliation.test_statement_table import _raw

ROW = b"1,2\n"


def _within(seconds: float, function) -> None:
    """Run ``function`` in a thread; fail if it has not returned within ``seconds`` (a hang)."""
    outcome: list = []

    def run():
        try:
            function()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "feed hung"
    assert not [t for t in threading.enumerate() if t.name == "duckdb-feed"], "the writer was left running"
    if outcome[0] is not None:
        raise outcome[0]


def _count(session, path: str) -> int:
    return session.con.execute(
        f"SELECT count(*), sum(a) FROM read_csv({sql_literal(path)}, columns = {{'a': 'BIGINT', 'b': 'BIGINT'}}, "
        "header = false, auto_detect = false, strict_mode = true)").fetchone()


def test_the_statement_reaches_duckdb_through_a_pipe_not_a_file():
    raw = _raw(5_000)
    with duck_session(threads=1, on_disk=True) as session:
        info = load_statement(session, check_statement(raw))
        kinds = {name: stat.S_IFMT(os.stat(session.path(name)).st_mode) for name in os.listdir(session.directory)
                 if name.endswith(".csv")}
    assert info.line_count == 5_000
    assert kinds == {"statement.csv": stat.S_IFIFO}


def test_every_chunk_arrives_in_order():
    chunks = [b"".join(f"{i},{j}\n".encode() for j in range(1_000)) for i in range(200)]  # some 1.5 MB
    with duck_session(threads=2) as session:
        path = session.pipe("rows.csv")
        with feed(path, iter(chunks)):
            count, total = _count(session, path)
    assert (count, total) == (200_000, sum(range(200)) * 1_000)


def test_a_query_that_never_reads_lets_the_writer_go():
    with duck_session(threads=1) as session:
        path = session.pipe("rows.csv")

        def run():
            with feed(path, iter([ROW] * 100_000)):  # far more than a pipe holds
                raise RuntimeError("the query failed before it opened the pipe")

        with pytest.raises(RuntimeError, match="before it opened"):
            _within(20, run)


def test_a_query_that_fails_half_way_lets_the_writer_go():
    """DuckDB refuses a row in the middle of far more than a pipe holds: its error is raised, and the
    writer, blocked on a full pipe, ends."""
    chunks = [ROW * 50_000, b"x,1\n", *([ROW * 50_000] * 20)]
    with duck_session(threads=1) as session:
        path = session.pipe("rows.csv")

        def run():
            with feed(path, iter(chunks)):
                _count(session, path)

        with pytest.raises(duckdb.Error):
            _within(20, run)


def test_a_writer_that_fails_raises_its_error():
    """The rows' source fails half way: DuckDB saw the end of the data early, and the failure is
    raised rather than a table of half the rows taken as the whole."""
    def rows():
        yield ROW * 1_000
        raise ValueError("the source failed")

    with duck_session(threads=1) as session:
        path = session.pipe("rows.csv")
        with pytest.raises(ValueError, match="source failed"), feed(path, rows()):
            assert _count(session, path)[0] == 1_000
