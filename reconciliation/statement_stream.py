"""A streaming reader of the provincial daily statement, for files of a million lines.

Same format and same checks as :func:`payment_bridge.statements.parse_nontax_statement` (the
reference parser; a property test keeps the two in agreement), but it reads the file in blocks,
validates each block with one regular expression and yields compact
:class:`~reconciliation.records.StatementEntry` records, so memory stays flat and a million lines
take about a second. The totals line is checked when the file ends: consume the whole iterator
before trusting anything it yielded.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from itertools import compress
from operator import add
from datetime import datetime
from typing import BinaryIO

from payment_bridge.beijing_time import beijing_to_utc
from payment_bridge.errors import AmountError, StatementError
from payment_bridge.money import yuan_to_fen
from payment_bridge.payment_code import DEFAULT_PROFILE, PaymentCodeProfile
from payment_bridge.statements import nontax_daily
from reconciliation.records import KIND_PAID, StatementEntry

BLOCK_BYTES = 4 * 1024 * 1024
_AMOUNT = r"(?:0|[1-9][0-9]{0,10})(?:\.[0-9]{1,2})?"


def _row_pattern(profile: PaymentCodeProfile) -> re.Pattern[str]:
    kinds = "|".join(nontax_daily.KINDS)
    return re.compile(
        rf"^([0-9]{{{profile.length}}}),([A-Za-z0-9_\-]{{1,64}}),({kinds}),({_AMOUNT}),({_AMOUNT}),"
        r"([0-9]{8}(?:[01][0-9]|2[0-3])[0-5][0-9])([0-5][0-9])\r?$",
        re.M,
    )


def _fen(text: str) -> int:
    if text[-3:-2] == ".":  # the writer's form, "12.30": the digits are the fen
        return int(text.replace(".", "", 1))
    return yuan_to_fen(text)


class NontaxStatementReader:
    """Iterate a daily statement: ``for entry in NontaxStatementReader(stream): ...``.

    After the iteration, ``statement_date``, ``adm_div_code`` and ``line_count`` are set and the
    totals have been checked (a :class:`StatementError` names the line otherwise).
    """

    def __init__(self, stream: BinaryIO, *, profile: PaymentCodeProfile = DEFAULT_PROFILE,
                 block_bytes: int = BLOCK_BYTES):
        self.stream = stream
        self.profile = profile
        self.block_bytes = block_bytes
        self.statement_date = None
        self.adm_div_code = None
        self.line_count = 0
        self._row = _row_pattern(profile)

    def __iter__(self) -> Iterator[StatementEntry]:
        kinds = nontax_daily.KINDS
        minutes: dict[str, int] = {}
        paid = refunded = fee_total = 0
        line_no = 0
        pending = b""
        header_done = False
        last_line: tuple[int, str] | None = None
        make = partial(tuple.__new__, StatementEntry)  # a record per row without a Python call
        while True:
            block = self.stream.read(self.block_bytes)
            data = pending + block
            if block and not header_done and data.count(b"\n") < 3:
                pending = data  # the title and the column header come first, whole
                continue
            if block:  # hold back the last non-blank line: at the end of the file it is the totals line
                cut = data.rstrip(b"\r\n").rfind(b"\n") + 1
                data, pending = data[:cut], data[cut:]
            else:
                pending = b""
            if not data:
                if block:
                    continue
                break
            try:
                text = data.decode("gbk")
            except UnicodeDecodeError:
                raise StatementError("statement is not valid GBK") from None
            if not block:  # the rest of the file: the totals line and perhaps blank lines
                if not header_done:
                    text, line_no = self._header(text)
                    header_done = True
                last_line = (line_no + 1, text.strip("\r\n"))
                break
            if not header_done:
                text, line_no = self._header(text)
                header_done = True
            rows = self._row.findall(text)
            if len(rows) != text.count("\n"):
                self._raise_bad_row(text, line_no)
            if not rows:
                continue
            # Column at a time: the loops below run in C (map, zip, sum), not in Python bytecode.
            codes, transactions, kind_texts, amounts, fees, minute_texts, seconds = zip(*rows)
            for minute in set(minute_texts).difference(minutes):
                minutes[minute] = self._minute_epoch(minute, minute_texts, line_no)
            amount_fen = list(map(_fen, amounts))
            fee_fen = list(map(_fen, fees))
            kind_values = list(map(kinds.__getitem__, kind_texts))
            at = map(add, map(minutes.__getitem__, minute_texts), map(int, seconds))
            numbers = range(line_no + 1, line_no + 1 + len(rows))
            line_no += len(rows)
            is_paid = [k == KIND_PAID for k in kind_values]
            block_paid = sum(compress(amount_fen, is_paid))
            paid += block_paid
            refunded += sum(amount_fen) - block_paid
            fee_total += sum(fee_fen)
            yield from map(make, zip(codes, transactions, amount_fen, fee_fen, kind_values, at, numbers))
        if not header_done or last_line is None:
            raise StatementError("statement needs a title, a column header and a totals line")
        self.line_count = line_no - 2
        self._check_totals(last_line, (self.line_count, paid, refunded, fee_total))

    def _header(self, text: str) -> tuple[str, int]:
        rows = nontax_daily.numbered_csv_rows("\n".join(text.split("\n", 2)[:2]))
        if len(rows) < 2:
            raise StatementError("statement needs a title, a column header and a totals line")
        self.statement_date, self.adm_div_code = nontax_daily._parse_title(rows[0][1])
        if tuple(rows[1][1]) != nontax_daily.COLUMNS:
            raise StatementError("line 2: unexpected column header")
        return text.split("\n", 2)[2] if text.count("\n") >= 2 else "", 2

    def _minute_epoch(self, minute: str, block_minutes: tuple, line_no: int) -> int:
        try:
            local = datetime.strptime(minute, "%Y%m%d%H%M")
        except ValueError:
            line = line_no + block_minutes.index(minute) + 1
            raise StatementError(f"line {line}: 确认时间 must be YYYYMMDDHHMMSS") from None
        return int(beijing_to_utc(local.date(), local.time()).timestamp())

    def _raise_bad_row(self, text: str, line_no: int) -> None:
        for offset, line in enumerate(text.split("\n")[:-1], start=1):
            if not self._row.fullmatch(line.rstrip("\r") + ("\r" if line.endswith("\r") else "")):
                if not self._row.match(line + "\n"):
                    rows = nontax_daily.numbered_csv_rows(line)
                    nontax_daily._parse_row(line_no + offset, rows[0][1] if rows else [], self.profile)
                    raise StatementError(f"line {line_no + offset}: malformed row")
        raise StatementError(f"after line {line_no}: malformed rows")

    def _check_totals(self, last_line: tuple[int, str], actual: tuple[int, int, int, int]) -> None:
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
