"""The operations console (运维工作台, issue 20) for the realm role `operator`, on the shared layout
(templates/console/base.html, routes/console_i18n.py): department services with their live state and
circuits, a service's parking lot (replay, purge with a reason), the message log, scheduled jobs
(retry), alerts and the audit trail. The same use cases as /api/v1/operations (`operations/`).

Sign-in: routes/console_auth.py; POST forms carry the CSRF token. A refusal (a purge without a reason)
is the error page with its code and the status the API would answer.
"""
from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from kernel.clock import to_beijing, utcnow
from kernel.errors import CodedError, Refused
from operations import OPERATOR_ROLE, audit, board, jobs, message_log, parking
from routes import console_i18n
from routes.api.operations import coverage
from routes.console_auth import console_login_required, csrf_protect, current_staff, init_console_auth

TEMPLATES = Path(__file__).resolve().parent / "templates"
blp = Blueprint("operations_console", __name__, url_prefix="/console/operations", template_folder=str(TEMPLATES))
console_i18n.install(blp, "operations")
operator_only = console_login_required(roles=(OPERATOR_ROLE,))


def init_app(app) -> None:
    init_console_auth(app)
    app.register_blueprint(blp)


@blp.app_template_filter("beijing")
def _beijing(moment):
    return f"{to_beijing(moment):%Y-%m-%d %H:%M:%S}" if moment else ""


def _runtime():
    return current_app.extensions["govlink"]


def _jobs() -> dict:
    return current_app.extensions.get("govlink_jobs", {})


def _actor() -> str:
    principal = current_staff()
    return principal.username or principal.subject


def _page(template: str, status: int = 200, **context):
    return render_template(f"operations/{template}", user=_actor(), **context), status


def _refused(exc: CodedError):
    return _page("error.html", exc.status, code=exc.code, message=exc.message)


def _service(service: str) -> str:
    if service not in _runtime().connectors:
        raise Refused(404, "unknown_service", f"No department service named {service!r} is declared.")
    return service


def shown(view):
    """A page whose refusals (CodedError: a purge without a reason, an unknown service) are the error page
    with the code and the status the API answers; anything else reaches the app's one handler."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except CodedError as exc:
            exc = exc.for_caller()
            if exc.status >= 500:
                raise
            return _refused(exc)

    return wrapper


# ---------------------------------------------------------------------------------------- pages
@blp.get("/")
@operator_only
@shown
def index():
    return _page("services.html", services=board.services(_runtime(), utcnow()))


@blp.get("/services/<service>/parked")
@operator_only
@shown
def parked(service):
    summary = board.services(_runtime(), utcnow(), only=_service(service))[0]
    lot = parking.listing(_runtime(), service, 100)
    return _page("parked.html", s=summary, lot=lot)


@blp.get("/services/<service>/parked/<message_id>")
@operator_only
@shown
def parked_one(service, message_id):
    return _page("message.html", service=service, m=parking.inspect(_runtime(), _service(service), message_id[:64]))


@blp.post("/services/<service>/parked/<action>")
@operator_only
@shown
@csrf_protect
def parked_action(service, action):
    _service(service)
    message_id = (request.form.get("message_id") or "").strip()[:64] or None
    reason = (request.form.get("reason") or "")[:500]
    if action == "replay":
        count = parking.replay(_runtime(), service, actor=_actor(), message_id=message_id, reason=reason)
        flash(("replayed", count))
    elif action == "purge":
        count = parking.purge(_runtime(), service, actor=_actor(), reason=reason, message_id=message_id)
        flash(("purged", count))
    else:
        raise Refused(404, "unknown_action", "Replay or purge only.")
    return redirect(url_for(".parked", service=service))


@blp.get("/messages")
@operator_only
@shown
def messages():
    terms = {k: (request.args.get(k) or "").strip()[:64] or None for k in message_log.SEARCH_KEYS}
    with _runtime().db.unit_of_work() as session:
        records = message_log.search(session, **terms) if any(terms.values()) else None
        status = message_log.verification_status(session, _runtime().settings)
    return _page("messages.html", terms=terms, records=records, chain=status)


@blp.get("/jobs")
@operator_only
@shown
def jobs_page():
    with _runtime().db.unit_of_work() as session:
        rows = jobs.overview(session, _jobs(), utcnow())
    return _page("jobs.html", jobs=rows)


@blp.post("/jobs/<job>/retry")
@operator_only
@shown
@csrf_protect
def retry_job(job):
    period = (request.form.get("period") or "").strip()[:40] or None
    with _runtime().db.unit_of_work() as session:
        run = jobs.retry(session, _jobs(), job, actor=_actor(), period=period, now=utcnow(),
                         reason=(request.form.get("reason") or "")[:500])
    flash(("retried", f"{job} {run['period']}"))
    return redirect(url_for(".jobs_page"))


@blp.get("/alerts")
@operator_only
@shown
def alerts():
    """Every alert, its message in the page's language (by its code; the English text if it has none)."""
    t = console_i18n.translator(console_i18n.current_language(), "operations")
    found = [{**a, "text": console_i18n.coded_text(t, a.get("code"), a.get("params"), a["message"])}
             for a in board.alerts(_runtime(), _jobs(), utcnow(), coverage())]
    return _page("alerts.html", alerts=found)


@blp.get("/audit")
@operator_only
@shown
def audit_page():
    before = request.args.get("before", type=int)
    with _runtime().db.unit_of_work() as session:
        entries = audit.recent(session, limit=100, before=before if before and before > 0 else None)
    return _page("audit.html", entries=entries)
