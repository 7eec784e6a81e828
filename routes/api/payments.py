"""Payment notices (flow 4, R5, R13): create with an `Idempotency-Key`, read status and history,
refund, fetch the fiscal e-receipt.

Who may do what:
- create a notice: a service-hall clerk (role `clerk`) or a department/agency service account, any
  declared agency, items and payer; a signed-in citizen or enterprise member only the self-service
  items of `config/fees.yaml` (e.g. postage in one-stop payment), for themselves: they send item
  codes and quantities, the server sets agency, names, units and prices from the catalogue, and the
  payer is the caller (their resident ID number, or the USCC of the enterprise they act for). A
  quoted `case_id` must be the caller's own case or a new one (supervision/cases.py). People are
  rate-limited (config/rate_limits.yaml: notice-create/*);
- read notices, their history and e-receipt: the payer (the person, or a member acting for the
  enterprise), staff (`clerk`, `finance`, `supervisor`), and the service account that created it.
  Anyone else gets 404, as if the notice did not exist;
- refund: staff with role `finance` or `clerk`, with a refund request id (idempotent);
- close an unpaid notice so it can no longer be paid: staff with role `finance` or `clerk`, or whoever
  created it (idempotent; a paid notice answers 409 `notice_paid`: refund it instead).

Money is integer fen; times are answered in Beijing time (`+08:00`).
"""
from __future__ import annotations

import re

from flask import current_app, jsonify, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kernel.clock import to_beijing
from kernel.identifiers import mask
from kernel.money import MAX_FEN
from payment_bridge.api import MAX_ITEMS, PAID_STATES, PLATFORMS, request_hash
from routes.api.payment_requests import own_keys, self_service_request, staff_request
from routes.auth import current_principal, require_token
from routes.cases import claim_case_or_refuse
from routes.errors import ApiError
from routes.ratelimits import enforce

blp = Blueprint("payments", __name__, url_prefix="/api/v1/payments",
                description="Payment notices (缴款通知书): create, status and history, refunds, e-receipts")

STAFF_ROLES = frozenset({"clerk", "finance", "supervisor"})
CREATOR_ROLES = frozenset({"clerk"})
REFUND_ROLES = ("finance", "clerk")
CLOSE_ROLES = frozenset(REFUND_ROLES)
_KEY = re.compile(r"^[\x21-\x7e]{8,200}$")
IDEMPOTENCY_HEADER = {"in": "header", "name": "Idempotency-Key", "required": True,
                      "description": "8-200 printable ASCII characters, unique per notice you mean to create. "
                                     "The same key with the same body returns the original answer; with another "
                                     "body, 409 idempotency_key_reused.",
                      "schema": {"type": "string"}}


SERVER_SET = "staff and department accounts only: for a citizen the server sets it (config/fees.yaml)"


class BeijingTime(fields.String):
    """An aware datetime, answered in Beijing time (`+08:00`)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return to_beijing(value).isoformat() if value is not None else None


class IsoDate(fields.String):
    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if value is not None else None


class Masked(fields.String):
    """A personal identifier, masked (kernel.identifiers.mask)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return mask(value) if value is not None else None


class ItemSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_-]{1,32}$"),
                         metadata={"description": "收费项目编码; a citizen: a self-service code of config/fees.yaml"})
    name = fields.String(validate=validate.Length(1, 60), metadata={"description": f"required for staff; {SERVER_SET}"})
    unit = fields.String(validate=validate.Length(1, 10), metadata={"description": f"default 项; {SERVER_SET}"})
    unit_price_fen = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_FEN),
                                    metadata={"description": f"unit price in fen (分), required for staff; {SERVER_SET}"})
    quantity = fields.Integer(load_default=1, strict=True, validate=validate.Range(1, 1_000_000))
    amount_fen = fields.Integer(dump_only=True)


class NoticeCreateSchema(Schema):
    agency_code = fields.String(validate=validate.Length(1, 32),
                                metadata={"description": f"执收单位编码, required for staff; {SERVER_SET}"})
    payer_key = fields.String(metadata={"description": "the payer's resident ID number or USCC; required for staff; "
                                                       "a citizen may name only their own (default: their ID number)"})
    payer_name = fields.String(validate=validate.Length(1, 100),
                               metadata={"description": f"required for staff; {SERVER_SET} (the caller's name)"})
    items = fields.List(fields.Nested(ItemSchema), required=True, validate=validate.Length(1, MAX_ITEMS))
    case_id = fields.String(validate=validate.Length(1, 64))
    due_at = fields.AwareDateTime(metadata={"description": "payment deadline (default: in 7 days)"})
    platform = fields.String(validate=validate.OneOf(PLATFORMS))


class EventSchema(Schema):
    seq = fields.Integer()
    type = fields.String(attribute="event_type")
    from_state = fields.String()
    to_state = fields.String()
    occurred_at = BeijingTime()
    details = fields.Dict()


class RefundSchema(Schema):
    refund_request_id = fields.String()
    amount_fen = fields.Integer()
    status = fields.String(metadata={"description": "pending | succeeded | failed"})
    reason = fields.String(allow_none=True)
    failure = fields.String(allow_none=True)
    created_at = BeijingTime()
    completed_at = BeijingTime(allow_none=True)


class NoticeSchema(Schema):
    id = fields.String()
    status = fields.String(metadata={"description": "created | registered | failed | paid | expired | cancelled "
                                                    "(closed) | paid_after_close (paid at the platform after it "
                                                    "was closed: to be refunded) | refund_pending | "
                                                    "partly_refunded | refunded"})
    payment_code = fields.String(metadata={"description": "缴款码"})
    platform = fields.String()
    pay_url = fields.String(allow_none=True)
    agency_code = fields.String()
    agency_name = fields.String()
    payer_kind = fields.String()
    payer_key = Masked(metadata={"description": "masked"})
    payer_name = fields.String()
    items = fields.List(fields.Nested(ItemSchema))
    total_fen = fields.Integer()
    paid_fen = fields.Integer()
    refunded_fen = fields.Integer()
    case_id = fields.String(allow_none=True)
    due_at = BeijingTime()
    created_at = BeijingTime()
    history = fields.List(fields.Nested(EventSchema))
    refunds = fields.List(fields.Nested(RefundSchema))


class NoticeListSchema(Schema):
    notices = fields.List(fields.Nested(NoticeSchema))


class ListArgsSchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 100_000))


class RefundRequestSchema(Schema):
    refund_request_id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{8,64}$"),
                                      metadata={"description": "your id for this refund: a retry with it refunds once"})
    amount_fen = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_FEN))
    reason = fields.String(validate=validate.Length(1, 80))


class CloseRequestSchema(Schema):
    reason = fields.String(validate=validate.Length(1, 80), metadata={"description": "why it is closed (kept in "
                                                                                     "the notice's history)"})


class RefundResultSchema(Schema):
    refund = fields.Nested(RefundSchema)
    notice = fields.Nested(NoticeSchema)


class ReceiptSchema(Schema):
    notice_id = fields.String()
    ebill_code = fields.String(metadata={"description": "票据代码"})
    ebill_no = fields.String(metadata={"description": "票据号码"})
    check_code = fields.String(metadata={"description": "校验码"})
    issue_date = IsoDate()
    download_url = fields.String()


def _payments():
    return current_app.extensions["govlink"].payments


def _creator_id(principal) -> str:
    return principal.caller if principal.is_service_account else principal.subject


def _readable(principal, notice) -> bool:
    return (notice.payer_key in own_keys(principal) or bool(principal.roles & STAFF_ROLES)
            or notice.created_by == _creator_id(principal))


def _readable_notice(notice_id: str):
    notice = _payments().get(notice_id) if len(notice_id) <= 36 else None
    if notice is None or not _readable(current_principal(), notice):
        raise ApiError(404, "not_found", "No payment notice with this id is visible to you.")
    return notice


@blp.post("")
@blp.arguments(NoticeCreateSchema())
@blp.response(201, NoticeSchema)
@blp.alt_response(403, response="FORBIDDEN", description="not_self_service: a citizen sent a price, name, agency or "
                  "an item outside config/fees.yaml; forbidden: a payer other than the caller")
@blp.alt_response(404, response="NOT_FOUND", description="case_not_found: the case_id is someone else's")
@blp.alt_response(409, description="idempotency_key_reused: the key was used with another body")
@blp.alt_response(429, response="TOO_MANY_REQUESTS", description="rate_limited: see the Retry-After header")
@blp.alt_response(502, response="BAD_GATEWAY", description="the payment platform refused the notice")
@blp.doc(parameters=[IDEMPOTENCY_HEADER], security=[{"bearer": []}])
@require_token()
def create_notice(data):
    """Create a payment notice and register it with the payment platform."""
    principal = current_principal()
    key = request.headers.get("Idempotency-Key", "")
    if not _KEY.match(key):
        raise ApiError(400, "idempotency_key_required",
                       "Send an Idempotency-Key header of 8-200 printable ASCII characters.")
    staff = bool(principal.roles & CREATOR_ROLES) or principal.is_service_account
    if not principal.is_service_account:  # people: citizens and clerks (department systems are not limited)
        enforce("notice-create/subject", principal)
        enforce("notice-create/ip")
    notice_request = staff_request(data) if staff else self_service_request(principal, data)
    if notice_request.case_id:
        with current_app.extensions["govlink"].db.unit_of_work() as session:
            claim_case_or_refuse(session, notice_request.case_id, principal, applicant_key=notice_request.payer_key)
    payments = _payments()
    notice, stored, replayed = payments.create_notice(
        notice_request, caller=principal.subject, actor=_creator_id(principal), idempotency_key=key,
        body_hash=request_hash(request.get_json(silent=True)))
    if replayed and stored:  # the first answer, as it was
        response = jsonify(stored)
        response.status_code, response.headers["Idempotent-Replayed"] = 201, "true"
        return response
    created = payments.reads.detail(notice, refunds=False)
    if replayed:
        return created, 201, {"Idempotent-Replayed": "true"}
    payments.creating.store_response(principal.subject, key, 201, NoticeSchema().dump(created))
    return created, 201, {"Location": f"/api/v1/payments/{notice.id}"}


@blp.get("")
@blp.arguments(ListArgsSchema(), location="query")
@blp.response(200, NoticeListSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def list_notices(args):
    """The caller's own notices: as a person (resident ID number) and for their enterprise (USCC)."""
    return {"notices": _payments().reads.notices_of(own_keys(current_principal()), limit=args["limit"],
                                                    offset=args["offset"])}


@blp.get("/<notice_id>")
@blp.response(200, NoticeSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def get_notice(notice_id):
    """A notice's status, its history (every transition) and its refunds."""
    return _payments().reads.detail(_readable_notice(notice_id))


@blp.post("/<notice_id>/refunds")
@blp.arguments(RefundRequestSchema())
@blp.response(201, RefundResultSchema)
@blp.alt_response(200, schema=RefundResultSchema, description="a retry with the same refund_request_id (replayed)")
@blp.alt_response(202, schema=RefundResultSchema, description="the platform has not finished the refund yet")
@blp.alt_response(409, description="refund_not_allowed / refund_exceeds_refundable / refund_request_id_reused")
@blp.alt_response(502, response="BAD_GATEWAY", description="refund_failed: the platform refused the refund")
@blp.doc(security=[{"bearer": []}])
@require_token(roles=REFUND_ROLES)
def refund_notice(data, notice_id):
    """Refund part or all of a paid notice (finance or clerk staff); idempotent on refund_request_id."""
    notice = _readable_notice(notice_id)
    refund, replayed = _payments().refund(notice.id, refund_request_id=data["refund_request_id"],
                                          amount_fen=data["amount_fen"], reason=data.get("reason"),
                                          actor=current_principal().subject)
    if refund.status == "failed" and not replayed:
        raise ApiError(502, "refund_failed", f"The platform refused the refund: {refund.failure}",
                       {"refund_request_id": refund.refund_request_id})
    status = 200 if replayed else (202 if refund.status == "pending" else 201)
    return {"refund": refund, "notice": _payments().get(notice.id)}, status


@blp.post("/<notice_id>/close")
@blp.arguments(CloseRequestSchema())
@blp.response(200, NoticeSchema)
@blp.alt_response(409, response="CONFLICT", description="notice_paid: the notice is paid; refund it instead")
@blp.alt_response(502, response="BAD_GATEWAY", description="close_refused: the platform did not withdraw the notice")
@blp.doc(security=[{"bearer": []}])
@require_token()
def close_notice(data, notice_id):
    """Close an unpaid notice so it can no longer be paid (finance or clerk staff, or its creator); idempotent.

    WeChat Pay withdraws the order; the non-tax platform has no withdrawal message, so the notice is
    closed in govlink, and a payment the platform still takes for it is refused (`notice_closed`) and
    kept as `paid_after_close`, to be refunded.
    """
    principal = current_principal()
    notice = _readable_notice(notice_id)
    if not (principal.roles & CLOSE_ROLES or notice.created_by == _creator_id(principal)):
        raise ApiError(403, "forbidden", "Only finance or clerk staff, or whoever created the notice, may close it.")
    closed = _payments().close_notice(notice.id, actor=_creator_id(principal), reason=data.get("reason"))
    return _payments().reads.detail(closed)


@blp.get("/<notice_id>/receipt")
@blp.response(200, ReceiptSchema)
@blp.alt_response(409, response="CONFLICT", description="not_paid: receipts are issued after payment")
@blp.alt_response(502, response="BAD_GATEWAY", description="the platform answered nonsense")
@blp.doc(security=[{"bearer": []}])
@require_token()
def get_receipt(notice_id):
    """The fiscal e-receipt (财政电子票据) of a paid notice, fetched from the platform on first request."""
    notice = _readable_notice(notice_id)
    if notice.status not in PAID_STATES:
        raise ApiError(409, "not_paid", f"The notice is {notice.status}: receipts are issued after payment.")
    receipt = _payments().reads.receipt(notice.id)
    if receipt is None:
        raise ApiError(404, "receipt_not_issued", "The platform has not issued the e-receipt yet; try again later.",
                       headers={"Retry-After": "60"})
    return receipt
