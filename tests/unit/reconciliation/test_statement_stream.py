"""The streaming statement reader agrees with the reference parser and refuses what it refuses."""
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payment_bridge.errors import StatementError
from payment_bridge.statements import PAID, REFUND, StatementLine, parse_nontax_statement, write_nontax_statement
from reconciliation.records import StatementEntry
from reconciliation.statement_stream import NontaxStatementReader

START = datetime(2024, 3, 14, 16, 0, tzinfo=UTC)

lines = st.lists(st.builds(
    lambda seq, txn, amount, fee, kind, seconds: StatementLine(
        "nontax", f"3401002430{seq:010d}", txn, amount, fee, kind, START + timedelta(seconds=seconds), 0),
    st.integers(1, 10**9), st.from_regex(r"[A-Za-z0-9_\-]{1,20}", fullmatch=True), st.integers(1, 10**9),
    st.integers(0, 10**4), st.sampled_from([PAID, REFUND]), st.integers(0, 86399)), max_size=40)


@settings(max_examples=100, deadline=None)
@given(lines, st.integers(16, 400))
def test_agrees_with_the_reference_parser(statement_lines, block_bytes):
    raw = write_nontax_statement(date(2024, 3, 15), "340100", statement_lines)
    reference = [StatementEntry.from_line(line) for line in parse_nontax_statement(raw).lines]
    reader = NontaxStatementReader(io.BytesIO(raw), block_bytes=block_bytes)
    assert list(reader) == reference
    assert (reader.line_count, reader.statement_date) == (len(statement_lines), date(2024, 3, 15))


def _raw(n=3):
    return write_nontax_statement(date(2024, 3, 15), "340100", [
        StatementLine("nontax", f"3401002430{i:010d}", f"B{i}", 100 + i, 0, PAID, START, 0) for i in range(n)])


def test_totals_are_checked():
    raw = _raw().replace("合计,3,3.03".encode("gbk"), "合计,3,3.04".encode("gbk"))
    with pytest.raises(StatementError, match="totals"):
        list(NontaxStatementReader(io.BytesIO(raw)))


def test_a_bad_row_is_named_by_its_line():
    raw = _raw().replace(b"B1,", b"B 1,")
    with pytest.raises(StatementError, match="line 4"):
        list(NontaxStatementReader(io.BytesIO(raw)))


def test_a_truncated_file_is_refused():
    raw = _raw()
    with pytest.raises(StatementError):
        list(NontaxStatementReader(io.BytesIO(raw[: raw.rfind("合计".encode("gbk"))])))
