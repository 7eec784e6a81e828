"""The finance console (对账工作台, R7 / flow 6): server-rendered pages for the realm role `finance`.

Runs by day with their counts, a chart of matched and unmatched amounts over time (inline SVG made
here: no script, no CDN), the discrepancy list with filters, one discrepancy with the records on
each side and its steps, the confirm / resolve / approve / reject forms (POST with a CSRF token;
the resolver cannot approve their own), CSV and XLSX exports; uploading a statement or bill and
running a day in the background: :mod:`routes.finance_jobs`. The consoles' one layout and
language (:mod:`routes.console_i18n`: Chinese by default, ``?lang=``, ``Accept-Language``; texts
in the ``finance`` section of routes/translations). Amounts in yuan, times in Beijing time.
Sign-in: :mod:`routes.console_auth` (the shared staff-console client).
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for

from kernel.clock import to_beijing
from kernel.money import fen_to_yuan
from reconciliation import exports, queries, runs
from reconciliation.categories import CATEGORIES
from reconciliation.records import from_epoch
from routes.console_auth import console_login_required, csrf_field, csrf_protect, current_staff, init_console_auth
from routes.console_i18n import install, translator

FINANCE = ("finance",)
TEMPLATES = Path(__file__).resolve().parent / "templates"
blp = Blueprint("finance_console", __name__, url_prefix="/console/finance", template_folder=str(TEMPLATES))
install(blp, "finance")  # the consoles' language, texts (routes/translations: finance) and navigation
finance_only = console_login_required(roles=FINANCE)

def init_app(app) -> None:
    """Register the console (and the shared staff sign-in) on the gateway app."""
    from routes import finance_jobs  # noqa: F401  (its pages: upload & run, on this blueprint)

    init_console_auth(app)
    app.register_blueprint(blp)


def _db():
    return current_app.extensions["govlink"].db


def _yuan(fen) -> str:
    return "" if fen is None else fen_to_yuan(int(fen), allow_negative=True)


def _beijing(moment) -> str:
    return to_beijing(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


@blp.context_processor
def _helpers():
    return {"csrf_field": csrf_field, "record_text": exports.record_text, "yuan": _yuan, "beijing": _beijing,
            "from_epoch": from_epoch}


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


def chart(points: list[dict], labels, *, width: int = 720, height: int = 240) -> dict:
    """Geometry of a two-panel bar chart (matched above, unmatched below) for the SVG template."""
    left, right, top, panel_gap = 90, 10, 24, 34
    panel = (height - top - panel_gap - 28) // 2
    n = max(len(points), 1)
    step = (width - left - right) / n
    bar = max(2.0, step * 0.6)
    panels = []
    for index, (field, label, colour) in enumerate((("matched_fen", labels("chart_matched"), "#2f6fb0"),
                                                     ("unmatched_fen", labels("chart_unmatched"), "#c0392b"))):
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
@finance_only
def runs_page():
    """Runs by day with their counts, and the chart of amounts over time."""
    kind = _choice("kind", ("payments", "logistics"))
    with _db().unit_of_work() as db_session:
        items, after = _paged(queries.page_runs, db_session, kind=kind, since=_date_arg("from"), until=_date_arg("to"),
                              limit=100)
        open_counts = queries.open_counts(db_session, [r["id"] for r in items])
        series = queries.amounts_by_day(db_session, kind=kind, days=30)
    return render_template("finance/runs.html", runs=items, open_counts=open_counts, kind=kind,
                           chart=chart(series, translator(g.lang, "finance")), user=current_staff().username, **_page_links(after))


@blp.get("/runs/<int:run_id>")
@finance_only
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
@finance_only
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
@finance_only
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
@finance_only
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
@finance_only
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
@finance_only
def export_open(fmt):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    with _db().unit_of_work() as db_session:
        data = exports.export_open(db_session, fmt=fmt, lang=g.lang)
    return _download(data, fmt, "reconciliation-open-discrepancies")
