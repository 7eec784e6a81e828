"""CSV and XLSX exports of a run and of the open discrepancies.

Guarded against spreadsheet formula injection (OWASP "CSV injection"): in CSV, a text cell that
starts with ``= + - @``, a tab or a carriage return gets a leading ``'`` so no spreadsheet evaluates
it. In XLSX every text is written as a text cell (never a formula cell), which no spreadsheet
evaluates, so it keeps its value exactly, without the ``'``.
Amounts are yuan with two decimals (numbers with format ``0.00`` in XLSX, written exactly from
fen); times are Beijing time. Headers in Simplified Chinese or English.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from kernel.clock import to_beijing
from kernel.errors import CodedError
from kernel.money import fen_to_yuan
from reconciliation import queries
from reconciliation.records import from_epoch

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = ("run_id", "business_date", "kind", "id", "seq", "category", "subtype", "key", "rule", "left_amount",
           "right_amount", "status", "updated_at", "left_records", "right_records")
AMOUNT_COLUMNS = frozenset({"left_amount", "right_amount"})
HEADERS = {
    "zh": {"run_id": "对账批次", "business_date": "业务日期", "kind": "类型", "id": "差异编号", "seq": "序号",
           "category": "差异类别", "subtype": "子类", "key": "缴款码/运单号", "rule": "匹配规则",
           "left_amount": "我方金额(元)", "right_amount": "对方金额(元)", "status": "状态",
           "updated_at": "更新时间(北京时间)", "left_records": "我方记录", "right_records": "对方记录"},
    "en": {"run_id": "Run", "business_date": "Business date", "kind": "Kind", "id": "Discrepancy", "seq": "Seq",
           "category": "Category", "subtype": "Subtype", "key": "Payment code / waybill", "rule": "Rule",
           "left_amount": "Our amount (CNY)", "right_amount": "Their amount (CNY)", "status": "Status",
           "updated_at": "Updated (Beijing time)", "left_records": "Our records", "right_records": "Their records"},
}


class RunNotFound(CodedError, LookupError):
    """No reconciliation run with this id (404 `not_found`)."""

    code = "not_found"
    status = 404

    def __init__(self, run_id: int):
        super().__init__(f"No reconciliation run {run_id}.")

    def __str__(self) -> str:
        return self.message


def guard(value):
    """A cell value no spreadsheet will run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def beijing_text(moment: datetime | None) -> str:
    return to_beijing(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def yuan(fen: int | None) -> str:
    return "" if fen is None else fen_to_yuan(int(fen), allow_negative=True)


def record_text(record: dict) -> str:
    """One stored record (records.record_to_json) as a short line."""
    kind = record.get("type", "")
    if kind == "LedgerPayment":
        moment = beijing_text(from_epoch(record["paid_at"])) if record.get("paid_at") else ""
        return (f"{record['payment_code']} {record['transaction_id']} ¥{yuan(record['amount_fen'])} "
                f"{record['status']} {moment}").strip()
    if kind == "StatementEntry":
        return (f"{record['reference']} {record['transaction_id']} ¥{yuan(record['amount_fen'])} "
                f"fee ¥{yuan(record['fee_fen'])} {record['kind']} {beijing_text(from_epoch(record['at']))} "
                f"line {record['line_no']}")
    if kind == "Shipment":
        return (f"{record['waybill_no']} {record['carrier']} quote ¥{yuan(record['quote_fen'])} "
                f"{record['weight_g']}g {record['status']} postage {record['postage_code'] or '-'}")
    if kind == "CourierCharge":
        return (f"{record['waybill_no']} {record['carrier']} ¥{yuan(record['fee_fen'])}+¥{yuan(record['surcharge_fen'])} "
                f"{record['weight_g']}g {record['status']} line {record['line_no']}")
    return str(record)


def _rows(items: list[dict]):
    for d in items:
        yield {"run_id": d["run_id"], "business_date": d["business_date"].isoformat(), "kind": d["kind"], "id": d["id"],
               "seq": d["seq"], "category": d["category"], "subtype": d["subtype"], "key": d["key"], "rule": d["rule"],
               "left_amount": d["left_amount_fen"], "right_amount": d["right_amount_fen"], "status": d["status"],
               "updated_at": beijing_text(d["updated_at"]),
               "left_records": " | ".join(record_text(r) for r in d.get("left_records", [])),
               "right_records": " | ".join(record_text(r) for r in d.get("right_records", []))}


def discrepancies_for_export(session: Session, *, run_id: int | None = None, open_only: bool = False,
                             kind: str | None = None) -> list[dict]:
    """A run's discrepancies (all, or the open ones), or every open one of the current runs."""
    items, _ = queries.list_discrepancies(session, run_id=run_id, statuses=queries.UNSETTLED if open_only else None,
                                          limit=0, records=True)
    return [i for i in items if i["kind"] == kind] if kind else items


def to_csv(items: list[dict], *, lang: str = "zh") -> bytes:
    """UTF-8 with BOM (Excel opens it as UTF-8), CRLF line ends."""
    headers = HEADERS[lang]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([headers[c] for c in COLUMNS])
    for row in _rows(items):
        writer.writerow([yuan(row[c]) if c in AMOUNT_COLUMNS else guard("" if row[c] is None else str(row[c]))
                         for c in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(items: list[dict], *, lang: str = "zh", title: str = "", summary: dict | None = None) -> bytes:
    """One sheet of discrepancies (and a summary sheet for a run); amounts numeric with two decimals."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    def text(sheet, value: str):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # text, never a formula: no apostrophe needed (see module doc)
        return cell

    def plain(sheet, value):
        return text(sheet, value) if isinstance(value, str) else value

    headers = HEADERS[lang]
    book = Workbook(write_only=True)
    if summary is not None:
        sheet = book.create_sheet("汇总" if lang == "zh" else "Summary")
        for name, value in summary.items():
            sheet.append([text(sheet, str(name)), plain(sheet, value)])
    sheet = book.create_sheet("差异" if lang == "zh" else "Discrepancies")
    if title:
        sheet.append([text(sheet, title)])
    sheet.append([text(sheet, headers[c]) for c in COLUMNS])
    for row in _rows(items):
        cells = []
        for c in COLUMNS:
            value = row[c]
            if c in AMOUNT_COLUMNS:
                cell = WriteOnlyCell(sheet, value=None if value is None else Decimal(int(value)).scaleb(-2))
                cell.number_format = "0.00"
            else:
                cell = plain(sheet, value)
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _summary(run: dict, lang: str) -> dict:
    zh = lang == "zh"
    return {
        "对账批次" if zh else "Run": run["id"], "类型" if zh else "Kind": run["kind"],
        "业务日期" if zh else "Business date": run["business_date"].isoformat(),
        "版本" if zh else "Version": run["version"], "状态" if zh else "Status": run["status"],
        "匹配笔数" if zh else "Matched": run["matched_count"],
        "匹配金额(元)" if zh else "Matched amount (CNY)": yuan(run["matched_amount_fen"]),
        "差异笔数" if zh else "Discrepancies": run["discrepancy_count"],
        "差异金额(元)" if zh else "Unmatched amount (CNY)": yuan(run["unmatched_amount_fen"]),
        "完成时间(北京时间)" if zh else "Finished (Beijing time)": beijing_text(run["finished_at"]),
        "内容哈希" if zh else "Content hash": run["content_hash"],
    }


def export_run(session: Session, run_id: int, *, fmt: str = "xlsx", open_only: bool = False, lang: str = "zh") -> bytes:
    """A run's discrepancies as CSV or XLSX; raises LookupError for an unknown run."""
    run = queries.get_run(session, run_id)
    if run is None:
        raise RunNotFound(run_id)
    items = discrepancies_for_export(session, run_id=run_id, open_only=open_only)
    if fmt == "csv":
        return to_csv(items, lang=lang)
    return to_xlsx(items, lang=lang, summary=_summary(run, lang),
                   title=f"{run['kind']} {run['business_date']} v{run['version']}")


def export_open(session: Session, *, fmt: str = "xlsx", kind: str | None = None, lang: str = "zh") -> bytes:
    """Every discrepancy of the current runs that still needs someone."""
    items = discrepancies_for_export(session, open_only=True, kind=kind)
    if fmt == "csv":
        return to_csv(items, lang=lang)
    return to_xlsx(items, lang=lang)
