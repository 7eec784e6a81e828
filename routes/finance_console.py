"""The finance console (对账工作台, R7 / flow 6): server-rendered pages for the realm role `finance`.

Runs by day with their counts, a chart of matched and unmatched amounts over time (inline SVG made
here: no script, no CDN), the discrepancy list with filters, one discrepancy with the records on
each side and its steps, the confirm / resolve / approve / reject forms (POST with a CSRF token;
the resolver cannot approve their own), CSV and XLSX exports. Simplified Chinese by default,
English with ``?lang=en`` (kept in the session). Amounts in yuan, times in Beijing time.
Sign-in: :mod:`routes.console_auth` (the shared staff-console client).
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, session, url_for

from kernel.clock import to_beijing
from kernel.money import fen_to_yuan
from reconciliation import exports, queries, runs
from reconciliation.categories import CATEGORIES
from reconciliation.records import from_epoch
from routes.console_auth import console_login_required, csrf_field, csrf_protect, current_staff, init_console_auth

FINANCE = ("finance",)
TEMPLATES = Path(__file__).resolve().parent / "templates"
blp = Blueprint("finance_console", __name__, url_prefix="/console/finance", template_folder=str(TEMPLATES))

TEXT = {
    "zh": {
        "title": "对账工作台", "runs": "对账批次", "discrepancies": "差异列表", "open_export": "导出未结差异",
        "date": "业务日期", "kind": "类型", "version": "版本", "matched": "匹配笔数", "matched_amount": "匹配金额(元)",
        "discrepancy_count": "差异笔数", "unmatched_amount": "差异金额(元)", "open": "待处理", "finished": "完成时间",
        "chart": "每日匹配与差异金额(元)", "chart_matched": "匹配金额", "chart_unmatched": "差异金额",
        "category": "类别", "status": "状态", "key": "缴款码/运单号", "left_amount": "我方金额(元)",
        "right_amount": "对方金额(元)", "all": "全部", "filter": "筛选", "from": "自", "to": "至",
        "left_side": "我方记录", "right_side": "对方记录(对账单/账单)", "steps": "处理记录", "actor": "处理人",
        "action": "操作", "reason": "原因代码", "note": "说明", "at": "时间", "confirm": "确认差异",
        "resolve": "提交处理", "approve": "复核通过", "reject": "退回", "export_csv": "导出 CSV",
        "export_xlsx": "导出 Excel", "no_runs": "暂无对账批次。", "no_items": "没有符合条件的差异。",
        "signed_in_as": "当前用户", "sign_out": "退出", "back": "返回", "rule": "匹配规则", "subtype": "子类",
        "four_eyes": "不能复核自己提交的处理,请由另一位财务人员复核。", "done": "已完成:",
        "run": "批次", "counts": "分类统计", "superseded": "已被新版本取代", "none": "无", "total": "共",
        "current": "当前", "payments": "支付对账", "logistics": "物流对账", "view": "查看",
        "field": "字段", "value": "值", "next_page": "下一页", "first_page": "第一页",
    },
    "en": {
        "title": "Reconciliation console", "runs": "Runs", "discrepancies": "Discrepancies",
        "open_export": "Export open discrepancies", "date": "Business date", "kind": "Kind", "version": "Version",
        "matched": "Matched", "matched_amount": "Matched (CNY)", "discrepancy_count": "Discrepancies",
        "unmatched_amount": "Unmatched (CNY)", "open": "Open", "finished": "Finished",
        "chart": "Matched and unmatched amounts by day (CNY)", "chart_matched": "Matched", "chart_unmatched": "Unmatched",
        "category": "Category", "status": "Status", "key": "Payment code / waybill", "left_amount": "Our amount (CNY)",
        "right_amount": "Their amount (CNY)", "all": "All", "filter": "Filter", "from": "From", "to": "To",
        "left_side": "Our records", "right_side": "Their records (statement / bill)", "steps": "Steps",
        "actor": "By", "action": "Action", "reason": "Reason code", "note": "Note", "at": "At",
        "confirm": "Confirm", "resolve": "Resolve", "approve": "Approve", "reject": "Send back",
        "export_csv": "Export CSV", "export_xlsx": "Export Excel", "no_runs": "No runs yet.",
        "no_items": "No discrepancies match.", "signed_in_as": "Signed in as", "sign_out": "Sign out",
        "back": "Back", "rule": "Rule", "subtype": "Subtype",
        "four_eyes": "You cannot approve your own resolution: another finance user must approve it.",
        "done": "Done:", "run": "Run", "counts": "Counts by category", "superseded": "superseded by a newer version",
        "none": "none", "total": "total", "current": "current", "payments": "payments", "logistics": "logistics",
        "view": "Open", "field": "Field", "value": "Value", "next_page": "Next page", "first_page": "First page",
    },
}


def init_app(app) -> None:
    """Register the console (and the shared staff sign-in) on the gateway app."""
    init_console_auth(app)
    app.register_blueprint(blp)


def _db():
    return current_app.extensions["govlink"].db


@blp.before_request
def _language():
    wanted = request.args.get("lang")
    if wanted in ("zh", "en"):
        session["lang"] = wanted
    g.lang = session.get("lang", "zh") if session.get("lang") in ("zh", "en") else "zh"


def _yuan(fen) -> str:
    return "" if fen is None else fen_to_yuan(int(fen), allow_negative=True)


def _beijing(moment) -> str:
    return to_beijing(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


@blp.context_processor
def _helpers():
    lang = g.get("lang", "zh")
    return {"t": TEXT[lang], "lang": lang, "html_lang": "zh-CN" if lang == "zh" else "en", "csrf_field": csrf_field,
            "record_text": exports.record_text, "yuan": _yuan, "beijing": _beijing, "from_epoch": from_epoch}


def _date_arg(name: str) -> date | None:
    value = request.args.get(name) or None
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400, description=f"{name} must be YYYY-MM-DD")


def _choice(name: str, allowed) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        abort(400, description=f"unknown {name}")
    return value


def chart(points: list[dict], labels: dict, *, width: int = 720, height: int = 240) -> dict:
    """Geometry of a two-panel bar chart (matched above, unmatched below) for the SVG template."""
    left, right, top, panel_gap = 90, 10, 24, 34
    panel = (height - top - panel_gap - 28) // 2
    n = max(len(points), 1)
    step = (width - left - right) / n
    bar = max(2.0, step * 0.6)
    panels = []
    for index, (field, label, colour) in enumerate((("matched_fen", labels["chart_matched"], "#2f6fb0"),
                                                     ("unmatched_fen", labels["chart_unmatched"], "#c0392b"))):
        y0 = top + index * (panel + panel_gap)
        peak = max([p[field] for p in points] + [1])
        bars = []
        for i, p in enumerate(points):
            h = round(panel * p[field] / peak, 1)
            bars.append({"x": round(left + i * step + (step - bar) / 2, 1), "y": round(y0 + panel - h, 1),
                         "w": round(bar, 1), "h": h, "title": f"{p['business_date']}: ¥{_yuan(p[field])}"})
        panels.append({"label": label, "colour": colour, "y0": y0, "base": y0 + panel, "max": _yuan(peak),
                       "bars": bars})
    ticks = [{"x": round(left + i * step + step / 2, 1), "text": p["business_date"].strftime("%m-%d")}
             for i, p in enumerate(points) if len(points) <= 12 or i % max(1, len(points) // 12) == 0]
    return {"width": width, "height": height, "left": left, "panels": panels, "ticks": ticks,
            "axis_y": height - 8, "empty": not points}


def _paged(page, db_session, **filters):
    """A page read by keyset from `?after=` (a cursor the page before gave); a bad cursor is a 400."""
    after = (request.args.get("after") or "").strip()[:80] or None
    try:
        return page(db_session, after=after, **filters)
    except queries.BadCursor:
        abort(400)


def _page_links(after: str | None) -> dict:
    """The next page's link (these filters, `after` the last row shown) and, past the first page, the first's."""
    args = {k: v for k, v in request.args.items() if k != "after"}
    return {"next_url": url_for(request.endpoint, **(request.view_args or {}), **args, after=after) if after else None,
            "first_url": url_for(request.endpoint, **(request.view_args or {}), **args) if request.args.get("after")
            else None}


@blp.get("/")
@console_login_required(roles=FINANCE, forbidden_template="finance/forbidden.html")
def runs_page():
    """Runs by day with their counts, and the chart of amounts over time."""
    kind = _choice("kind", ("payments", "logistics"))
    with _db().unit_of_work() as db_session:
        items, after = _paged(queries.page_runs, db_session, kind=kind, since=_date_arg("from"), until=_date_arg("to"),
                              limit=100)
        open_counts = queries.open_counts(db_session, [r["id"] for r in items])
        series = queries.amounts_by_day(db_session, kind=kind, days=30)
    return render_template("finance/runs.html", runs=items, open_counts=open_counts, kind=kind,
                           chart=chart(series, TEXT[g.lang]), user=current_staff().username, **_page_links(after))


@blp.get("/runs/<int:run_id>")
@console_login_required(roles=FINANCE, forbidden_template="finance/forbidden.html")
def run_page(run_id):
    """One run: its summary and its discrepancies (filtered by category and status)."""
    category = _choice("category", CATEGORIES)
    status = _choice("status", queries.STATUSES)
    with _db().unit_of_work() as db_session:
        run = queries.get_run(db_session, run_id)
        if run is None:
            abort(404)
        items, total, after = _paged(queries.page_discrepancies, db_session, run_id=run_id, category=category,
                                     status=status, limit=500)
    return render_template("finance/run.html", run=run, items=items, total=total, category=category, status=status,
                           categories=CATEGORIES, statuses=queries.STATUSES, user=current_staff().username,
                           **_page_links(after))


@blp.get("/discrepancies")
@console_login_required(roles=FINANCE, forbidden_template="finance/forbidden.html")
def discrepancies_page():
    """Discrepancies of the current runs with filters: category, status, business days."""
    category = _choice("category", CATEGORIES)
    status = _choice("status", queries.STATUSES)
    since, until = _date_arg("from"), _date_arg("to")
    with _db().unit_of_work() as db_session:
        items, total, after = _paged(queries.page_discrepancies, db_session, category=category, status=status,
                                     since=since, until=until, limit=500)
    return render_template("finance/discrepancies.html", items=items, total=total, category=category, status=status,
                           since=since, until=until, categories=CATEGORIES, statuses=queries.STATUSES,
                           user=current_staff().username, **_page_links(after))


@blp.get("/discrepancies/<int:discrepancy_id>")
@console_login_required(roles=FINANCE, forbidden_template="finance/forbidden.html")
def discrepancy_page(discrepancy_id):
    """One discrepancy: the records on each side, its steps, the actions its status allows."""
    with _db().unit_of_work() as db_session:
        item = queries.get_discrepancy(db_session, discrepancy_id)
    if item is None:
        abort(404)
    resolver = next((s["actor"] for s in reversed(item["steps"]) if s["action"] == "resolve"), None)
    me = _actor()
    return render_template("finance/discrepancy.html", item=item, reason_codes=sorted(runs.REASON_CODES),
                           own_resolution=resolver == me, user=current_staff().username,
                           message=request.args.get("message"), error=request.args.get("error"))


def _actor() -> str:
    staff = current_staff()
    return staff.username or staff.subject


_ACTIONS = {"confirm": runs.confirm, "resolve": runs.resolve, "approve": runs.approve, "reject": runs.reject}


@blp.post("/discrepancies/<int:discrepancy_id>/<action>")
@console_login_required(roles=FINANCE, forbidden_template="finance/forbidden.html")
@csrf_protect
def act(discrepancy_id, action):
    """Confirm, resolve (reason code + note), approve or reject; back to the discrepancy page."""
    step = _ACTIONS.get(action)
    if step is None:
        abort(404)
    note = (request.form.get("note") or "").strip()[:2000] or None
    kwargs = {}
    if action == "resolve":
        kwargs = {"reason_code": request.form.get("reason_code", ""), "note": note or ""}
    elif action == "reject":
        kwargs = {"note": note or ""}
    else:
        kwargs = {"note": note}
    try:
        with _db().unit_of_work() as db_session:
            step(db_session, discrepancy_id, _actor(), **kwargs)
    except runs.ResolutionError as exc:
        if exc.code == "not_found":
            abort(404)
        return redirect(url_for(".discrepancy_page", discrepancy_id=discrepancy_id, error=exc.code))
    return redirect(url_for(".discrepancy_page", discrepancy_id=discrepancy_id, message=action))


def _download(data: bytes, fmt: str, name: str) -> Response:
    mimetype = "text/csv; charset=utf-8" if fmt == "csv" else \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.get("/runs/<int:run_id>/export.<fmt>")
@console_login_required(roles=FINANCE, forbidden_template="finance/forbidden.html")
def export_run(run_id, fmt):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    with _db().unit_of_work() as db_session:
        try:
            data = exports.export_run(db_session, run_id, fmt=fmt, open_only=request.args.get("open") == "1",
                                      lang=g.lang)
        except LookupError:
            abort(404)
    return _download(data, fmt, f"reconciliation-run-{run_id}")


@blp.get("/discrepancies/export.<fmt>")
@console_login_required(roles=FINANCE, forbidden_template="finance/forbidden.html")
def export_open(fmt):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    with _db().unit_of_work() as db_session:
        data = exports.export_open(db_session, fmt=fmt, lang=g.lang)
    return _download(data, fmt, "reconciliation-open-discrepancies")
