"""Courier bill files (对账单): parse into :class:`BillLine`, write the same formats back.

Imported files are kept unchanged and identified by :func:`sha256_of` over the raw
bytes; parsing never rewrites them. The writers exist for the simulators (and make
round trips testable).

Formats (columns found by header name, so extra columns in a real file are ignored):

- SF monthly bill (顺丰月结对账单): CSV, UTF-8 with BOM (it is opened in Excel),
  ``运单号, 寄件日期 (YYYY-MM-DD HH:MM:SS), 计费重量(kg), 运费(元), 附加费(元),
  应付金额(元), 状态 (正常 | 已取消 | 退回)``.
- EMS agreement-customer bill (EMS协议客户对账单): CSV, GBK (China Post's export),
  ``邮件号, 收寄日期 (YYYY/MM/DD), 重量(克), 资费(元), 附加费(元), 总资费(元),
  状态 (正常 | 作废 | 退回)``.

Both end with one ``合计`` row whose sums must match the lines; amounts may be negative
(adjustments). Times are Beijing wall clock and become aware UTC.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from logistics_bridge.carriers.base import BillLine
from logistics_bridge.errors import BillFormatError
from logistics_bridge.wire import (
    fen_to_yuan,
    format_beijing,
    grams_to_kg,
    kg_to_grams,
    money_to_fen,
    parse_beijing,
)

TOTAL_LABEL = "合计"


def sha256_of(raw: bytes) -> str:
    """Hex SHA-256 of a bill file exactly as received (kept next to the import)."""
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class BillFormat:
    """One courier's bill layout: header names, encoding and how values are written."""

    carrier: str
    encoding: str
    waybill: str
    billed_at: str
    weight: str
    fee: str
    surcharge: str
    total: str
    status: str
    statuses: dict[str, str]  # text in the file -> BillLine.status
    date_format: str
    weight_in: Callable[[str], int]
    weight_out: Callable[[int], str]

    @property
    def headers(self) -> list[str]:
        """The columns the writer emits, in order."""
        return [self.waybill, self.billed_at, self.weight, self.fee, self.surcharge, self.total, self.status]


def _grams_in(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"not a weight in grams: {text!r}")
    return int(text)


SF_BILL = BillFormat(
    carrier="sf",
    encoding="utf-8-sig",
    waybill="运单号",
    billed_at="寄件日期",
    weight="计费重量(kg)",
    fee="运费(元)",
    surcharge="附加费(元)",
    total="应付金额(元)",
    status="状态",
    statuses={"正常": "billed", "已取消": "cancelled", "退回": "returned"},
    date_format="%Y-%m-%d %H:%M:%S",
    weight_in=kg_to_grams,
    weight_out=grams_to_kg,
)

EMS_BILL = BillFormat(
    carrier="ems",
    encoding="gbk",
    waybill="邮件号",
    billed_at="收寄日期",
    weight="重量(克)",
    fee="资费(元)",
    surcharge="附加费(元)",
    total="总资费(元)",
    status="状态",
    statuses={"正常": "billed", "作废": "cancelled", "退回": "returned"},
    date_format="%Y/%m/%d",
    weight_in=_grams_in,
    weight_out=str,
)


def parse_bill(raw: bytes, fmt: BillFormat) -> list[BillLine]:
    """Parse a bill file in ``fmt``. Raises :class:`BillFormatError` with the line number."""
    try:
        text = raw.decode(fmt.encoding)
    except UnicodeDecodeError:
        raise BillFormatError(f"not {fmt.encoding} text") from None
    rows = []
    for number, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        cells = [cell.strip() for cell in row]
        if any(cells):
            rows.append((number, cells))
    if not rows:
        raise BillFormatError("empty bill")
    header_line, header = rows[0]
    columns = {}
    for name in fmt.headers:
        if name not in header:
            raise BillFormatError(f"missing column {name}", line_no=header_line)
        columns[name] = header.index(name)
    lines: list[BillLine] = []
    totals_seen = False
    for number, row in rows[1:]:
        if totals_seen:
            raise BillFormatError("rows after the total row", line_no=number)
        cell = _cells(row, columns)
        if cell(fmt.waybill) == TOTAL_LABEL:
            _check_totals(lines, cell, fmt, number)
            totals_seen = True
            continue
        lines.append(_line(cell, fmt, number))
    if not totals_seen:
        raise BillFormatError("no total row (合计): the file may be truncated")
    return lines


def _cells(row: list[str], columns: dict[str, int]) -> Callable[[str], str]:
    def cell(name: str) -> str:
        index = columns[name]
        return row[index] if index < len(row) else ""

    return cell


def _line(cell: Callable[[str], str], fmt: BillFormat, number: int) -> BillLine:
    waybill = cell(fmt.waybill)
    if not waybill:
        raise BillFormatError("empty waybill number", line_no=number)
    status = fmt.statuses.get(cell(fmt.status))
    if status is None:
        raise BillFormatError(f"unknown status {cell(fmt.status)!r}", line_no=number)
    try:
        fee = money_to_fen(cell(fmt.fee), allow_negative=True)
        surcharge = money_to_fen(cell(fmt.surcharge), allow_negative=True)
        total = money_to_fen(cell(fmt.total), allow_negative=True)
        weight = fmt.weight_in(cell(fmt.weight))
        billed_at = parse_beijing(cell(fmt.billed_at))
    except ValueError as exc:
        raise BillFormatError(str(exc), line_no=number) from None
    if fee + surcharge != total:
        raise BillFormatError("freight plus surcharge differs from the line total", line_no=number)
    return BillLine(
        waybill_no=waybill,
        carrier=fmt.carrier,
        fee_fen=fee,
        surcharge_fen=surcharge,
        weight_g=weight,
        billed_at=billed_at,
        status=status,
        line_no=number,
    )


def _check_totals(lines: list[BillLine], cell: Callable[[str], str], fmt: BillFormat, number: int) -> None:
    try:
        sums = [money_to_fen(cell(name), allow_negative=True) for name in (fmt.fee, fmt.surcharge, fmt.total)]
    except ValueError as exc:
        raise BillFormatError(str(exc), line_no=number) from None
    expected = [sum(line.fee_fen for line in lines), sum(line.surcharge_fen for line in lines)]
    expected.append(expected[0] + expected[1])
    if sums != expected:
        raise BillFormatError("total row does not match the lines", line_no=number)


def write_bill(lines: Iterable[BillLine], fmt: BillFormat) -> bytes:
    """Write lines in ``fmt``, with the total row, as the courier would export them."""
    lines = list(lines)
    reverse = {value: key for key, value in fmt.statuses.items()}
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(fmt.headers)
    for line in lines:
        writer.writerow(
            [
                line.waybill_no,
                format_beijing(line.billed_at, fmt.date_format),
                fmt.weight_out(line.weight_g),
                fen_to_yuan(line.fee_fen, allow_negative=True),
                fen_to_yuan(line.surcharge_fen, allow_negative=True),
                fen_to_yuan(line.total_fen, allow_negative=True),
                reverse[line.status],
            ]
        )
    fee = sum(line.fee_fen for line in lines)
    surcharge = sum(line.surcharge_fen for line in lines)
    totals = [fen_to_yuan(value, allow_negative=True) for value in (fee, surcharge, fee + surcharge)]
    writer.writerow([TOTAL_LABEL, "", "", *totals, ""])
    return out.getvalue().encode(fmt.encoding)


def parse_sf_bill(raw: bytes) -> list[BillLine]:
    """Parse an SF monthly bill (see the module doc for the format)."""
    return parse_bill(raw, SF_BILL)


def write_sf_bill(lines: Iterable[BillLine]) -> bytes:
    """Write an SF monthly bill."""
    return write_bill(lines, SF_BILL)


def parse_ems_bill(raw: bytes) -> list[BillLine]:
    """Parse an EMS agreement-customer bill (see the module doc for the format)."""
    return parse_bill(raw, EMS_BILL)


def write_ems_bill(lines: Iterable[BillLine]) -> bytes:
    """Write an EMS agreement-customer bill."""
    return write_bill(lines, EMS_BILL)
