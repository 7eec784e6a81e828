"""Reconciliation (R7, flow 6) for finance staff: start a day's run, read runs and discrepancies,
move a discrepancy along (confirm, resolve with a reason code, approve by a second person,
reject), export CSV / XLSX. Every route needs a token with the realm role `finance`.

Money is integer fen; times are answered in Beijing time (`+08:00`); a business day is a Beijing date.
"""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kernel.clock import to_beijing
from reconciliation import exports, queries, runs
from reconciliation.categories import CATEGORIES
from reconciliation.service import reconcile_logistics_day, reconcile_payments_day
from routes.auth import current_principal, require_token
from routes.errors import ApiError
from routes.fields import DATE_RANGE

blp = Blueprint("reconciliation", __name__, url_prefix="/api/v1/reconciliation",
                description="Reconciliation (对账): runs, discrepancies, resolution with a second approver, exports")

FINANCE = ("finance",)
SECURITY = [{"bearer": []}]
_FORMATS = {"csv": "text/csv; charset=utf-8",
            "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def actor_of(principal) -> str:
    """Who acts, as the resolution steps record it (the staff username, else the subject)."""
    return principal.username or principal.subject


class RunStartSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["payments", "logistics"]))
    business_date = fields.Date(required=True, metadata={"description": "a Beijing business day, YYYY-MM-DD"})
    platform = fields.String(load_default="nontax", validate=validate.OneOf(["nontax", "wechatpay"]))
    carrier = fields.String(load_default="", validate=validate.OneOf(["", "sf", "ems"]),
                            metadata={"description": "logistics: one carrier's bill lines, or every carrier ('')"})


class RunSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    business_date = fields.Date()
    version = fields.Integer()
    status = fields.String(metadata={"description": "current | superseded"})
    supersedes_id = fields.Integer(allow_none=True)
    content_hash = fields.String()
    input_hash = fields.String()
    matched_count = fields.Integer()
    matched_amount_fen = fields.Integer()
    discrepancy_count = fields.Integer()
    unmatched_amount_fen = fields.Integer()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    cleared_count = fields.Integer()
    started_by = fields.String()
    started_at = fields.Function(lambda r: _time(r["started_at"]))
    finished_at = fields.Function(lambda r: _time(r["finished_at"]))


PAGING = ("Keyset paging: pass `next` of a page as `after` to read the page after it; `next` is null on the "
          "last page. Cost does not grow with how deep the page is.")


class RunListSchema(Schema):
    runs = fields.List(fields.Nested(RunSchema))
    next = fields.String(allow_none=True, metadata={"description": "cursor of the next page (null: last page). " + PAGING})
    next_url = fields.String(allow_none=True, metadata={"description": "the next page's URL (same filters), or null"})


class RunListArgs(Schema):
    kind = fields.String(validate=validate.OneOf(["payments", "logistics"]))
    since = fields.Date(validate=DATE_RANGE)
    until = fields.Date(validate=DATE_RANGE)
    all_versions = fields.Boolean(load_default=False)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    after = fields.String(validate=validate.Length(1, 80), metadata={"description": "`next` of the page before"})


class StepSchema(Schema):
    id = fields.Integer()
    action = fields.String()
    actor = fields.String()
    from_status = fields.String()
    to_status = fields.String()
    reason_code = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    at = fields.Function(lambda s: _time(s["at"]))


class DiscrepancySchema(Schema):
    id = fields.Integer()
    run_id = fields.Integer()
    seq = fields.Integer()
    kind = fields.String()
    business_date = fields.Date()
    category = fields.String()
    subtype = fields.String()
    key = fields.String()
    rule = fields.String()
    left_amount_fen = fields.Integer(allow_none=True)
    right_amount_fen = fields.Integer(allow_none=True)
    status = fields.String()
    updated_at = fields.Function(lambda d: _time(d["updated_at"]))
    left_records = fields.List(fields.Dict(), metadata={"description": "our side"})
    right_records = fields.List(fields.Dict(), metadata={"description": "the statement's / bill's side"})
    steps = fields.List(fields.Nested(StepSchema))


class DiscrepancyListSchema(Schema):
    total = fields.Integer()
    discrepancies = fields.List(fields.Nested(DiscrepancySchema))
    next = fields.String(allow_none=True, metadata={"description": "cursor of the next page (null: last page). " + PAGING})
    next_url = fields.String(allow_none=True, metadata={"description": "the next page's URL (same filters), or null"})


class DiscrepancyListArgs(Schema):
    run_id = fields.Integer(validate=validate.Range(1, 2**63 - 1))
    category = fields.String(validate=validate.OneOf(CATEGORIES))
    status = fields.String(validate=validate.OneOf(queries.STATUSES))
    since = fields.Date(validate=DATE_RANGE)
    until = fields.Date(validate=DATE_RANGE)
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000),
                            metadata={"description": "deprecated: use `after` (keyset paging); not with `after`"})
    after = fields.String(validate=validate.Length(1, 80), metadata={"description": "`next` of the page before"})


class NoteSchema(Schema):
    note = fields.String(load_default=None, validate=validate.Length(max=2000))


class ResolveSchema(Schema):
    reason_code = fields.String(required=True, validate=validate.OneOf(sorted(runs.REASON_CODES)))
    note = fields.String(required=True, validate=validate.Length(1, 2000))


class RejectSchema(Schema):
    note = fields.String(required=True, validate=validate.Length(1, 2000))


class ExportArgs(Schema):
    format = fields.String(load_default="xlsx", validate=validate.OneOf(list(_FORMATS)))
    open_only = fields.Boolean(load_default=False)
    lang = fields.String(load_default="zh", validate=validate.OneOf(["zh", "en"]))


def _time(moment):
    return to_beijing(moment).isoformat() if moment else None


def _db():
    return current_app.extensions["govlink"].db


@blp.post("/runs")
@blp.arguments(RunStartSchema())
@blp.response(201, RunSchema)
@blp.alt_response(422, description="statement_missing / statement_date_mismatch / statement_invalid")
@blp.alt_response(503, description="database_unavailable: the ledger's database is not reachable (Retry-After)")
@blp.doc(security=SECURITY)
@require_token(roles=FINANCE)
def start_run(data):
    """Reconcile a business day now (the scheduler does it daily at 02:00 Beijing time).

    Uses the statement or bill lines imported for the day; a re-run with other inputs or results
    supersedes the day's current run (a new version), an identical one returns it.
    """
    runtime = current_app.extensions["govlink"]
    started_by = actor_of(current_principal())
    if data["kind"] == "payments":
        summary = reconcile_payments_day(runtime, data["business_date"], started_by=started_by,
                                         platform=data["platform"], workers=1)  # one DuckDB thread: the gateway keeps a core
    else:
        summary = reconcile_logistics_day(runtime, data["business_date"], started_by=started_by,
                                          carrier=data["carrier"])
    with _db().unit_of_work() as session:
        run = queries.get_run(session, summary.run_id)
    return run, 201, {"Location": f"/api/v1/reconciliation/runs/{summary.run_id}"}


@blp.get("/runs")
@blp.arguments(RunListArgs(), location="query")
@blp.response(200, RunListSchema)
@blp.doc(security=SECURITY)
@require_token(roles=FINANCE)
def list_runs(args):
    """Runs, newest business day first (the current version of each day unless all_versions)."""
    with _db().unit_of_work() as session:
        items, after = queries.page_runs(session, kind=args.get("kind"), since=args.get("since"),
                                         until=args.get("until"), current_only=not args["all_versions"],
                                         limit=args["limit"], after=args.get("after"))
    return {"runs": items, "next": after, "next_url": _next_url(after)}


@blp.get("/runs/<int:run_id>")
@blp.response(200, RunSchema)
@blp.doc(security=SECURITY)
@require_token(roles=FINANCE)
def get_run(run_id):
    """One run with its counts by category."""
    with _db().unit_of_work() as session:
        run = queries.get_run(session, run_id)
    if run is None:
        raise ApiError(404, "not_found", f"No reconciliation run {run_id}.")
    return run


@blp.get("/discrepancies")
@blp.arguments(DiscrepancyListArgs(), location="query")
@blp.response(200, DiscrepancyListSchema)
@blp.doc(security=SECURITY)
@require_token(roles=FINANCE)
def list_discrepancies(args):
    """Discrepancies of the current runs (or of one run), filtered by category, status and day."""
    if args.get("after") and args["offset"]:
        raise ApiError(422, "invalid_paging", "Use either after (the next page's cursor) or offset, not both.")
    with _db().unit_of_work() as session:
        items, total, after = queries.page_discrepancies(
            session, run_id=args.get("run_id"), category=args.get("category"), status=args.get("status"),
            since=args.get("since"), until=args.get("until"), limit=args["limit"], offset=args["offset"],
            after=args.get("after"))
    return {"total": total, "discrepancies": items, "next": after, "next_url": _next_url(after)}


def _next_url(after: str | None) -> str | None:
    """This request's URL with `after` set to the next page's cursor (and no offset)."""
    if after is None:
        return None
    params = [(k, v) for k, v in request.args.items(multi=True) if k not in ("after", "offset")] + [("after", after)]
    return f"{request.path}?{urlencode(params)}"


@blp.get("/discrepancies/<int:discrepancy_id>")
@blp.response(200, DiscrepancySchema)
@blp.doc(security=SECURITY)
@require_token(roles=FINANCE)
def get_discrepancy(discrepancy_id):
    """One discrepancy with the records on each side and every resolution step."""
    with _db().unit_of_work() as session:
        item = queries.get_discrepancy(session, discrepancy_id)
    if item is None:
        raise ApiError(404, "not_found", f"No discrepancy {discrepancy_id}.")
    return item


def _step(discrepancy_id: int, action, **kwargs):
    actor = actor_of(current_principal())
    with _db().unit_of_work() as session:
        action(session, discrepancy_id, actor, **kwargs)
    with _db().unit_of_work() as session:
        return queries.get_discrepancy(session, discrepancy_id)


@blp.post("/discrepancies/<int:discrepancy_id>/confirm")
@blp.arguments(NoteSchema())
@blp.response(200, DiscrepancySchema)
@blp.alt_response(409, description="wrong_status")
@blp.doc(security=SECURITY)
@require_token(roles=FINANCE)
def confirm(data, discrepancy_id):
    """Confirm the finding is real (open or carried -> confirmed)."""
    return _step(discrepancy_id, runs.confirm, note=data.get("note"))


@blp.post("/discrepancies/<int:discrepancy_id>/resolve")
@blp.arguments(ResolveSchema())
@blp.response(200, DiscrepancySchema)
@blp.alt_response(409, description="wrong_status")
@blp.doc(security=SECURITY)
@require_token(roles=FINANCE)
def resolve(data, discrepancy_id):
    """Record how it was settled, with a reason code and a note (confirmed -> resolved)."""
    return _step(discrepancy_id, runs.resolve, reason_code=data["reason_code"], note=data["note"])


@blp.post("/discrepancies/<int:discrepancy_id>/approve")
@blp.arguments(NoteSchema())
@blp.response(200, DiscrepancySchema)
@blp.alt_response(403, description="four_eyes: the resolver cannot approve their own resolution")
@blp.alt_response(409, description="wrong_status")
@blp.doc(security=SECURITY)
@require_token(roles=FINANCE)
def approve(data, discrepancy_id):
    """A second finance user approves the resolution (resolved -> approved)."""
    return _step(discrepancy_id, runs.approve, note=data.get("note"))


@blp.post("/discrepancies/<int:discrepancy_id>/reject")
@blp.arguments(RejectSchema())
@blp.response(200, DiscrepancySchema)
@blp.alt_response(403, description="four_eyes: the resolver cannot review their own resolution")
@blp.doc(security=SECURITY)
@require_token(roles=FINANCE)
def reject(data, discrepancy_id):
    """A second finance user sends the resolution back (resolved -> confirmed)."""
    return _step(discrepancy_id, runs.reject, note=data["note"])


def _download(data: bytes, fmt: str, name: str) -> Response:
    response = Response(data, mimetype=_FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.get("/runs/<int:run_id>/export")
@blp.arguments(ExportArgs(), location="query")
@blp.response(200, description="CSV (UTF-8 with BOM) or XLSX")
@blp.doc(security=SECURITY)
@require_token(roles=FINANCE)
def export_run(args, run_id):
    """A run's discrepancies (or only the open ones) as CSV or XLSX, formula-injection safe."""
    with _db().unit_of_work() as session:
        data = exports.export_run(session, run_id, fmt=args["format"], open_only=args["open_only"], lang=args["lang"])
    return _download(data, args["format"], f"reconciliation-run-{run_id}")


@blp.get("/discrepancies/export")
@blp.arguments(ExportArgs(), location="query")
@blp.response(200, description="CSV (UTF-8 with BOM) or XLSX")
@blp.doc(security=SECURITY)
@require_token(roles=FINANCE)
def export_open(args):
    """Every discrepancy of the current runs that still needs someone, as CSV or XLSX."""
    with _db().unit_of_work() as session:
        data = exports.export_open(session, fmt=args["format"], lang=args["lang"])
    return _download(data, args["format"], "reconciliation-open-discrepancies")
