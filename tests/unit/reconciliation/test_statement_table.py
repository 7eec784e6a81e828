"""The statement loaded into DuckDB agrees with the reference parser and refuses what it refuses,
naming the first bad line."""
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payment_bridge.errors import StatementError
from payment_bridge.statements import PAID, REFUND, StatementLine, parse_nontax_statement, write_nontax_statement
from reconciliation.duck import duck_session
from reconciliation.records import StatementEntry
from reconciliation.statement_table import FIRST_ROW_LINE, at_sql, check_statement, load_statement

START = datetime(2024, 3, 14, 16, 0, tzinfo=UTC)
DAY = date(2024, 3, 15)

lines = st.lists(st.builds(
    lambda seq, txn, amount, fee, kind, seconds: StatementLine(
        "nontax", f"3401002430{seq:010d}", txn, amount, fee, kind, START + timedelta(seconds=seconds), 0),
    st.integers(1, 10**9), st.from_regex(r"[A-Za-z0-9_\-]{1,20}", fullmatch=True), st.integers(1, 10**12),
    st.integers(0, 10**4), st.sampled_from([PAID, REFUND]), st.integers(-10**9, 10**9)), max_size=40)


def entries(raw: bytes) -> tuple[list[StatementEntry], object]:
    """The statement's rows as DuckDB holds them, and what load_statement answered."""
    with duck_session(threads=1) as session:
        info = load_statement(session, check_statement(raw))
        rows = session.con.execute(f"""
            SELECT reference, transaction_id, amount_fen, fee_fen, kind, {at_sql('confirmed')}, rowid + {FIRST_ROW_LINE}
              FROM statement ORDER BY rowid""").fetchall()
    return [StatementEntry(*row) for row in rows], info


def reference(raw: bytes) -> list[StatementEntry]:
    return [StatementEntry.from_line(line) for line in parse_nontax_statement(raw).lines]


def _raw(n=3, day=DAY):
    return write_nontax_statement(day, "340100", [
        StatementLine("nontax", f"3401002430{i:010d}", f"B{i}", 100 + i, 0, PAID, START, 0) for i in range(n)])


def _refused(raw: bytes) -> str:
    with pytest.raises(StatementError) as caught, duck_session(threads=1) as session:
        load_statement(session, check_statement(raw))
    return caught.value.message


@settings(max_examples=60, deadline=None)
@given(lines)
def test_agrees_with_the_reference_parser(statement_lines):
    raw = write_nontax_statement(DAY, "340100", statement_lines)
    found, info = entries(raw)
    assert found == reference(raw)
    assert (info.line_count, info.statement_date, info.adm_div_code) == (len(statement_lines), DAY, "340100")


@settings(max_examples=30, deadline=None)
@given(lines.filter(bool), st.data())
def test_line_ends_of_any_kind_are_read_alike(statement_lines, data):
    """Line feeds alone, or a mix (DuckDB reads only uniform ends: the rest is normalised)."""
    raw = write_nontax_statement(DAY, "340100", statement_lines)
    rows = raw.split(b"\r\n")
    ends = data.draw(st.lists(st.sampled_from([b"\r\n", b"\n"]), min_size=len(rows) - 1, max_size=len(rows) - 1))
    mixed = b"".join(row + end for row, end in zip(rows, ends)) + rows[-1]
    assert entries(mixed)[0] == reference(raw)


def test_an_empty_day_and_blank_lines_after_the_totals():
    raw = _raw(0) + b"\r\n\r\n"
    found, info = entries(raw)
    assert found == [] and info.line_count == 0


def test_totals_are_checked():
    raw = _raw().replace("合计,3,3.03".encode("gbk"), "合计,3,3.04".encode("gbk"))
    assert "line 6: totals do not match" in _refused(raw)


def _with_line(n: int, text: bytes, count=6) -> bytes:
    """_raw(count) with line ``n`` (1-based) replaced by ``text``."""
    lines = _raw(count).split(b"\r\n")
    lines[n - 1] = text
    return b"\r\n".join(lines)


GOOD = b"34010024300000000001,B1,\xbd\xc9\xbf\xee,1.01,0.00,20240315000000"  # 缴款 in GBK


@pytest.mark.parametrize("bad", [
    GOOD.replace(b"B1,", b"B 1,"),  # a space in the transaction number
    GOOD.replace(b"B1,", b"B1,X,"),  # seven fields
    GOOD + b",",  # a trailing comma: DuckDB alone would drop the empty field
    GOOD[:-1],  # 确认时间 one digit short
    GOOD.replace(b"20240315", b"20240230"),  # no such date
    GOOD.replace(b"20240315", b"00000315"),  # year 0: DuckDB has it, Python does not
    GOOD.replace(b"20240315000000", b"20240315240000"),  # 24 o'clock
    GOOD.replace(b"1.01", b"1.010"),  # three decimals
    GOOD.replace(b"1.01", b"01.01"),  # a leading zero
    GOOD.replace(b"\xbd\xc9\xbf\xee", "退票".encode("gbk")),  # no such kind
    GOOD.replace(b"B1", b"\"B1\""),  # quotes are not part of the format
    GOOD.replace(b"B1", b"B\rB"),  # a carriage return inside a line
    GOOD.replace(b"B1", b"B\x00"),  # NUL
    GOOD.replace(b"34010024300000000001", b"3401002430000000001"),  # a short payment code
    b"",  # a blank line
])
def test_a_bad_row_is_named_by_its_line(bad):
    assert _refused(_with_line(5, bad)).startswith("line 5:")


def test_the_first_bad_line_is_named():
    lines = _raw(6).split(b"\r\n")
    lines[6] = lines[6].replace(b",", b";", 1)
    lines[4] = lines[4] + b","
    assert _refused(b"\r\n".join(lines)).startswith("line 5:")


def test_the_reference_parsers_words_are_used_where_it_has_them():
    assert _refused(_with_line(4, GOOD.replace(b"B1,", b"B1,X,"))) == "line 4: expected 6 fields, got 7"
    bad_date = _with_line(4, GOOD.replace(b"20240315", b"20240230"))
    assert _refused(bad_date) == "line 4: 确认时间 must be YYYYMMDDHHMMSS"


def test_a_truncated_file_is_refused():
    raw = _raw()
    assert "last line must be the totals line" in _refused(raw[: raw.rfind("合计".encode("gbk"))])
    assert "needs a title" in _refused(raw[: raw.find(b"\n") + 1])


def test_another_encoding_is_refused():
    raw = _raw()
    assert "not valid GBK" in _refused(raw.replace(b"B2", b"B\xff"))  # not GBK at all
    with pytest.raises(StatementError):  # the same file in UTF-8: its title is not 非税收入缴款日对账单
        with duck_session(threads=1) as session:
            load_statement(session, check_statement(raw.decode("gbk").encode("utf-8")))


def test_the_header_is_checked():
    raw = _raw()
    columns = raw.replace("交易流水号".encode("gbk"), "流水号".encode("gbk"))
    assert _refused(columns) == "line 2: unexpected column header"
    assert _refused(raw.replace(b"20240315,340100", b"20240315,34010")).startswith("line 1:")


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"[0-9]{8}", fullmatch=True) | st.dates().map(lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}"))
def test_duckdb_and_python_agree_on_dates(day):
    """Rows are date-checked in DuckDB when they load as they are, in Python when they do not."""
    try:
        datetime.strptime(day, "%Y%m%d")
        valid = True
    except ValueError:
        valid = False
    raw = _with_line(4, GOOD.replace(b"20240315", day.encode()), count=2)
    mixed = raw.replace(b"20240315000000\r\n", b"20240315000000\n", 1)  # line 3 ends in a line feed alone
    for variant in (raw, mixed):  # loaded as they are; through the line-by-line check
        if valid:
            assert len(entries(variant)[0]) == 2
        else:
            assert _refused(variant) == "line 4: 确认时间 must be YYYYMMDDHHMMSS"


def _first_fault(raw: bytes) -> str | None:
    """What the format says of ``raw``'s rows, line by line in plain Python: the first fault."""
    from reconciliation.statement_table import row_pattern

    rows = raw.rstrip(b"\r\n").split(b"\n")[2:-1]
    for number, line in enumerate(rows, start=FIRST_ROW_LINE):
        try:
            text = line.decode("gbk")
        except UnicodeDecodeError:
            return "GBK"
        if not row_pattern().fullmatch(text):
            return f"line {number}:"
        try:
            datetime.strptime(text.split(",")[5][:8], "%Y%m%d")
        except ValueError:
            return f"line {number}:"
    return None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
    [b",", b"\r", b"\n", b"\r\n", b'"', b" ", b"\x00", b"0", b"9", b"a", b"-", b".", b"\xbd", b"\xbd\xc9", b""])),
    min_size=1, max_size=3), st.booleans())
def test_a_damaged_row_is_never_taken(damage, replace):
    """Bytes put into (or over) rows: loaded only if every line is still a row, else refused at
    the first line that is not."""
    raw = bytearray(_raw(4))
    start = raw.find(b"\n", raw.find(b"\n") + 1) + 1
    end = raw.rstrip(b"\r\n").rfind(b"\n")
    for at, data in damage:
        at = start + at % (end - start)
        raw[at:at + (1 if replace else 0)] = data
    raw = bytes(raw)
    fault = _first_fault(raw)
    try:
        with duck_session(threads=1) as session:
            load_statement(session, check_statement(raw))
    except StatementError as exc:
        if fault is None:  # the rows are fine, the damage changed a sum
            assert "totals" in exc.message or "last line" in exc.message
        elif fault == "GBK":
            assert exc.message == "statement is not valid GBK"
        else:
            assert exc.message.startswith(fault), (exc.message, fault)
    else:
        assert fault is None


def test_a_large_file_is_checked_in_chunks_and_refused_in_any(monkeypatch):
    """A file is matched (and written for DuckDB) a chunk of whole lines at a time, two chunks at
    once: a fault in any chunk is found and named; chunks ending differently are read alike."""
    from reconciliation import statement_table

    monkeypatch.setattr(statement_table, "CHUNK_BYTES", 1 << 18)
    raw = _raw(30_000)  # about 2 MB: some eight chunks
    assert len(statement_table._chunks(raw, 0, len(raw))) > 4
    found, info = entries(raw)
    assert info.line_count == 30_000 and found == reference(raw)
    for line in (FIRST_ROW_LINE + 10, FIRST_ROW_LINE + 15_000, FIRST_ROW_LINE + 29_990):  # first, middle, last chunk
        rows = raw.split(b"\r\n")
        rows[line - 1] = rows[line - 1].replace(b",B", b",B B")
        assert _refused(b"\r\n".join(rows)).startswith(f"line {line}:")
    mixed = raw.replace(b"\r\n", b"\n", 20_000)  # LF in the first chunks, CR LF in the last ones
    assert entries(mixed)[0] == reference(mixed)
    mixed = b"\n".join(raw.rsplit(b"\r\n", 10_000))  # CR LF in the first chunks, LF in the last ones
    assert entries(mixed)[0] == reference(mixed)


def test_no_copy_of_the_file_is_held(monkeypatch):
    """Checking and loading a statement allocates chunks, never a copy of the whole file (at ten
    million lines the file alone is some 740 MB)."""
    import tracemalloc

    from reconciliation import statement_table

    monkeypatch.setattr(statement_table, "CHUNK_BYTES", 1 << 18, raising=False)
    raw = _raw(60_000)  # about 4 MB
    with duck_session(threads=1) as session:
        tracemalloc.start()
        try:
            load_statement(session, check_statement(raw))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < len(raw) // 2, (peak, len(raw))


def test_a_date_fault_is_named_under_the_statements_own_profile():
    """A date only DuckDB's pass finds is named by the line check of the profile the statement was
    checked with (22-digit codes here), not the default one."""
    from payment_bridge.payment_code import PaymentCodeProfile

    profile = PaymentCodeProfile(name="test-22", sequence_digits=12)
    raw = write_nontax_statement(DAY, "340100", [
        StatementLine("nontax", f"3401002430{i:012d}", f"B{i}", 100, 0, PAID, START, 0) for i in range(4)])
    lines = raw.split(b"\r\n")
    lines[4] = lines[4].replace(b",2024", b",2023", 1).replace(b"0315", b"0229", 1)  # 2023-02-29
    with pytest.raises(StatementError) as caught, duck_session(threads=1) as session:
        load_statement(session, check_statement(b"\r\n".join(lines), profile=profile))
    assert caught.value.message == "line 5: 确认时间 must be YYYYMMDDHHMMSS"


def test_the_kind_is_stored_as_an_enum_of_the_kinds():
    """交易类型 is a byte a row in the table (an ENUM of the kinds, cheaper to store and join than a
    string at ten million rows) and still reads, and compares, as the kind's text."""
    raw = _raw(2).replace(",缴款,".encode("gbk"), ",退款,".encode("gbk"), 1).replace(
        "合计,2,2.01,0.00".encode("gbk"), "合计,2,1.01,1.00".encode("gbk"))
    with duck_session(threads=1) as session:
        load_statement(session, check_statement(raw))
        rows = session.con.execute("SELECT typeof(kind), kind, kind = 'refund' FROM statement ORDER BY rowid").fetchall()
    assert [row[0] for row in rows] == ["ENUM('paid', 'refund')"] * 2
    assert [row[1:] for row in rows] == [("refund", True), ("paid", False)]


def test_a_date_fault_is_named_before_wrong_totals():
    """The dates and the totals are read in one scan of the table; a bad date still names its own
    line when the totals line is wrong too."""
    raw = _raw(3).replace(b"20240315000000", b"20230229000000", 2)  # lines 3 and 4: no 29 February in 2023
    assert _refused(raw.replace("合计,3,".encode("gbk"), "合计,4,".encode("gbk"))) == \
        "line 3: 确认时间 must be YYYYMMDDHHMMSS"
