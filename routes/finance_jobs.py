"""The finance console's "upload & run" pages (issue 20), on the finance console's blueprint.

Upload a platform statement (the non-tax platform's daily statement, WeChat Pay's bill) or a
courier bill (SF, EMS): the file is parsed first, and a bad one is answered on the page (422,
the parser's message naming the line, the form as it was) with nothing kept. Start or re-run a
day's reconciliation: a background job (:mod:`reconciliation.jobs`) whose page shows its state
(queued, running, done, failed) and progress and refreshes itself with a meta refresh until it
ends, then links to the run. Every POST carries the session's CSRF token.
"""
from __future__ import annotations

from datetime import date

from flask import abort, current_app, g, redirect, render_template, request, url_for

from kernel.clock import utcnow
from reconciliation import job_leases, jobs
from reconciliation.service import ReconciliationInputError
from routes.console_auth import csrf_protect, current_staff
from routes.console_i18n import translator
from routes.finance_console import blp, finance_only

REFRESH_SECONDS = 2


def _runtime():
    return current_app.extensions["govlink"]


def _actor() -> str:
    staff = current_staff()
    return staff.username or staff.subject


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        return None


def _page(status: int = 200, **context):
    with _runtime().db.unit_of_work() as session:
        imports = jobs.recent_imports(session)
        recent = jobs.recent(session)
        abandoned = job_leases.needing_attention(job_leases.attention_rows(session, utcnow()), utcnow(),
                                                 job_leases.lease_of(_runtime().settings))
    form = {"source": "nontax_statement", "business_date": "", "kind": "payments", "platform": "nontax",
            "carrier": ""} | {k: v for k, v in request.form.items() if k != "csrf"} | context.pop("form", {})
    return render_template("finance/reconcile.html", imports=imports, jobs=recent, form=form, abandoned=abandoned,
                           sources=list(jobs.UPLOADS), user=current_staff().username,
                           max_bytes=current_app.config.get("MAX_CONTENT_LENGTH"), **context), status


@blp.get("/reconcile")
@finance_only
def reconcile_page():
    """The upload form, the start-a-run form, recent imports and jobs."""
    return _page(message=request.args.get("message"), form={"business_date": request.args.get("day", "")})


@blp.post("/reconcile/upload")
@finance_only
@csrf_protect
def upload():
    """Parse and keep a statement or bill file for a business day; a bad one is answered on the page."""
    t = translator(g.lang, "finance")
    source = request.form.get("source", "")
    day = _day(request.form.get("business_date"))
    sent = request.files.get("file")
    if day is None or source not in jobs.UPLOADS:
        return _page(422, upload_error=t("bad_form"), error_code="invalid_form")
    if sent is None or not sent.filename:
        return _page(422, upload_error=t("file_missing"), error_code="file_missing")
    try:
        kept = jobs.upload(_runtime().db, _runtime().settings, source=source, day=day,
                           filename=sent.filename[-200:], raw=sent.read(), by=_actor())
    except ReconciliationInputError as exc:
        return _page(422, upload_error=exc.message, error_code=exc.code)
    kind, side = jobs.UPLOADS[source]
    form = {"business_date": day.isoformat(), "kind": kind,
            "platform": side if kind == "payments" else "", "carrier": side if kind == "logistics" else ""}
    return _page(upload_message=f"{t('uploaded')}: {sent.filename[-200:]} · {kept.line_count} {t('lines')}",
                 form=form)


@blp.post("/reconcile/jobs")
@finance_only
@csrf_protect
def start_job():
    """Queue a day's run (payments of a platform, or logistics of a carrier or all) and show its page."""
    day = _day(request.form.get("business_date"))
    kind = request.form.get("kind", "")
    if day is None:
        return _page(422, run_error=translator(g.lang, "finance")("bad_form"), error_code="invalid_form")
    try:
        job_id = jobs.queue(_runtime().db, kind=kind, day=day, platform=request.form.get("platform", "nontax"),
                            carrier=request.form.get("carrier", ""), by=_actor())
    except ReconciliationInputError as exc:
        return _page(422, run_error=exc.message, error_code=exc.code)
    jobs.start(_runtime(), job_id)
    return redirect(url_for(".job_page", job_id=job_id), code=303)


@blp.get("/jobs/<int:job_id>")
@finance_only
def job_page(job_id):
    """A job's state and progress; refreshes itself until it is done or failed."""
    with _runtime().db.unit_of_work() as session:
        job = jobs.get(session, job_id)
    if job is None:
        abort(404)
    lost = job_leases.abandoned(job, utcnow(), job_leases.lease_of(_runtime().settings))  # its process died
    refresh = REFRESH_SECONDS if job["state"] in ("queued", "running") and not lost else None
    return render_template("finance/job.html", job=job, refresh=refresh, lost=lost, user=current_staff().username)


@blp.post("/jobs/<int:job_id>/rerun")
@finance_only
@csrf_protect
def rerun_job(job_id):
    """The same day, kind, platform and carrier again: a new job (a changed input makes a new run version)."""
    with _runtime().db.unit_of_work() as session:
        job = jobs.get(session, job_id)
    if job is None:
        abort(404)
    new_id = jobs.queue(_runtime().db, kind=job["kind"], day=job["business_date"], platform=job["platform"],
                        carrier=job["carrier"], by=_actor())
    jobs.start(_runtime(), new_id)
    return redirect(url_for(".job_page", job_id=new_id), code=303)
