"""The provincial daily statement checked and loaded into DuckDB, for files of a million lines.

Same format and same checks as the streaming reader it replaces: the title and the column header,
one row per line matching :func:`row_pattern`, a confirmation date that exists, and a totals line
that agrees with the rows. (That is :func:`payment_bridge.statements.parse_nontax_statement` but
for two leniencies kept as they were: an amount of 0.00, and a payment code checked for its
length in digits, not its profile's fields.) A fault raises :class:`StatementError` naming the
first bad line, with the reference parser's words for it when it has any.

Only the title, the header and the totals line are decoded in Python. The rows go to DuckDB as
the bytes they are, read one byte per character (``latin-1``): a valid row is ASCII except its
交易类型, whose two spellings are compared as their GBK bytes, so every row that passes is valid
GBK as well. DuckDB's CSV reader is lenient where the format is not (it skips blank lines and a
trailing comma, and has its own idea of line ends), so the rows are loaded that way only when a
few byte counts show it cannot matter: every line ends the same way, five commas a line, and as
many records as lines. Anything else goes through :func:`_check_rows`, a line-by-line check in
Python that names the fault, or (a valid file with mixed line ends) the rows are loaded again with
plain line feeds.

The rows become table ``statement`` (``reference, transaction_id, amount_fen, fee_fen, kind,
confirmed`` and ``h``, the reference's hash): money in fen, the confirmation time as the number
YYYYMMDDHHMMSS (:func:`at_sql` makes it UTC epoch seconds), and ``rowid + FIRST_ROW_LINE`` is the
line number. The table is created in file order: DuckDB keeps the insertion order
(``preserve_insertion_order``, on by default) and the row ids follow it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from payment_bridge.beijing_time import BEIJING
from payment_bridge.errors import AmountError, StatementError
from payment_bridge.money import yuan_to_fen
from payment_bridge.payment_code import DEFAULT_PROFILE, PaymentCodeProfile
from payment_bridge.statements import nontax_daily
from reconciliation.duck import DuckSession, sql_literal as _literal
from reconciliation.records import KIND_PAID, KIND_REFUND

FIRST_ROW_LINE = 3  # line 1 is the title, line 2 the column header
FIELDS = 6
_AMOUNT = r"(?:0|[1-9][0-9]{0,10})(?:\.[0-9]{1,2})?"
_TRANSACTION = r"[A-Za-z0-9_\-]{1,64}"
_CONFIRMED = r"[0-9]{8}(?:[01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]"  # YYYYMMDD then a valid wall-clock time
_BEIJING_SECONDS = int(BEIJING.utcoffset(None).total_seconds())
# 交易类型 as DuckDB sees it in a file read as latin-1: its GBK bytes, one character each.
_GBK_KINDS = {name.encode("gbk").decode("latin-1"): kind for name, kind in nontax_daily.KINDS.items()}


@dataclass(frozen=True)
class StatementInfo:
    statement_date: date
    adm_div_code: str
    line_count: int  # rows


def row_pattern(profile: PaymentCodeProfile = DEFAULT_PROFILE) -> re.Pattern[str]:
    """A row of the statement (without its line feed): what every line between header and totals is."""
    kinds = "|".join(nontax_daily.KINDS)
    return re.compile(rf"[0-9]{{{profile.length}}},{_TRANSACTION},(?:{kinds}),{_AMOUNT},{_AMOUNT},{_CONFIRMED}\r?")


def at_sql(confirmed: str) -> str:
    """SQL for the UTC epoch seconds of column ``confirmed`` of table ``statement``."""
    return (f"CAST(epoch(strptime(lpad(CAST({confirmed} AS VARCHAR), 14, '0'), '%Y%m%d%H%M%S')) AS BIGINT)"
            f" - {_BEIJING_SECONDS}")


def load_statement(session: DuckSession, raw: bytes, *, profile: PaymentCodeProfile = DEFAULT_PROFILE) -> StatementInfo:
    """Check ``raw`` and load its rows into table ``statement`` of ``session``."""
    body_end = len(raw)  # blank lines after the totals line are allowed (no rstrip: a copy of the file)
    while body_end and raw[body_end - 1] in b"\r\n":
        body_end -= 1
    header_end = raw.find(b"\n", raw.find(b"\n") + 1) + 1
    if not 0 < header_end <= body_end:
        raise StatementError("statement needs a title, a column header and a totals line")
    statement_date, adm_div_code = _header(_gbk(raw[:header_end]))
    rows_end = raw.rfind(b"\n", 0, body_end) + 1  # where the totals line starts
    lines = raw.count(b"\n", header_end, rows_end)
    if not _load_as_is(session, raw, header_end, rows_end, lines, profile):
        _check_rows(raw, header_end, rows_end, profile)  # raises, naming the first bad line
        with session.create("statement-lf.csv") as out:  # valid, but not shaped for DuckDB: line feeds only
            out.write(raw[header_end:rows_end].replace(b"\r\n", b"\n"))
        if _load(session, "statement-lf.csv", profile) != lines:
            raise RuntimeError("a checked statement did not load")
    sums = session.con.execute(f"""
        SELECT count(*), coalesce(sum(amount_fen) FILTER (WHERE kind = '{KIND_PAID}'), 0),
               coalesce(sum(amount_fen) FILTER (WHERE kind = '{KIND_REFUND}'), 0), coalesce(sum(fee_fen), 0)
          FROM statement""").fetchone()
    check_totals((FIRST_ROW_LINE + lines, _gbk(raw[rows_end:body_end])), tuple(map(int, sums)))
    return StatementInfo(statement_date, adm_div_code, lines)


def check_totals(last_line: tuple[int, str], actual: tuple[int, int, int, int]) -> None:
    """Check the totals line ``(number, text)`` against ``(rows, paid, refunded, fee)`` in fen."""
    number, text = last_line
    rows = nontax_daily.numbered_csv_rows(text)
    row = rows[0][1] if rows else []
    if len(row) != 5 or row[0] != nontax_daily.TOTALS_LABEL:
        raise StatementError(f"line {number}: last line must be the totals line")
    try:
        if not row[1].isdigit():
            raise AmountError("count must be digits")
        stated = (int(row[1]), *(yuan_to_fen(v) for v in row[2:]))
    except AmountError as exc:
        raise StatementError(f"line {number}: {exc.message}") from None
    if stated != actual:
        raise StatementError(f"line {number}: totals do not match the rows", code="statement_totals_mismatch")


def _gbk(data: bytes) -> str:
    try:
        return data.decode("gbk")
    except UnicodeDecodeError:
        raise StatementError("statement is not valid GBK") from None


def _header(text: str) -> tuple[date, str]:
    rows = nontax_daily.numbered_csv_rows(text)
    if len(rows) < 2:
        raise StatementError("statement needs a title, a column header and a totals line")
    statement_date, adm_div_code = nontax_daily._parse_title(rows[0][1])
    if tuple(rows[1][1]) != nontax_daily.COLUMNS:
        raise StatementError("line 2: unexpected column header")
    return statement_date, adm_div_code


def _load_as_is(session: DuckSession, raw: bytes, start: int, end: int, lines: int,
                profile: PaymentCodeProfile) -> bool:
    """Load the rows ``raw[start:end]`` unchanged; False unless each line became one valid record."""
    carriage_returns = raw.count(b"\r", start, end)  # none, or one ending each line
    if carriage_returns and (carriage_returns != lines or raw.count(b"\r\n", start, end) != lines):
        return False
    if raw.count(b",", start, end) != (FIELDS - 1) * lines:  # DuckDB would drop a trailing empty field
        return False
    with session.create("statement.csv") as out:
        out.write(memoryview(raw)[start:end])
    import duckdb

    try:
        return _load(session, "statement.csv", profile) == lines
    except duckdb.Error:  # e.g. a line with more or fewer fields: _check_rows names it
        return False


def _load(session: DuckSession, name: str, profile: PaymentCodeProfile) -> int:
    """Create table ``statement`` from the valid records of file ``name``; how many it holds, or -1
    when a confirmation date does not exist. The time stays a number, YYYYMMDDHHMMSS (:func:`at_sql`
    for the few that need it), its dates checked here, once each."""
    kinds = " ".join(f"WHEN {_literal(gbk)} THEN {_literal(kind)}" for gbk, kind in _GBK_KINDS.items())
    session.con.execute("DROP TABLE IF EXISTS statement")
    session.con.execute(f"""
        CREATE TABLE statement AS
        SELECT reference, transaction_id,
               CAST(CAST(amount AS DECIMAL(13, 2)) * 100 AS BIGINT) AS amount_fen,
               CAST(CAST(fee AS DECIMAL(13, 2)) * 100 AS BIGINT) AS fee_fen,
               CASE kind {kinds} END AS kind,
               CAST(confirmed AS BIGINT) AS confirmed,
               hash(reference) AS h  -- the join's key (reconciliation.bulk)
          FROM read_csv({_literal(session.path(name))},
                        columns = {{'reference': 'VARCHAR', 'transaction_id': 'VARCHAR', 'kind': 'VARCHAR',
                                    'amount': 'VARCHAR', 'fee': 'VARCHAR', 'confirmed': 'VARCHAR'}},
                        header = false, auto_detect = false, delim = ',', quote = '', escape = '',
                        strict_mode = true, encoding = 'latin-1')
         WHERE regexp_full_match(reference, '[0-9]{{{profile.length}}}')
           AND regexp_full_match(transaction_id, {_literal(_TRANSACTION)})
           AND kind IN ({", ".join(map(_literal, _GBK_KINDS))})
           AND regexp_full_match(amount, {_literal(_AMOUNT)})
           AND regexp_full_match(fee, {_literal(_AMOUNT)})
           AND regexp_full_match(confirmed, {_literal(_CONFIRMED)})""")
    rows = session.con.execute("SELECT count(*) FROM statement").fetchone()[0]
    days = session.con.execute("SELECT DISTINCT confirmed // 1000000 FROM statement").fetchall()
    return rows if all(_is_date(f"{day:08d}") for (day,) in days) else -1


def _is_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y%m%d")
        return True
    except ValueError:
        return False


def _check_rows(raw: bytes, start: int, end: int, profile: PaymentCodeProfile) -> None:
    """Check the rows ``raw[start:end]`` line by line in Python; raise for the first bad one."""
    pattern = row_pattern(profile)
    dates: set[str] = set()
    for number, line in enumerate(raw[start:end].split(b"\n")[:-1], start=FIRST_ROW_LINE):
        text = _gbk(line)
        if not pattern.fullmatch(text):
            raise _row_error(number, text, profile)
        day = text.rsplit(",", 1)[1][:8]
        if day not in dates:
            if not _is_date(day):
                raise StatementError(f"line {number}: 确认时间 must be YYYYMMDDHHMMSS")
            dates.add(day)


def _row_error(number: int, text: str, profile: PaymentCodeProfile) -> StatementError:
    """The error for bad row ``number``: the reference parser's words if it refuses it too."""
    try:
        fields = nontax_daily.numbered_csv_rows(text)
    except StatementError:  # not even CSV
        fields = []
    if fields:
        nontax_daily._parse_row(number, fields[0][1], profile)
    return StatementError(f"line {number}: malformed row")
