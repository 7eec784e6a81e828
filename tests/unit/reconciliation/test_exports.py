"""Exports: formula injection guarded, yuan with two decimals, Beijing time, both languages."""
import csv
import io
from datetime import UTC, date, datetime

from openpyxl import load_workbook

from reconciliation.exports import FORMULA_PREFIXES, guard, to_csv, to_xlsx

HOSTILE = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


def _items():
    out = []
    for n, key in enumerate(HOSTILE, start=1):
        out.append({"run_id": 7, "business_date": date(2024, 3, 15), "kind": "payments", "id": n, "seq": n,
                    "category": "LONG", "subtype": key, "key": key, "rule": "", "left_amount_fen": None,
                    "right_amount_fen": 1230 + n, "status": "open",
                    "updated_at": datetime(2024, 3, 15, 16, 30, tzinfo=UTC),
                    "left_records": [], "right_records": [
                        {"type": "StatementEntry", "reference": key, "transaction_id": "=1", "amount_fen": 5,
                         "fee_fen": 0, "kind": "paid", "at": 1710518400, "line_no": 3}]})
    return out


def test_guard():
    for value in HOSTILE:
        assert guard(value) == "'" + value
    assert guard("3401002430") == "3401002430" and guard(12) == 12


def test_csv_cells_are_guarded_and_amounts_are_yuan():
    data = to_csv(_items(), lang="en")
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "Run"
    for row in rows[1:]:
        assert not any(cell.startswith(FORMULA_PREFIXES) for cell in row)
        assert row[10] == f"12.{30 + int(row[3]):02d}"  # right amount in yuan: 12.31, 12.32, ...
        assert row[12] == "2024-03-16 00:30:00"  # Beijing time


def test_xlsx_opens_and_no_cell_is_a_formula():
    book = load_workbook(io.BytesIO(to_xlsx(_items(), lang="zh", summary={"对账批次": 7})))
    sheet = book["差异"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "对账批次"
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            assert cell.data_type != "f"
        amount = cells[10]
        assert amount.number_format == "0.00" and round(amount.value * 100) == 1230 + cells[3].value


def test_xlsx_text_cells_keep_their_value_without_an_apostrophe():
    """A cell written as text (t="s"/inlineStr) is never evaluated, so XLSX needs no ``'`` prefix:
    the operator sees the key exactly as the platform sent it (the CSV keeps the guard)."""
    raw = to_xlsx(_items(), lang="en", title="=run 7", summary={"+note": "-2+3", "run": 7})
    book = load_workbook(io.BytesIO(raw))
    sheet = book["Discrepancies"]
    assert sheet["A1"].value == "=run 7" and sheet["A1"].data_type == "s"
    keys = [cells[7] for cells in sheet.iter_rows(min_row=3)]
    assert [cell.value for cell in keys] == HOSTILE
    assert all(cell.data_type == "s" for cell in keys)
    summary = list(book["Summary"].iter_rows())
    assert [(c.value, c.data_type) for c in summary[0]] == [("+note", "s"), ("-2+3", "s")]
    assert summary[1][1].value == 7
    for ws in book.worksheets:
        for cells in ws.iter_rows():
            assert all(cell.data_type != "f" for cell in cells)
