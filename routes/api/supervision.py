"""Electronic supervision (电子监察, R10, R13): case timelines, warnings, satisfaction, complaints, statistics.

Who may do what (the case rule is `supervision.access.may_see_case`):
- a case's timeline: its applicant and supervisors (role `supervisor`); anyone else gets 404;
- rate a case (1-5, once, when it is finished) and file complaints about it: its applicant only;
- complaints: the filer sees their own (with the reply); supervisors see all, assign, reply, close;
- open warnings and statistics: supervisors.

Times are answered in Beijing time (`+08:00`).
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kernel.clock import BEIJING, to_beijing
from routes.auth import current_principal, require_token
from routes.errors import ApiError
from routes.fields import DATE_RANGE, BeijingTime
from store.models.supervision import CaseSatisfaction, Complaint
from supervision import feedback
from supervision.access import CASE_ID, SUPERVISOR_ROLE, CaseHidden, applicants_case, visible_case
from supervision.config import load as load_config
from supervision.statistics import open_warnings, statistics
from supervision.timeline import case_timeline

blp = Blueprint("supervision", __name__, url_prefix="/api/v1/supervision",
                description="Electronic supervision (电子监察): case timelines, warnings, satisfaction, complaints, statistics")



class DeadlineSchema(Schema):
    step = fields.String()
    title = fields.String()
    due_at = fields.String()
    ended_at = fields.String(allow_none=True)
    overdue = fields.Boolean()
    state = fields.String(metadata={"description": "running | done | overdue | warned | escalated"})


class EntrySchema(Schema):
    at = fields.String(metadata={"description": "when it happened (Beijing time)"})
    type = fields.String(metadata={"description": "what happened: the envelope type, e.g. service.call, payment.paid"})
    system = fields.String(allow_none=True, metadata={"description": "which system: department service, "
                                                                     "payment/<platform>, courier/<carrier>"})
    operation = fields.String(allow_none=True)
    actor = fields.String(allow_none=True, metadata={"description": "who acted (masked)"})
    outcome = fields.String(metadata={"description": "ok | failed | pending"})
    status = fields.String(allow_none=True)
    duration_ms = fields.Integer(allow_none=True)
    source = fields.String(metadata={"description": "bus | payment | logistics | tracking | supervision"})
    message_id = fields.String(allow_none=True)
    details = fields.Dict()
    deadline = fields.Nested(DeadlineSchema, allow_none=True)


class RatingSchema(Schema):
    rating = fields.Integer(required=True, strict=True, validate=validate.Range(1, 5))
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(0, 500))
    rated_at = BeijingTime(dump_only=True)


class TimelineSchema(Schema):
    case_id = fields.String()
    finished = fields.Boolean(metadata={"description": "nothing is under way any more: the case can be rated"})
    entries = fields.List(fields.Nested(EntrySchema))
    satisfaction = fields.Nested(RatingSchema, allow_none=True)


class ComplaintCreateSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(1, 2000))


class ComplaintSchema(Schema):
    id = fields.String()
    case_id = fields.String()
    status = fields.String(metadata={"description": "filed | assigned | replied | closed"})
    text = fields.String()
    filer = fields.String(allow_none=True, attribute="filer_masked", metadata={"description": "masked"})
    assignee = fields.String(allow_none=True)
    reply = fields.String(allow_none=True)
    replied_at = BeijingTime(allow_none=True)
    closed_at = BeijingTime(allow_none=True)
    created_at = BeijingTime()
    history = fields.List(fields.Dict())


class ComplaintListSchema(Schema):
    complaints = fields.List(fields.Nested(ComplaintSchema))


class ComplaintArgsSchema(Schema):
    status = fields.String(validate=validate.OneOf(feedback.STATUSES))
    case_id = fields.String(validate=validate.Regexp(CASE_ID))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 100_000))


class AssignSchema(Schema):
    assignee = fields.String(required=True, validate=validate.Length(1, 200))


class ReplySchema(Schema):
    reply = fields.String(required=True, validate=validate.Length(1, 2000))


class WarningSchema(Schema):
    step_id = fields.String()
    step = fields.String()
    title = fields.String()
    case_id = fields.String(allow_none=True)
    service = fields.String(allow_none=True)
    system = fields.String(allow_none=True)
    level = fields.String(metadata={"description": "warning | escalation"})
    started_at = fields.String()
    due_at = fields.String()
    escalate_at = fields.String()
    warned_at = fields.String()
    escalated_at = fields.String(allow_none=True)


class WarningListSchema(Schema):
    warnings = fields.List(fields.Nested(WarningSchema))


class StatisticsArgsSchema(Schema):
    since = fields.Date(validate=DATE_RANGE, metadata={"description": "first Beijing date (default: 30 days ago)"})
    until = fields.Date(validate=DATE_RANGE, metadata={"description": "last Beijing date, included (default: today)"})
    service = fields.String(validate=validate.Length(1, 100))


class GroupSchema(Schema):
    key = fields.String()
    steps = fields.Integer()
    open = fields.Integer()
    finished = fields.Integer()
    overdue = fields.Integer()
    failed = fields.Integer()
    median_ms = fields.Float(allow_none=True)
    p95_ms = fields.Float(allow_none=True)
    overdue_rate = fields.Float()
    failure_rate = fields.Float()
    satisfaction = fields.Float(allow_none=True)
    ratings = fields.Integer()


class StatisticsSchema(Schema):
    since = fields.String()
    until = fields.String()
    totals = fields.Nested(GroupSchema)
    by_service = fields.List(fields.Nested(GroupSchema))
    by_system = fields.List(fields.Nested(GroupSchema), metadata={"description": "per department system"})
    by_step = fields.List(fields.Nested(GroupSchema))
    satisfaction = fields.Dict()
    complaints = fields.Dict(keys=fields.String(), values=fields.Integer(),
                             metadata={"description": "complaints filed in the period, by their status now"})
    open_warnings = fields.Integer()


def _db():
    return current_app.extensions["govlink"].db


def _time(moment):
    return to_beijing(moment).isoformat() if moment is not None else None


def timeline_view(timeline, satisfaction: CaseSatisfaction | None, lang: str = "zh") -> dict:
    """A timeline as the API and the supervision page show it (Beijing times)."""
    config = load_config(settings=current_app.extensions["govlink"].settings)
    entries = []
    for e in timeline.entries:
        deadline = None
        if e.deadline:
            deadline = {**e.deadline, "title": config.title(e.deadline["step"], lang), "due_at": _time(e.deadline["due_at"]),
                        "ended_at": _time(e.deadline.get("ended_at"))}
        entries.append({"at": _time(e.at), "type": e.type, "system": e.system, "operation": e.operation,
                        "actor": e.actor, "outcome": e.outcome, "status": e.status, "duration_ms": e.duration_ms,
                        "source": e.source, "message_id": e.message_id, "details": e.details, "deadline": deadline})
    rating = None
    if satisfaction is not None:
        rating = {"rating": satisfaction.rating, "comment": satisfaction.comment, "rated_at": _time(satisfaction.rated_at)}
    return {"case_id": timeline.case_id, "finished": timeline.finished, "entries": entries, "satisfaction": rating}


def complaint_view(c: Complaint) -> dict:
    """A complaint as the API answers it (for the supervision console's pages)."""
    return ComplaintSchema().dump(c)


def warning_view(w: dict, lang: str = "zh") -> dict:
    config = load_config(settings=current_app.extensions["govlink"].settings)
    return {**w, "title": config.title(w["step"], lang),
            **{k: _time(w[k]) for k in ("started_at", "due_at", "escalate_at", "warned_at", "escalated_at")}}


@blp.get("/cases/<string:case_id>/timeline")
@blp.response(200, TimelineSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def case_timeline_view(case_id):
    """A case's timeline: every step in order, who acted (masked), outcome, duration, deadline."""
    with _db().unit_of_work() as session:
        visible_case(session, case_id, current_principal())
        timeline = case_timeline(session, case_id)
        if timeline.empty:
            raise CaseHidden()
        return timeline_view(timeline, session.get(CaseSatisfaction, case_id))


@blp.post("/cases/<string:case_id>/satisfaction")
@blp.arguments(RatingSchema())
@blp.response(201, RatingSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def rate_case(body, case_id):
    """Rate a finished case (the applicant, once): 1 (very dissatisfied) to 5 (very satisfied)."""
    principal = current_principal()
    with _db().unit_of_work() as session:
        applicants_case(session, case_id, principal, "Only the applicant rates a case.")
        row = feedback.rate(session, case_id, principal.subject, body["rating"], body.get("comment"),
                            finished=case_timeline(session, case_id).finished)
        return row


@blp.post("/cases/<string:case_id>/complaints")
@blp.arguments(ComplaintCreateSchema())
@blp.response(201, ComplaintSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def file_complaint(body, case_id):
    """File a complaint about your case (投诉)."""
    principal = current_principal()
    with _db().unit_of_work() as session:
        applicants_case(session, case_id, principal, "Only the applicant files complaints about a case.")
        return feedback.file_complaint(session, case_id, principal.subject, body["text"])


@blp.get("/complaints")
@blp.arguments(ComplaintArgsSchema(), location="query")
@blp.response(200, ComplaintListSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def list_complaints(args):
    """Complaints: every one for supervisors, your own for anyone else."""
    principal = current_principal()
    subject = None if SUPERVISOR_ROLE in principal.roles else principal.subject
    with _db().unit_of_work() as session:
        rows = feedback.complaints(session, subject=subject, case_id=args.get("case_id"), status=args.get("status"),
                                   limit=args["limit"], offset=args["offset"])
        return {"complaints": rows}


@blp.get("/complaints/<string:complaint_id>")
@blp.response(200, ComplaintSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def get_complaint(complaint_id):
    """One complaint, with the reply once there is one (its filer and supervisors)."""
    principal = current_principal()
    with _db().unit_of_work() as session:
        complaint = session.get(Complaint, complaint_id[:36])
        if complaint is None or (complaint.subject != principal.subject and SUPERVISOR_ROLE not in principal.roles):
            raise ApiError(404, "not_found", "No such complaint.")
        return complaint


def _act(complaint_id: str, action: str, **kwargs) -> Complaint:
    principal = current_principal()
    actor = principal.username or principal.subject
    with _db().unit_of_work() as session:
        return feedback.act(session, complaint_id[:36], action, actor, **kwargs)


@blp.post("/complaints/<string:complaint_id>/assign")
@blp.arguments(AssignSchema())
@blp.response(200, ComplaintSchema)
@blp.doc(security=[{"bearer": []}])
@require_token(roles=(SUPERVISOR_ROLE,))
def assign_complaint(body, complaint_id):
    """Assign a complaint to someone to handle (supervisors)."""
    return _act(complaint_id, "assign", assignee=body["assignee"])


@blp.post("/complaints/<string:complaint_id>/reply")
@blp.arguments(ReplySchema())
@blp.response(200, ComplaintSchema)
@blp.doc(security=[{"bearer": []}])
@require_token(roles=(SUPERVISOR_ROLE,))
def reply_complaint(body, complaint_id):
    """Reply to a complaint; the applicant sees the reply (supervisors)."""
    return _act(complaint_id, "reply", reply=body["reply"])


@blp.post("/complaints/<string:complaint_id>/close")
@blp.response(200, ComplaintSchema)
@blp.doc(security=[{"bearer": []}])
@require_token(roles=(SUPERVISOR_ROLE,))
def close_complaint(complaint_id):
    """Close a replied complaint (supervisors)."""
    return _act(complaint_id, "close")


@blp.get("/warnings")
@blp.response(200, WarningListSchema)
@blp.doc(security=[{"bearer": []}])
@require_token(roles=(SUPERVISOR_ROLE,))
def list_warnings():
    """Open warnings: overdue steps still not done, most overdue first (escalated ones say so)."""
    with _db().unit_of_work() as session:
        return {"warnings": [warning_view(w) for w in open_warnings(session)]}


def period(args) -> tuple[datetime, datetime]:
    """[since, until) in UTC from Beijing dates (until included); default the last 30 days."""
    today = datetime.now(BEIJING).date()
    until = args.get("until") or today
    since = args.get("since") or until - timedelta(days=29)
    if since > until:
        raise ApiError(422, "invalid_period", "since is after until.")
    return (datetime.combine(since, time(0), tzinfo=BEIJING), datetime.combine(until + timedelta(days=1), time(0), tzinfo=BEIJING))


@blp.get("/statistics")
@blp.arguments(StatisticsArgsSchema(), location="query")
@blp.response(200, StatisticsSchema)
@blp.doc(security=[{"bearer": []}])
@require_token(roles=(SUPERVISOR_ROLE,))
def get_statistics(args):
    """Counts, median and p95 step durations, overdue and failure rates, satisfaction: per service,
    per department system and per step (supervisors)."""
    since, until = period(args)
    with _db().unit_of_work() as session:
        stats = statistics(session, since=since, until=until, service=args.get("service"))
    return {**stats, "since": _time(stats["since"]), "until": _time(stats["until"])}
