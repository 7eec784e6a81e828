"""The supervision page (电子监察) for the `supervisor` role: open warnings, a case's timeline,
statistics with charts, complaints. Server-rendered at /console/supervision/ (the old /supervision/
redirects there) in the consoles' one layout and language (:mod:`routes.console_i18n`: Chinese by
default, ``?lang=``, ``Accept-Language``; texts in the ``supervision`` section of routes/translations).

Sign-in: :mod:`routes.console_auth` (the shared staff-console client); a signed-in person
without the `supervisor` role gets the 403 page.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from kernel.clock import to_beijing
from routes.api.supervision import complaint_view, period, timeline_view, warning_view
from routes.console_auth import console_login_required, csrf_protect, csrf_token, current_staff, init_console_auth
from routes.console_i18n import install, translator
from store.models.supervision import CaseSatisfaction, Complaint
from supervision import feedback
from supervision.access import SUPERVISOR_ROLE
from supervision.console import bar_chart
from supervision.statistics import open_warnings, statistics
from supervision.timeline import case_timeline

TEMPLATES = Path(__file__).resolve().parent.parent / "supervision" / "templates"

blp = Blueprint("supervision_console", __name__, url_prefix="/console/supervision", template_folder=str(TEMPLATES))
install(blp, "supervision")  # the consoles' language, texts and navigation
supervisor_only = console_login_required(roles=(SUPERVISOR_ROLE,))
old_address = Blueprint("supervision_redirect", __name__)


def init_app(app) -> None:
    """Register the page on the gateway app (with the shared staff sign-in)."""
    init_console_auth(app)
    app.register_blueprint(blp)
    app.register_blueprint(old_address)


def _runtime():
    return current_app.extensions["govlink"]


@old_address.get("/supervision/", defaults={"rest": ""})
@old_address.get("/supervision/<path:rest>")
def moved(rest):
    """The page's old address: the same page under /console/supervision/ (a permanent redirect)."""
    query = request.query_string.decode("latin-1")
    return redirect(f"{blp.url_prefix}/{rest}" + (f"?{query}" if query else ""), code=308)


@blp.get("/logout")
def logout():
    return redirect(url_for("console_auth.logout"))


# ---------------------------------------------------------------------------------- pages
@blp.get("/")
@supervisor_only
def dashboard():
    principal = current_staff()
    t = translator(g.lang, "supervision")
    service = (request.args.get("service") or "").strip()[:100] or None
    since, until = period({})
    with _runtime().db.unit_of_work() as session_:
        warnings = [warning_view(w, g.lang) for w in open_warnings(session_, service=service)]
        stats = statistics(session_, since=since, until=until, service=service)
        complaints = [complaint_view(c) for c in feedback.complaints(session_, limit=50)]
    # Worst first: with many services, the 20 bars a chart has room for are the ones to look at.
    slowest = sorted((g_ for g_ in stats["by_service"] if g_["p95_ms"] is not None), key=lambda g_: (-g_["p95_ms"], g_["key"]))
    most_overdue = sorted(stats["by_system"], key=lambda g_: (-g_["overdue_rate"], g_["key"]))
    charts = [
        bar_chart(t("chart_p95"), [(g_["key"], round(g_["p95_ms"] / 1000, 2)) for g_ in slowest][:20],
                  fmt=lambda v: f"{v:g} s"),
        bar_chart(t("chart_overdue"), [(g_["key"], g_["overdue_rate"]) for g_ in most_overdue][:20],
                  fmt=lambda v: f"{v:.0%}"),
    ]
    return render_template("supervision/dashboard.html", warnings=warnings, stats=stats, charts=charts,
                           complaints=complaints, service=service or "", user=principal.username,
                           period_text=f"{to_beijing(since):%Y-%m-%d} — {to_beijing(until - timedelta(seconds=1)):%Y-%m-%d}")


@blp.get("/cases")
def find_case():
    case_id = (request.args.get("case_id") or "").strip()
    return redirect(url_for(".case", case_id=case_id) if case_id else url_for(".dashboard"))


@blp.get("/cases/<case_id>")
@supervisor_only
def case(case_id):
    principal = current_staff()
    with _runtime().db.unit_of_work() as session_:
        timeline = case_timeline(session_, case_id[:64])
        view = timeline_view(timeline, session_.get(CaseSatisfaction, case_id[:64]), g.lang)
        complaints = [complaint_view(c) for c in feedback.complaints(session_, case_id=case_id[:64])]
    status = 200 if timeline.entries else 404
    return render_template("supervision/case.html", case=view, complaints=complaints, user=principal.username), status


@blp.get("/complaints/<complaint_id>")
@supervisor_only
def complaint(complaint_id):
    principal = current_staff()
    with _runtime().db.unit_of_work() as session_:
        row = session_.get(Complaint, complaint_id[:36])
        if row is None:
            abort(404)
        view = complaint_view(row)
    return render_template("supervision/complaint.html", complaint=view, csrf=csrf_token(), user=principal.username)


@blp.post("/complaints/<complaint_id>/<action>")
@supervisor_only
@csrf_protect
def complaint_action(complaint_id, action):
    principal = current_staff()
    if action not in feedback.TRANSITIONS:
        abort(404)
    kwargs = {}
    if action == "assign":
        kwargs["assignee"] = (request.form.get("assignee") or "").strip()[:200]
    elif action == "reply":
        kwargs["reply"] = (request.form.get("reply") or "").strip()[:2000]
    try:
        with _runtime().db.unit_of_work() as session_:
            feedback.act(session_, complaint_id[:36], action, principal.username or principal.subject, **kwargs)
    except feedback.FeedbackError as exc:
        return render_template("supervision/complaint_error.html", message=exc.message,
                               complaint_id=complaint_id, user=principal.username), exc.status
    return redirect(url_for(".complaint", complaint_id=complaint_id))
