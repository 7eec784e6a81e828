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

from flask import current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from kernel.clock import to_beijing
from payment_bridge.errors import PaymentError
from payment_bridge.fees import fee_catalogue
from kernel.money import MAX_FEN
from payment_bridge.platforms.base import PlatformUnavailable
from payment_bridge.service import PAID_STATES, Item, NoticeRequest, Refused, request_hash
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
    items = fields.List(fields.Nested(ItemSchema), required=True, validate=validate.Length(1, 100))
    case_id = fields.String(validate=validate.Length(1, 64))
    due_at = fields.AwareDateTime(metadata={"description": "payment deadline (default: in 7 days)"})
    platform = fields.String(validate=validate.OneOf(["nontax", "wechatpay"]))


class EventSchema(Schema):
    seq = fields.Integer()
    type = fields.String()
    from_state = fields.String()
    to_state = fields.String()
    occurred_at = fields.String()
    details = fields.Dict()


class RefundSchema(Schema):
    refund_request_id = fields.String()
    amount_fen = fields.Integer()
    status = fields.String(metadata={"description": "pending | succeeded | failed"})
    reason = fields.String(allow_none=True)
    failure = fields.String(allow_none=True)
    created_at = fields.String()
    completed_at = fields.String(allow_none=True)


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
    payer_key = fields.String(metadata={"description": "masked"})
    payer_name = fields.String()
    items = fields.List(fields.Nested(ItemSchema))
    total_fen = fields.Integer()
    paid_fen = fields.Integer()
    refunded_fen = fields.Integer()
    case_id = fields.String(allow_none=True)
    due_at = fields.String()
    created_at = fields.String()
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
    issue_date = fields.String()
    download_url = fields.String()


def _service():
    return current_app.extensions["govlink"].payments


def _time(moment):
    return to_beijing(moment).isoformat() if moment is not None else None


def _own_keys(principal) -> list[str]:
    return [k for k in (principal.resident_id, principal.enterprise_uscc) if k]


def _creator_id(principal) -> str:
    return principal.caller if principal.is_service_account else principal.subject


def _readable(principal, notice) -> bool:
    return (notice.payer_key in _own_keys(principal) or bool(principal.roles & STAFF_ROLES)
            or notice.created_by == _creator_id(principal))


def _refused(exc: PaymentError) -> ApiError:
    if isinstance(exc, Refused):
        retry = {"Retry-After": "30"} if exc.status == 503 else None
        return ApiError(exc.status, exc.code, exc.message, exc.details, headers=retry)
    if isinstance(exc, PlatformUnavailable):
        return ApiError(503, exc.code, "The payment platform is not answering; try again later.",
                        headers={"Retry-After": "30"})
    return ApiError(502, exc.code, f"The payment platform refused: {exc.message}")


def render(notice, *, history=None, refunds=None) -> dict:
    from kernel.identifiers import mask

    out = {
        "id": notice.id, "status": notice.status, "payment_code": notice.payment_code, "platform": notice.platform,
        "pay_url": notice.pay_url, "agency_code": notice.agency_code, "agency_name": notice.agency_name,
        "payer_kind": notice.payer_kind, "payer_key": mask(notice.payer_key), "payer_name": notice.payer_name,
        "items": notice.items, "total_fen": notice.total_fen, "paid_fen": notice.paid_fen,
        "refunded_fen": notice.refunded_fen, "case_id": notice.case_id, "due_at": _time(notice.due_at),
        "created_at": _time(notice.created_at),
    }
    if history is not None:
        out["history"] = [{"seq": e.seq, "type": e.event_type, "from_state": e.from_state, "to_state": e.to_state,
                           "occurred_at": _time(e.occurred_at), "details": e.details} for e in history]
    if refunds is not None:
        out["refunds"] = [_render_refund(r) for r in refunds]
    return out


def _render_refund(refund) -> dict:
    return {"refund_request_id": refund.refund_request_id, "amount_fen": refund.amount_fen, "status": refund.status,
            "reason": refund.reason, "failure": refund.failure, "created_at": _time(refund.created_at),
            "completed_at": _time(refund.completed_at)}


def _readable_notice(notice_id: str):
    notice = _service().get(notice_id) if len(notice_id) <= 36 else None
    if notice is None or not _readable(current_principal(), notice):
        raise ApiError(404, "not_found", "No payment notice with this id is visible to you.")
    return notice


@blp.post("")
@blp.arguments(NoticeCreateSchema)
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
    notice_request = _staff_request(data) if staff else _self_service_request(principal, data)
    if notice_request.case_id:
        with current_app.extensions["govlink"].db.unit_of_work() as session:
            claim_case_or_refuse(session, notice_request.case_id, principal, applicant_key=notice_request.payer_key)
    body_hash = request_hash(request.get_json(silent=True))
    try:
        notice, stored, replayed = _service().create_notice(
            notice_request, caller=principal.subject, actor=_creator_id(principal), idempotency_key=key,
            body_hash=body_hash)
    except PaymentError as exc:
        raise _refused(exc) from None
    if replayed:
        body = stored or render(notice, history=_service().history(notice.id))
        return body, 201, {"Idempotent-Replayed": "true"}
    body = render(notice, history=_service().history(notice.id))
    _service().store_response(principal.subject, key, 201, body)
    return body, 201, {"Location": f"/api/v1/payments/{notice.id}"}


def _staff_request(data) -> NoticeRequest:
    """A clerk's or department's notice: every field from the body (the service checks agency and amounts)."""
    missing = {name: ["Missing data for required field."] for name in ("agency_code", "payer_key", "payer_name")
               if not data.get(name)}
    for index, item in enumerate(data["items"]):
        for name in ("name", "unit_price_fen"):
            if item.get(name) is None:
                missing.setdefault("items", {}).setdefault(str(index), {})[name] = ["Missing data for required field."]
    if missing:
        raise ApiError(422, "validation_failed", "The request did not pass validation; see details.fields.",
                       {"fields": {"json": missing}})
    return NoticeRequest(
        agency_code=data["agency_code"], payer_key=data["payer_key"].strip().upper(), payer_name=data["payer_name"],
        items=tuple(Item(i["code"], i["name"], i.get("unit") or "项", i["unit_price_fen"], i["quantity"])
                    for i in data["items"]),
        case_id=data.get("case_id"), due_at=data.get("due_at"), platform=data.get("platform"))


def _self_service_request(principal, data) -> NoticeRequest:
    """A citizen's notice: catalogue items only, at the catalogue's price, the caller as payer."""
    server_sets = [name for name in ("agency_code", "payer_name") if name in data]
    server_sets += sorted({f"items[].{name}" for item in data["items"] for name in ("name", "unit", "unit_price_fen")
                           if name in item})
    catalogue = fee_catalogue()
    items = [catalogue.get(i["code"]) for i in data["items"]]
    unknown = [i["code"] for i, found in zip(data["items"], items) if found is None]
    if server_sets or unknown:
        raise ApiError(403, "not_self_service",
                       "Citizens create notices only for the self-service items of the fee catalogue: send item codes "
                       "and quantities; the agency, names, prices and payer are set by the server. Other notices are "
                       "issued by a clerk or the department.",
                       {"server_sets": server_sets or ["agency_code", "payer_name", "items[].name", "items[].unit",
                                                       "items[].unit_price_fen"],
                        "unknown_items": unknown, "self_service_items": catalogue.codes()})
    own = _own_keys(principal)
    payer = (data.get("payer_key") or "").strip().upper() or (own[0] if own else "")
    if not payer or payer not in own:
        raise ApiError(403, "forbidden", "You may create payment notices only for yourself or your enterprise.")
    creator = "person" if payer == principal.resident_id else "enterprise"
    not_for_you = [item.code for item in items if creator not in item.creators]
    if not_for_you:
        raise ApiError(403, "not_self_service", f"These items are not self-service for a {creator} payer: "
                       f"{', '.join(not_for_you)}.", {"server_sets": [], "unknown_items": not_for_you,
                                                      "self_service_items": catalogue.codes()})
    agencies = {item.agency_code for item in items}
    if len(agencies) > 1:
        raise ApiError(422, "one_agency_per_notice", "One notice collects for one agency: create one notice per agency.",
                       {"agencies": sorted(agencies)})
    return NoticeRequest(
        agency_code=agencies.pop(), payer_key=payer, payer_name=_payer_name(principal, payer),
        items=tuple(Item(item.code, item.name, item.unit, item.price_fen, i["quantity"])
                    for item, i in zip(items, data["items"])),
        case_id=data.get("case_id"), due_at=data.get("due_at"), platform=data.get("platform"))


def _payer_name(principal, payer: str) -> str:
    """The caller's name from the token (a person: family + given name; an enterprise: its name)."""
    claims = principal.claims
    if payer == principal.enterprise_uscc:
        name = _organization_name(claims.get("organization"), payer)
        if name:
            return name
    name = f"{claims.get('family_name') or ''}{claims.get('given_name') or ''}".strip() or claims.get("name")
    if not name:
        raise ApiError(422, "payer_name_unknown", "Your account has no name to put on the notice; complete your "
                       "profile (real-name verification) first.")
    return str(name)[:100]


def _organization_name(claim, uscc: str) -> str | None:
    if isinstance(claim, dict):
        for alias, data in claim.items():
            if isinstance(data, dict) and (alias == uscc or uscc in (data.get("uscc") or [])):
                names = data.get("name")
                return (names[0] if isinstance(names, list) and names else names) or None
    return None


@blp.get("")
@blp.arguments(ListArgsSchema, location="query")
@blp.response(200, NoticeListSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def list_notices(args):
    """The caller's own notices: as a person (resident ID number) and for their enterprise (USCC)."""
    notices = _service().notices_of(_own_keys(current_principal()), limit=args["limit"], offset=args["offset"])
    return {"notices": [render(n) for n in notices]}


@blp.get("/<notice_id>")
@blp.response(200, NoticeSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def get_notice(notice_id):
    """A notice's status, its history (every transition) and its refunds."""
    notice = _readable_notice(notice_id)
    return render(notice, history=_service().history(notice.id), refunds=_service().refunds_of(notice.id))


@blp.post("/<notice_id>/refunds")
@blp.arguments(RefundRequestSchema)
@blp.response(201, RefundResultSchema)
@blp.alt_response(200, schema=RefundResultSchema, description="a retry with the same refund_request_id (replayed)")
@blp.alt_response(202, schema=RefundResultSchema, description="the platform has not finished the refund yet")
@blp.alt_response(409, description="refund_not_allowed / refund_exceeds_refundable / refund_request_id_reused")
@blp.alt_response(502, response="BAD_GATEWAY", description="refund_failed: the platform refused the refund")
@blp.doc(security=[{"bearer": []}])
@require_token(roles=REFUND_ROLES)
def refund_notice(data, notice_id):
    """Refund part or all of a paid notice (finance or clerk staff); idempotent on refund_request_id."""
    principal = current_principal()
    notice = _readable_notice(notice_id)
    try:
        refund, replayed = _service().refund(notice.id, refund_request_id=data["refund_request_id"],
                                             amount_fen=data["amount_fen"], reason=data.get("reason"),
                                             actor=principal.subject)
    except PaymentError as exc:
        raise _refused(exc) from None
    if refund.status == "failed" and not replayed:
        raise ApiError(502, "refund_failed", f"The platform refused the refund: {refund.failure}",
                       {"refund_request_id": refund.refund_request_id})
    body = {"refund": _render_refund(refund), "notice": render(_service().get(notice.id))}
    status = 200 if replayed else (202 if refund.status == "pending" else 201)
    return body, status


@blp.post("/<notice_id>/close")
@blp.arguments(CloseRequestSchema)
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
    try:
        closed = _service().close_notice(notice.id, actor=_creator_id(principal), reason=data.get("reason"))
    except PaymentError as exc:
        raise _refused(exc) from None
    return render(closed, history=_service().history(closed.id), refunds=_service().refunds_of(closed.id))


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
    try:
        receipt = _service().receipt(notice.id)
    except PaymentError as exc:
        raise _refused(exc) from None
    if receipt is None:
        raise ApiError(404, "receipt_not_issued", "The platform has not issued the e-receipt yet; try again later.",
                       headers={"Retry-After": "60"})
    return {"notice_id": notice.id, "ebill_code": receipt.ebill_code, "ebill_no": receipt.ebill_no,
            "check_code": receipt.check_code, "issue_date": receipt.issue_date.isoformat(),
            "download_url": receipt.download_url}
