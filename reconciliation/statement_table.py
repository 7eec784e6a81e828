"""The provincial daily statement checked and loaded into DuckDB, for files of a million lines.

Same format and same checks as the streaming reader it replaces: the title and the column header,
one row per line matching :func:`row_pattern`, a confirmation date that exists, and a totals line
that agrees with the rows. (That is :func:`payment_bridge.statements.parse_nontax_statement` but
for two leniencies kept as they were: an amount of 0.00, and a payment code checked for its
length in digits, not its profile's fields.) A fault raises :class:`StatementError` naming the
first bad line, with the reference parser's words for it when it has any.

Two steps, so that the first can run while DuckDB is still being opened: :func:`check_statement`
(no DuckDB) and :func:`load_statement`. Only the title, the header and the totals line are
decoded in Python. The rows are checked as the bytes they are, all at once. A valid row is ASCII
except its 交易类型, whose two spellings are GBK: first the six bytes those are made of trade
places with six control characters no valid row has (:data:`_SWAP`, ``bytes.translate``), so
a valid row becomes ASCII and stays valid exactly when it was. Then RE2 (its DFA, linear in the
file, a pass of about a tenth of a second for a million lines) matches the rows against "row,
line end" repeated (:func:`_rows_regex`). This is done a chunk of whole lines at a time
(:data:`CHUNK_BYTES`, two threads), and the swapped chunks are made again one at a time and
handed to DuckDB through a named pipe (:func:`reconciliation.duck.feed`): no copy of a file of ten
million lines (some 740 MB) is held beside the file itself, nor written to disk.
Only then does DuckDB read them, as the ASCII they now
are, with the column types of a checked row, so its CSV reader's leniencies (blank lines
skipped, a trailing comma, its own idea of a line end) cannot matter: there are none left. A
file whose rows end in CR LF and LF alike is loaded with plain line feeds; a file with a bad row
goes to :func:`_check_rows`, a line-by-line check in Python that names the fault.

The rows become table ``statement`` (``reference, transaction_id, amount_fen, fee_fen, kind,
confirmed`` and ``h``, the reference's hash): money in fen, the kind an ENUM of the two kinds
(:data:`KIND_TYPE`: a byte a row, read and compared as its text), the confirmation time as the number
YYYYMMDDHHMMSS (:func:`at_sql` makes it UTC epoch seconds), and ``rowid + FIRST_ROW_LINE`` is the
line number. One scan of the table then gives the confirmation days (each checked to exist; a bad
one sends the rows to :func:`_check_rows`, which names its line) and the sums for the totals line.
The table is created in file order: DuckDB keeps the insertion order (``preserve_insertion_order``,
on by default) and the row ids follow it.
"""
from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice

from kernel.clock import BEIJING
from payment_bridge.errors import AmountError, StatementError
from kernel.money import yuan_to_fen
from payment_bridge.payment_code import DEFAULT_PROFILE, PaymentCodeProfile
from payment_bridge.statements import nontax_daily
from reconciliation.duck import DuckSession, feed, sql_literal as _literal
from reconciliation.records import KIND_PAID, KIND_REFUND

FIRST_ROW_LINE = 3  # line 1 is the title, line 2 the column header
_AMOUNT = r"(?:0|[1-9][0-9]{0,10})(?:\.[0-9]{1,2})?"
_TRANSACTION = r"[A-Za-z0-9_\-]{1,64}"
_CONFIRMED = r"[0-9]{8}(?:[01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]"  # YYYYMMDD then a valid wall-clock time
_BEIJING_SECONDS = int(BEIJING.utcoffset(None).total_seconds())
# The bytes of 交易类型's GBK spellings trade places with as many control characters (which no
# field of a valid row has): a permutation, so a row is valid after it exactly when before.
_KIND_BYTES = sorted({byte for name in nontax_daily.KINDS for byte in name.encode("gbk")})
_SWAP = bytes.maketrans(bytes(_KIND_BYTES) + bytes(range(1, len(_KIND_BYTES) + 1)),
                        bytes(range(1, len(_KIND_BYTES) + 1)) + bytes(_KIND_BYTES))
# 交易类型 as the rows have it after the swap, and the kind it is
_SWAPPED_KINDS = {name.encode("gbk").translate(_SWAP).decode("ascii"): kind for name, kind in nontax_daily.KINDS.items()}


@dataclass(frozen=True)
class StatementInfo:
    statement_date: date
    adm_div_code: str
    line_count: int  # rows


@dataclass(frozen=True)
class CheckedStatement:
    """A statement whose title and header are checked (:func:`check_statement`); its rows are
    checked as they are loaded, and its totals line against them (:func:`load_statement`)."""
    statement_date: date
    adm_div_code: str
    totals_line: str
    profile: PaymentCodeProfile  # the payment codes' (for naming a bad line)
    raw: bytes = field(repr=False)  # the file, for naming a bad line
    rows_at: tuple[int, int] = field(repr=False, default=(0, 0))  # where the rows are in raw


def row_pattern(profile: PaymentCodeProfile = DEFAULT_PROFILE) -> re.Pattern[str]:
    """A row of the statement (without its line feed): what every line between header and totals is."""
    return re.compile(_row_regex_text(profile, list(nontax_daily.KINDS)) + r"\r?")


def _row_regex_text(profile: PaymentCodeProfile, kinds: list[str]) -> str:
    return rf"[0-9]{{{profile.length}}},{_TRANSACTION},(?:{'|'.join(kinds)}),{_AMOUNT},{_AMOUNT},{_CONFIRMED}"


def at_sql(confirmed: str) -> str:
    """SQL for the UTC epoch seconds of column ``confirmed`` of table ``statement``."""
    return (f"CAST(epoch(strptime(lpad(CAST({confirmed} AS VARCHAR), 14, '0'), '%Y%m%d%H%M%S')) AS BIGINT)"
            f" - {_BEIJING_SECONDS}")


def check_statement(raw: bytes, *, profile: PaymentCodeProfile = DEFAULT_PROFILE) -> CheckedStatement:
    """Check ``raw``'s title and header, and find its rows and totals line (the rows are checked as
    they are loaded, the totals against them: :func:`load_statement`)."""
    body_end = len(raw)  # blank lines after the totals line are allowed (no rstrip: a copy of the file)
    while body_end and raw[body_end - 1] in b"\r\n":
        body_end -= 1
    header_end = raw.find(b"\n", raw.find(b"\n") + 1) + 1
    if not 0 < header_end <= body_end:
        raise StatementError("statement needs a title, a column header and a totals line")
    statement_date, adm_div_code = _header(_gbk(raw[:header_end]))
    rows_end = raw.rfind(b"\n", 0, body_end) + 1  # where the totals line starts
    return CheckedStatement(statement_date, adm_div_code, _gbk(raw[rows_end:body_end]), profile, raw,
                            (header_end, rows_end))


def load_statement(session: DuckSession, checked: CheckedStatement) -> StatementInfo:
    """Load the rows of ``checked`` into table ``statement`` of ``session`` and check its totals line."""
    _load_rows(session, checked)
    *sums, days = session.con.execute(f"""
        SELECT count(*), coalesce(sum(amount_fen) FILTER (WHERE kind = '{KIND_PAID}'), 0),
               coalesce(sum(amount_fen) FILTER (WHERE kind = '{KIND_REFUND}'), 0), coalesce(sum(fee_fen), 0),
               list(DISTINCT confirmed // 1000000)
          FROM statement""").fetchone()
    for day in days or ():  # first the dates, each line's own fault, then the totals
        if not _is_date(f"{day:08d}"):
            _check_rows(checked.raw, *checked.rows_at, checked.profile)  # raises, naming the first line of that day
            raise RuntimeError("a confirmation date failed one check and passed the other")
    lines = int(sums[0])
    check_totals((FIRST_ROW_LINE + lines, checked.totals_line), tuple(map(int, sums)))
    return StatementInfo(checked.statement_date, checked.adm_div_code, lines)


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


def _rows_regex(profile: PaymentCodeProfile, line_end: str):
    """RE2, over swapped bytes (:data:`_SWAP`) read as latin-1: rows (:func:`row_pattern`'s, 交易类型
    swapped), each followed by ``line_end`` (a regex), any number of them."""
    import re2

    key = (profile.length, line_end)
    if key not in _ROWS_REGEXES:
        options = re2.Options()
        options.encoding = re2.Options.Encoding.LATIN1
        options.max_mem = 64 << 20  # room for the DFA's states: it never falls back to the slow NFA
        row = _row_regex_text(profile, [re.escape(kind) for kind in _SWAPPED_KINDS])
        _ROWS_REGEXES[key] = re2.compile(f"(?:{row}{line_end})*".encode("latin-1"), options)
    return _ROWS_REGEXES[key]


# 交易类型 as stored: an ENUM of the kinds (a byte a row, not a string), which reads and compares as the text
KIND_TYPE = f"ENUM({_literal(KIND_PAID)}, {_literal(KIND_REFUND)})"
_ROWS_REGEXES: dict[tuple[int, str], object] = {}
CHUNK_BYTES = 16 << 20  # the rows are swapped, matched and written this much at a time


def _chunks(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """``data[start:end]`` (whole lines) cut after a line feed about every :data:`CHUNK_BYTES`: a row
    never spans a cut, so the chunks are rows exactly when the whole is."""
    cuts = [start]
    while end - cuts[-1] > CHUNK_BYTES:
        cut = data.find(b"\n", cuts[-1] + CHUNK_BYTES, end) + 1
        if not cut or cut >= end:
            break
        cuts.append(cut)
    return list(zip(cuts, cuts[1:] + [end]))


def _swapped(data: bytes, start: int, end: int) -> bytes:
    """``data[start:end]`` with 交易类型's bytes swapped (:data:`_SWAP`)."""
    return data[start:end].translate(_SWAP)


def _chunk_ends(profile: PaymentCodeProfile, data: bytes, start: int, end: int) -> tuple[bytes, str | None]:
    """``data[start:end]`` swapped (:func:`_swapped`), and how its rows end: CR LF, LF, either
    (``\\r?\\n``), or None for a bad row."""
    swapped = _swapped(data, start, end)
    for line_end in ("\r\n", "\n", "\r?\n"):
        if _rows_regex(profile, line_end).fullmatch(swapped) is not None:
            return swapped, line_end
    return swapped, None


def _checked_rows(checked: CheckedStatement) -> Iterator[bytes]:
    """The rows of ``checked``, swapped (:data:`_SWAP`), a chunk at a time and each chunk only once it
    is matched (:func:`_chunk_ends`; the next one is matched in a thread meanwhile, for RE2 lets go of
    the GIL). A bad row raises :class:`StatementError` naming the first one (the chunks before it
    were given out already: the table they went into is thrown away with the run). The rows all end
    as the first chunk's do: a chunk ending otherwise is rewritten so (rows ending in CR LF and LF
    alike in the first chunk: line feeds alone), so that DuckDB reads one kind of line end."""
    raw, profile = checked.raw, checked.profile
    chunks = iter(_chunks(raw, *checked.rows_at))
    style = None
    with ThreadPoolExecutor(2, "statement-check") as pool:
        ahead = deque(pool.submit(_chunk_ends, profile, raw, *chunk) for chunk in islice(chunks, 2))
        while ahead:
            swapped, ends = ahead.popleft().result()
            following = next(chunks, None)
            if following is not None:
                ahead.append(pool.submit(_chunk_ends, profile, raw, *following))
            if ends is None:
                for pending in ahead:
                    pending.cancel()
                _check_rows(raw, *checked.rows_at, profile)  # raises, naming the first bad line
                raise RuntimeError("the statement's rows failed one check and passed the other")
            style = style or ("\n" if ends == "\r?\n" else ends)
            if ends != style:
                swapped = swapped.replace(b"\r\n", b"\n")
                if style == "\r\n":
                    swapped = swapped.replace(b"\n", b"\r\n")
            yield swapped
            del swapped


def _load_rows(session: DuckSession, checked: CheckedStatement) -> None:
    """Load the rows into table ``statement``, each chunk checked (:func:`_checked_rows`) before it is
    handed to DuckDB through a named pipe. At ten million lines, writing them to a file first cost
    1.7 of the load's 7 CPU seconds, and checking them all before swapping them again for the load
    another 0.8."""
    path = session.pipe("statement.csv")
    kinds = " ".join(f"WHEN {_literal(swapped)} THEN {_literal(kind)}" for swapped, kind in _SWAPPED_KINDS.items())
    with feed(path, _checked_rows(checked)):
        session.con.execute(f"""
            CREATE TABLE statement AS
            SELECT reference, transaction_id, CAST(amount * 100 AS BIGINT) AS amount_fen,
                   CAST(fee * 100 AS BIGINT) AS fee_fen, CAST(CASE kind {kinds} END AS {KIND_TYPE}) AS kind, confirmed,
                   hash(reference) AS h  -- the join's key (reconciliation.bulk)
              FROM read_csv({_literal(path)},
                            columns = {{'reference': 'VARCHAR', 'transaction_id': 'VARCHAR', 'kind': 'VARCHAR',
                                        'amount': 'DECIMAL(13, 2)', 'fee': 'DECIMAL(13, 2)', 'confirmed': 'BIGINT'}},
                            header = false, auto_detect = false, delim = ',', quote = '', escape = '',
                            strict_mode = true)""")


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
