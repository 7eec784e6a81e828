"""A streaming reader of the provincial daily statement, for files of a million lines.

Same format and same checks as :func:`payment_bridge.statements.parse_nontax_statement` (the
reference parser; a property test keeps the two in agreement), but it reads the file in blocks,
validates each block with one regular expression and yields compact
:class:`~reconciliation.records.StatementEntry` records, so memory stays flat and a million lines
take about a second. The totals line is checked when the file ends: consume the whole iterator
before trusting anything it yielded.

:func:`split_statement` cuts a statement's rows by payment-code partition (bytes only, before
worker processes fork); each part is read by a reader made with :meth:`NontaxStatementReader.part`
and the totals line is checked over the parts' sums with :func:`check_totals`.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from io import BytesIO
from itertools import compress, repeat
from operator import add, eq, mod
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


_SHORT_DECIMALS = re.compile(r"\.[0-9](?:\n|$)")


def _fen_column(texts: tuple[str, ...]) -> list[int]:
    """A column of amounts (already validated by the row pattern) as fen, in bulk when every one
    is in the writer's form with two decimals (then the digits are the fen)."""
    joined = "\n".join(texts)
    if joined.count(".") == len(texts) and not _SHORT_DECIMALS.search(joined):
        return list(map(int, joined.replace(".", "").split("\n")))
    return list(map(_fen, texts))


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
        self.sums = (0, 0, 0, 0)  # rows, paid, refunded and fee fen read so far
        self._row = _row_pattern(profile)
        self._line_numbers: list[int] | None = None  # a part's rows: their numbers in the whole file

    @classmethod
    def part(cls, split: "StatementSplit", index: int, *, profile: PaymentCodeProfile = DEFAULT_PROFILE,
             block_bytes: int = BLOCK_BYTES) -> "NontaxStatementReader":
        """A reader of one part of a split statement: no totals line (see :func:`check_totals`)."""
        reader = cls(BytesIO(split.header + split.parts[index]), profile=profile, block_bytes=block_bytes)
        reader._line_numbers = split.line_numbers[index]
        return reader

    def __iter__(self) -> Iterator[StatementEntry]:
        kinds = nontax_daily.KINDS
        minutes: dict[str, int] = {}
        line_no = 0
        pending = b""
        header_done = False
        last_line: tuple[int, str] | None = None
        make = partial(tuple.__new__, StatementEntry)  # a record per row without a Python call
        while True:
            block = self.stream.read(self.block_bytes)
            data = pending + block
            if not block and not data:
                break
            if block and not header_done and data.count(b"\n") < 3:
                pending = data  # the title and the column header come first, whole
                continue
            if block:  # hold back the last non-blank line: at the end of the file it is the totals line
                cut = data.rstrip(b"\r\n").rfind(b"\n") + 1
                data, pending = data[:cut], data[cut:]
            else:
                pending = b""
                if data and not data.endswith(b"\n") and self._line_numbers is not None:
                    data += b"\n"  # a part has no totals line: its last line is a row
            if not data:
                if block:
                    continue
                break
            try:
                text = data.decode("gbk")
            except UnicodeDecodeError:
                raise StatementError("statement is not valid GBK") from None
            if not block and self._line_numbers is None:  # the rest: the totals line, perhaps blank lines
                if not header_done:
                    text, line_no = self._header(text)
                    header_done = True
                last_line = (line_no + 1, text.strip("\r\n"))
                break
            if not header_done:
                text, line_no = self._header(text)
                header_done = True
            block_rows = text.count("\n")
            yield from self._rows(text, line_no, kinds, minutes, make)
            line_no += block_rows
            if not block:
                break
        if self._line_numbers is not None:
            if not header_done:
                raise StatementError("statement needs a title and a column header")
            self.line_count = line_no - 2
            return
        if not header_done or last_line is None:
            raise StatementError("statement needs a title, a column header and a totals line")
        self.line_count = line_no - 2
        check_totals(last_line, self.sums)

    def _rows(self, text, line_no: int, kinds: dict, minutes: dict, make) -> Iterator[StatementEntry]:
        """The records of whole rows (``text`` ends with a newline) after line ``line_no``."""
        if isinstance(text, bytes):
            try:
                text = text.decode("gbk")
            except UnicodeDecodeError:
                raise StatementError("statement is not valid GBK") from None
        rows = self._row.findall(text)
        if len(rows) != text.count("\n"):
            self._raise_bad_row(text, line_no)
        if not rows:
            return
        # Column at a time: the loops below run in C (map, zip, sum), not in Python bytecode.
        codes, transactions, kind_texts, amounts, fees, minute_texts, seconds = zip(*rows)
        del rows
        for minute in set(minute_texts).difference(minutes):
            minutes[minute] = self._minute_epoch(minute, minute_texts, line_no)
        amount_fen = _fen_column(amounts)
        fee_fen = _fen_column(fees)
        kind_values = list(map(kinds.__getitem__, kind_texts))
        at = map(add, map(minutes.__getitem__, minute_texts), map(int, seconds))
        if self._line_numbers is None:
            numbers = range(line_no + 1, line_no + 1 + len(codes))
        else:
            numbers = self._line_numbers[line_no - 2:line_no - 2 + len(codes)]
        is_paid = list(map(eq, kind_values, repeat(KIND_PAID)))
        block_paid = sum(compress(amount_fen, is_paid))
        count, paid, refunded, fee_total = self.sums
        self.sums = (count + len(codes), paid + block_paid, refunded + sum(amount_fen) - block_paid,
                     fee_total + sum(fee_fen))
        yield from map(make, zip(codes, transactions, amount_fen, fee_fen, kind_values, at, numbers))

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
            line = self._number(line_no + block_minutes.index(minute) + 1)
            raise StatementError(f"line {line}: 确认时间 must be YYYYMMDDHHMMSS") from None
        return int(beijing_to_utc(local.date(), local.time()).timestamp())

    def _number(self, line_no: int) -> int:
        """The number in the whole file of this reader's line ``line_no``."""
        if self._line_numbers is None or line_no < 3:
            return line_no
        return self._line_numbers[line_no - 3]

    def _raise_bad_row(self, text: str, line_no: int) -> None:
        for offset, line in enumerate(text.split("\n")[:-1], start=1):
            if not self._row.fullmatch(line.rstrip("\r") + ("\r" if line.endswith("\r") else "")):
                if not self._row.match(line + "\n"):
                    number = self._number(line_no + offset)
                    rows = nontax_daily.numbered_csv_rows(line)
                    nontax_daily._parse_row(number, rows[0][1] if rows else [], self.profile)
                    raise StatementError(f"line {number}: malformed row")
        raise StatementError(f"after line {self._number(line_no)}: malformed rows")


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


@dataclass
class StatementSplit:
    """A statement's rows cut by payment-code partition, as bytes: made once, read by workers."""

    header: bytes  # the title and the column header
    parts: list[bytes]  # the rows of each partition, in file order
    line_numbers: list[list[int]]  # each part's rows: their line numbers in the whole file
    totals_line: tuple[int, str]  # (number, text) of the last non-blank line


def totals_line_of(raw: bytes) -> tuple[int, str]:
    """(number, text) of the last non-blank line of a statement: its totals line."""
    body = raw.rstrip(b"\r\n")
    return body.count(b"\n") + 1, body[body.rfind(b"\n") + 1:].decode("gbk", "replace").strip("\r\n")


def split_statement(raw: bytes, partitions: int, *, profile: PaymentCodeProfile = DEFAULT_PROFILE,
                    only: int | None = None) -> StatementSplit | None:
    """Cut ``raw``'s rows by :func:`reconciliation.partitions.partition_of` of the payment code
    (its last character, at a fixed place for the profile's code length); ``only=k`` builds part
    k alone (a worker's own: the others stay empty). ``None`` when the file is not shaped for it
    (short lines): read it whole, and the reader names what is wrong."""
    lines = raw.split(b"\n")
    while lines and not lines[-1].strip(b"\r"):
        lines.pop()
    if len(lines) < 3:
        return None
    header = b"\n".join(lines[:2]) + b"\n"
    totals = (len(lines), lines[-1].decode("gbk", "replace").strip("\r\n"))
    del lines[:2], lines[-1]  # the rows, in place: no second list of a million lines
    at = profile.length - 1
    if lines and min(map(len, lines)) <= at:
        return None
    # The code is ASCII digits, so its last byte is its last character: C-level passes only.
    partition = list(map(mod, map(bytes.__getitem__, lines, repeat(at)), repeat(partitions)))
    numbers = range(3, 3 + len(lines))
    parts, line_numbers = [], []
    for k in range(partitions):
        if only is not None and k != only:
            parts.append(b"")
            line_numbers.append([])
            continue
        keep = list(map(eq, partition, repeat(k)))
        part = list(compress(lines, keep))
        parts.append(b"\n".join(part) + b"\n" if part else b"")
        line_numbers.append(list(compress(numbers, keep)))
    return StatementSplit(header, parts, line_numbers, totals)
