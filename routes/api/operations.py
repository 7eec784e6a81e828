"""The operations API (issue 20) for the realm role `operator`: department services with their live
state and circuits (as every worker reports them), parking lots (list, inspect, replay, purge with a
reason), the message log (search, verification status), scheduled jobs (retry), alerts and the
operators' audit trail. Thin: schemas here, the work in `operations/`. Times in Beijing time (+08:00)."""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kernel.clock import utcnow
from kernel.errors import Refused
from operations import OPERATOR_ROLE, audit, board, jobs, message_log, parking
from routes.auth import current_principal, require_token
from routes.fields import BeijingTime

blp = Blueprint("operations", __name__, url_prefix="/api/v1/operations",
                description="Operations (运维): department services, circuits, parking lots, message log, jobs, "
                            "alerts, audit trail. Realm role `operator`.")

OPERATOR = (OPERATOR_ROLE,)
SECURITY = [{"bearer": []}]
SERVICE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _runtime():
    return current_app.extensions["govlink"]


def actor() -> str:
    principal = current_principal()
    return principal.username or principal.subject


def known_service(service: str) -> str:
    if service not in _runtime().connectors:
        raise Refused(404, "unknown_service", f"No department service named {service!r} is declared "
                      "(config/connectors/); see GET /api/v1/operations/services.")
    return service


def coverage():
    """The working-day calendar's coverage (None if the supervision file cannot be read)."""
    from supervision.calendar_health import app_coverage

    try:
        return app_coverage(current_app)[0]
    except Exception:  # noqa: BLE001 - shown as no alert rather than no page
        return None


# ------------------------------------------------------------------------------------- schemas
class GrantSchema(Schema):
    client = fields.String()
    operations = fields.List(fields.String())


class WorkerCircuitSchema(Schema):
    worker_id = fields.String()
    state = fields.String(metadata={"description": "closed | open | half_open"})
    changed_at = BeijingTime()
    seen_at = BeijingTime()
    stale = fields.Boolean(metadata={"description": "not seen for several heartbeats: its state is not counted"})


class CircuitSchema(Schema):
    state = fields.String(metadata={"description": "the worst state among live workers; unknown when none reports"})
    open_workers = fields.Integer()
    workers = fields.List(fields.Nested(WorkerCircuitSchema))


class LiveSchema(Schema):
    calls = fields.Integer()
    succeeded = fields.Integer()
    errors = fields.Integer()
    error_rate = fields.Float(allow_none=True)
    p95_ms = fields.Integer(allow_none=True)


class ServiceSchema(Schema):
    service = fields.String()
    department = fields.String()
    kind = fields.String(metadata={"description": "soap | rest"})
    target = fields.String()
    operations = fields.List(fields.String())
    timeout_seconds = fields.Float()
    grants = fields.List(fields.Nested(GrantSchema))
    live = fields.Nested(LiveSchema, metadata={"description": "the last hour"})
    circuit = fields.Nested(CircuitSchema)
    parked = fields.Integer(allow_none=True, metadata={"description": "null: not declared yet, or the bus is down"})
    parked_growing = fields.Boolean()


class ServiceListSchema(Schema):
    services = fields.List(fields.Nested(ServiceSchema))


class ParkedSchema(Schema):
    message_id = fields.String(allow_none=True)
    type = fields.String(allow_none=True)
    case_id = fields.String(allow_none=True)
    retries = fields.Integer()
    failure_code = fields.String(allow_none=True)
    failure_reason = fields.String(allow_none=True)
    failed_at = fields.String(allow_none=True)
    preview = fields.String(metadata={"description": "the start of the envelope, identifiers masked"})


class ParkedOneSchema(ParkedSchema):
    payload = fields.String(metadata={"description": "the whole envelope, personal identifiers masked"})


class ParkedListSchema(Schema):
    service = fields.String()
    count = fields.Integer()
    messages = fields.List(fields.Nested(ParkedSchema))


class ParkedListArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, parking.MAX_LIST))


class ParkedActionSchema(Schema):
    message_id = fields.String(load_default=None, validate=validate.Length(1, 64),
                               metadata={"description": "one message; every parked message when left out"})
    reason = fields.String(load_default=None, validate=validate.Length(max=500),
                           metadata={"description": "why (required to purge: reason_required)"})


class CountSchema(Schema):
    count = fields.Integer(metadata={"description": "messages replayed or purged"})


class RecordSchema(Schema):
    seq = fields.Integer()
    message_id = fields.String()
    direction = fields.String()
    type = fields.String()
    service = fields.String(allow_none=True)
    client = fields.String(allow_none=True)
    user = fields.String(allow_none=True)
    correlation_id = fields.String(allow_none=True)
    case_id = fields.String(allow_none=True)
    logged_at = BeijingTime()


class SearchArgs(Schema):
    case_id = fields.String(validate=validate.Length(1, 64))
    correlation_id = fields.String(validate=validate.Length(1, 64))
    message_id = fields.String(validate=validate.Length(1, 36))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, message_log.MAX_RECORDS))


class RecordListSchema(Schema):
    records = fields.List(fields.Nested(RecordSchema))


class ChainVerificationSchema(Schema):
    status = fields.String(metadata={"description": "verified | never_verified | checkpoint_refused"})
    head_seq = fields.Integer()
    checkpoint_seq = fields.Integer(allow_none=True)
    verified_at = BeijingTime(allow_none=True)
    unverified = fields.Integer(allow_none=True, metadata={"description": "records after the checkpoint"})
    message = fields.String()


class JobRunSchema(Schema):
    period = fields.String()
    status = fields.String(metadata={"description": "running | succeeded | retry | failed"})
    attempts = fields.Integer()
    claimed_by = fields.String()
    started_at = BeijingTime()
    finished_at = BeijingTime(allow_none=True)
    outcome = fields.String()
    next_attempt_at = BeijingTime(allow_none=True)


class JobSchema(Schema):
    name = fields.String()
    schedule = fields.String()
    last_run = fields.Nested(JobRunSchema, allow_none=True)
    next_run = BeijingTime(allow_none=True)
    failures = fields.Integer(metadata={"description": "runs failed for good since `failures_since`"})
    failures_since = fields.String()


class JobListSchema(Schema):
    jobs = fields.List(fields.Nested(JobSchema))


class RetrySchema(Schema):
    period = fields.String(load_default=None, validate=validate.Length(1, 40),
                           metadata={"description": "the run to retry; the latest failed one when left out"})
    reason = fields.String(load_default=None, validate=validate.Length(max=500))


class AlertSchema(Schema):
    kind = fields.String(metadata={"description": "circuit_open | parking_lot | job_failed | calendar | "
                                                  "supervision_warning | supervision_escalation | bus_unavailable | "
                                                  "reconciliation_job_abandoned"})
    severity = fields.String(metadata={"description": "critical | warning | info"})
    subject = fields.String()
    code = fields.String(metadata={"description": "The message's machine-readable code (the consoles translate the "
                                                  "message by it, with `params`), e.g. job_owner_lost"})
    params = fields.Dict(keys=fields.String(), metadata={"description": "The values the message names"})
    message = fields.String(metadata={"description": "The message in English"})
    since = BeijingTime(allow_none=True)


class AlertListSchema(Schema):
    alerts = fields.List(fields.Nested(AlertSchema))


class AuditSchema(Schema):
    id = fields.Integer()
    at = BeijingTime()
    actor = fields.String()
    action = fields.String(metadata={"description": "dlq.replay | dlq.purge | job.retry"})
    target = fields.String()
    message_id = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    count = fields.Integer()
    log_seq = fields.Integer(allow_none=True, metadata={"description": "its record in the message log"})


class AuditArgs(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))
    before = fields.Integer(validate=validate.Range(1, 2**63 - 1), metadata={"description": "entries older than this id"})
    target = fields.String(validate=validate.Length(1, 200))


class AuditListSchema(Schema):
    entries = fields.List(fields.Nested(AuditSchema))


# ------------------------------------------------------------------------------------- routes
def _endpoint(method, rule, *, args=None, location="json", response=None, status=200):
    """A route for operators: bearer token with the realm role `operator` (401 without, 403 without the role)."""
    def decorator(view):
        view = require_token(roles=OPERATOR)(view)
        view = blp.doc(security=SECURITY)(view)
        view = blp.alt_response(403, description="forbidden: the token lacks the realm role `operator`")(view)
        if response is not None:
            view = blp.response(status, response)(view)
        if args is not None:
            view = blp.arguments(args(), location=location)(view)  # one schema, not one per request
        return blp.route(rule, methods=[method])(view)

    return decorator


@_endpoint("GET", "/services", response=ServiceListSchema)
def list_services():
    """Every declared department service: kind, target, operations, grants, the last hour, circuits, parking lot."""
    return {"services": board.services(_runtime(), utcnow())}


@_endpoint("GET", "/services/<service>", response=ServiceSchema)
def one_service(service):
    """One service with its live state and its circuit as each worker reports it."""
    return board.services(_runtime(), utcnow(), only=known_service(service))[0]


@_endpoint("GET", "/services/<service>/parked", args=ParkedListArgs, location="query", response=ParkedListSchema)
def parked(args, service):
    """The parked messages of a service (failed for good), left in place; identifiers masked."""
    return parking.listing(_runtime(), known_service(service), args["limit"])


@_endpoint("GET", "/services/<service>/parked/messages/<message_id>", response=ParkedOneSchema)
def parked_one(service, message_id):
    """One parked message with its whole envelope, personal identifiers masked (404 not_parked)."""
    return parking.inspect(_runtime(), known_service(service), message_id[:64])


@_endpoint("POST", "/services/<service>/parked/replay", args=ParkedActionSchema, response=CountSchema)
def replay(data, service):
    """Send parked messages (one, or all) back to the service's queue; recorded in the audit trail and the
    message log before anything moves."""
    count = parking.replay(_runtime(), known_service(service), actor=actor(), message_id=data["message_id"],
                           reason=data["reason"])
    if data["message_id"] and count == 0:
        raise Refused(404, "not_parked", f"No message {data['message_id']} is parked for {service}.")
    return {"count": count}


@_endpoint("POST", "/services/<service>/parked/purge", args=ParkedActionSchema, response=CountSchema)
def purge(data, service):
    """Remove parked messages (one, or all) for good. Needs a `reason` (422 reason_required); audited."""
    count = parking.purge(_runtime(), known_service(service), actor=actor(), reason=data["reason"],
                          message_id=data["message_id"])
    if data["message_id"] and count == 0:
        raise Refused(404, "not_parked", f"No message {data['message_id']} is parked for {service}.")
    return {"count": count}


@_endpoint("GET", "/messages", args=SearchArgs, location="query", response=RecordListSchema)
def search_messages(args):
    """Message-log records by case id, correlation id or message id (at least one; 422 search_term_required)."""
    terms = {k: args.get(k) for k in message_log.SEARCH_KEYS}
    if not any(terms.values()):
        raise Refused(422, "search_term_required", "Search by case_id, correlation_id or message_id.")
    with _runtime().db.unit_of_work() as session:
        return {"records": message_log.search(session, limit=args["limit"], **terms)}


@_endpoint("GET", "/messages/verification", response=ChainVerificationSchema)
def verification():
    """Where the hash chain's verification stands (the latest sealed checkpoint of `govlink audit verify`)."""
    with _runtime().db.unit_of_work() as session:
        return message_log.verification_status(session, _runtime().settings)


@_endpoint("GET", "/jobs", response=JobListSchema)
def list_jobs():
    """Scheduled jobs: schedule, last run, next run, recent failures."""
    with _runtime().db.unit_of_work() as session:
        return {"jobs": jobs.overview(session, current_app.extensions.get("govlink_jobs", {}), utcnow())}


@_endpoint("POST", "/jobs/<job>/retry", args=RetrySchema, response=JobRunSchema)
def retry_job(data, job):
    """Make a run that failed for good due again (the scheduler runs it at its next tick); audited.
    404 unknown_job, 409 nothing_to_retry."""
    with _runtime().db.unit_of_work() as session:
        return jobs.retry(session, current_app.extensions.get("govlink_jobs", {}), job, actor=actor(),
                          period=data["period"], reason=data["reason"], now=utcnow())


@_endpoint("GET", "/alerts", response=AlertListSchema)
def list_alerts():
    """Open supervision warnings and operational alerts, most severe first."""
    return {"alerts": board.alerts(_runtime(), current_app.extensions.get("govlink_jobs", {}), utcnow(), coverage())}


@_endpoint("GET", "/audit", args=AuditArgs, location="query", response=AuditListSchema)
def audit_trail(args):
    """The operators' actions, newest first."""
    with _runtime().db.unit_of_work() as session:
        return {"entries": audit.recent(session, limit=args["limit"], before=args.get("before"),
                                        target=args.get("target"))}
