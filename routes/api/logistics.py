"""Courier delivery of a case (flow 5, R6, R7, R13): quote and create legs, follow them, cancel them.

Who may do what:
- quote: anyone signed in;
- create a leg: the applicant for themselves (their resident ID number, or their enterprise's USCC),
  a service-hall clerk or a department service account for any applicant. The answer carries the
  pickup verification code once (only its hash is kept) and the postage notice to pay;
- read legs, their waybill numbers and tracking history: the applicant (resident ID number, USCC or
  the subject who created it) and staff with role `clerk` or `operator`; anyone else gets 404;
- cancel: whoever may read the leg, before the courier picks it up; an unpaid postage notice is closed
  (it can no longer be paid), paid postage is refunded;
- verify a pickup code, import a courier bill: staff.

Money is integer fen, weight integer grams; times are answered in Beijing time (`+08:00`); phones
are masked in every answer.
"""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from logistics_bridge.address import mask_phone
from logistics_bridge.errors import LogisticsError
from logistics_bridge.service import LegRequest, Refused
from kernel.clock import to_beijing
from payment_bridge.errors import PaymentError
from routes.auth import current_principal, require_token
from routes.cases import claim_case_or_refuse
from routes.errors import ApiError

blp = Blueprint("logistics", __name__, url_prefix="/api/v1/logistics",
                description="Courier delivery of materials and results (寄递): legs, waybills, tracking")

STAFF_ROLES = frozenset({"clerk", "operator"})
CREATOR_ROLES = frozenset({"clerk"})
BILL_ROLES = ("finance", "operator")
CARRIERS = ("sf", "ems")


class AddressSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 30))
    phone = fields.String(required=True, validate=validate.Length(5, 30))
    province = fields.String(required=True, validate=validate.Length(1, 30))
    city = fields.String(load_default="", validate=validate.Length(0, 30))
    district = fields.String(required=True, validate=validate.Length(1, 30))
    detail = fields.String(required=True, validate=validate.Length(1, 120))


class QuoteRequestSchema(Schema):
    carrier = fields.String(required=True, validate=validate.OneOf(CARRIERS))
    weight_g = fields.Integer(strict=True, validate=validate.Range(1, 30_000))


class QuoteSchema(Schema):
    carrier = fields.String()
    weight_g = fields.Integer()
    postage_fen = fields.Integer(metadata={"description": "postage in fen (分)"})


class LegCreateSchema(Schema):
    case_id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{1,64}$"))
    service_code = fields.String(required=True, validate=validate.Length(1, 64), metadata={"description": "事项编码"})
    kind = fields.String(required=True, validate=validate.OneOf(["materials", "results"]),
                         metadata={"description": "materials: applicant -> centre; results: centre -> applicant"})
    carrier = fields.String(required=True, validate=validate.OneOf(CARRIERS))
    address = fields.Nested(AddressSchema, required=True,
                            metadata={"description": "the applicant's address (sender of materials, recipient of results)"})
    applicant_key = fields.String(metadata={"description": "resident ID number or USCC; staff and service accounts only"})
    weight_g = fields.Integer(strict=True, validate=validate.Range(1, 30_000))
    platform = fields.String(validate=validate.OneOf(["nontax", "wechatpay"]))


class TrackingEventSchema(Schema):
    status = fields.String(metadata={"description": "normalised: created, picked_up, in_transit, out_for_delivery, "
                                                    "ready_for_pickup, delivered, delivery_failed, refused, "
                                                    "return_to_sender, cancelled, unknown"})
    raw_code = fields.String(metadata={"description": "the carrier's own code"})
    source = fields.String()
    occurred_at = fields.String()
    location = fields.String()
    description = fields.String()
    signed_by_other = fields.Boolean()
    moved_status = fields.Boolean(metadata={"description": "false: kept as history (late, duplicate scan or unknown)"})


class PostageSchema(Schema):
    notice_id = fields.String(allow_none=True)
    payment_code = fields.String(allow_none=True, metadata={"description": "缴款码"})
    pay_url = fields.String(allow_none=True)
    status = fields.String(allow_none=True)
    postage_fen = fields.Integer()


class LegSchema(Schema):
    id = fields.String()
    case_id = fields.String()
    service_code = fields.String()
    kind = fields.String()
    carrier = fields.String()
    state = fields.String(metadata={"description": "awaiting_payment | booked | booking_failed | cancelled | closed"})
    tracking_status = fields.String(allow_none=True)
    last_raw_code = fields.String(allow_none=True)
    signed_by_other = fields.Boolean()
    waybill_no = fields.String(allow_none=True, metadata={"description": "运单号"})
    weight_g = fields.Integer()
    sender = fields.Dict(metadata={"description": "phone masked"})
    recipient = fields.Dict(metadata={"description": "phone masked"})
    postage = fields.Nested(PostageSchema)
    error = fields.Dict(allow_none=True)
    created_at = fields.String()
    booked_at = fields.String(allow_none=True)
    closed_at = fields.String(allow_none=True)
    picked_up_verified_at = fields.String(allow_none=True)
    pickup_code = fields.String(metadata={"description": "only in the answer that creates the leg: give it to the "
                                                        "recipient; it is not kept and cannot be shown again"})
    tracking = fields.List(fields.Nested(TrackingEventSchema))


class LegListSchema(Schema):
    legs = fields.List(fields.Nested(LegSchema))


class ListArgsSchema(Schema):
    case_id = fields.String(validate=validate.Length(1, 64))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 100_000))


class CancelSchema(Schema):
    reason = fields.String(validate=validate.Length(1, 80))


class PickupSchema(Schema):
    code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{6}$"))


class PickupResultSchema(Schema):
    verified = fields.Boolean()


class BillImportSchema(Schema):
    carrier = fields.String(required=True, validate=validate.OneOf(CARRIERS))
    period = fields.String(required=True, validate=validate.Regexp(r"^20[0-9]{2}-(0[1-9]|1[0-2])$"))


class BillSchema(Schema):
    id = fields.Integer()
    carrier = fields.String()
    period = fields.String()
    sha256 = fields.String()
    line_count = fields.Integer()
    created = fields.Boolean()
    lines = fields.List(fields.Dict())


def _service():
    return current_app.extensions["govlink"].logistics


def _time(moment):
    return to_beijing(moment).isoformat() if moment is not None else None


def _own_keys(principal) -> list[str]:
    return [k for k in (principal.resident_id, principal.enterprise_uscc) if k]


def _actor(principal) -> str:
    return principal.caller if principal.is_service_account else principal.subject


def _is_staff(principal) -> bool:
    return bool(principal.roles & STAFF_ROLES)


def _readable(principal, leg, shipment) -> bool:
    return (_is_staff(principal) or shipment.applicant_key in _own_keys(principal)
            or shipment.applicant_subject == principal.subject or leg.created_by == _actor(principal))


def _refused(exc: Exception) -> ApiError:
    if isinstance(exc, Refused):
        return ApiError(exc.status, exc.code, exc.message, exc.details)
    if isinstance(exc, PaymentError):
        return ApiError(getattr(exc, "status", 502), exc.code, exc.message, getattr(exc, "details", None))
    if getattr(exc, "retryable", False):
        return ApiError(503, exc.code, f"The courier is not answering: {exc.message}", headers={"Retry-After": "30"})
    return ApiError(502, getattr(exc, "code", "carrier_error"), str(exc))


def _party(address: dict) -> dict:
    return {**address, "phone": mask_phone(address.get("phone", ""))}


def render(leg, shipment, *, tracking=None, notice=None, pickup_code=None) -> dict:
    out = {
        "id": leg.id, "case_id": shipment.case_id, "service_code": shipment.service_code, "kind": leg.kind,
        "carrier": leg.carrier, "state": leg.state, "tracking_status": leg.tracking_status,
        "last_raw_code": leg.last_raw_code, "signed_by_other": leg.signed_by_other, "waybill_no": leg.waybill_no,
        "weight_g": leg.weight_g, "sender": _party(leg.sender), "recipient": _party(leg.recipient),
        "postage": {"notice_id": leg.payment_notice_id, "postage_fen": leg.postage_fen,
                    "payment_code": getattr(notice, "payment_code", None), "pay_url": getattr(notice, "pay_url", None),
                    "status": getattr(notice, "status", None)},
        "error": {"code": leg.error_code, "message": leg.error_message} if leg.error_code else None,
        "created_at": _time(leg.created_at), "booked_at": _time(leg.booked_at), "closed_at": _time(leg.closed_at),
        "picked_up_verified_at": _time(leg.picked_up_verified_at),
    }
    if tracking is not None:
        out["tracking"] = [{"status": e.status, "raw_code": e.raw_code, "source": e.source,
                            "occurred_at": _time(e.occurred_at), "location": e.location, "description": e.description,
                            "signed_by_other": e.signed_by_other, "moved_status": e.moved_status} for e in tracking]
    if pickup_code is not None:
        out["pickup_code"] = pickup_code
    return out


def _readable_leg(leg_id: str):
    leg, shipment = _service().get_leg(leg_id) if len(leg_id) <= 36 else (None, None)
    if leg is None or not _readable(current_principal(), leg, shipment):
        raise ApiError(404, "not_found", "No delivery leg with this id is visible to you.")
    return leg, shipment


def _full(leg, shipment, **extra) -> dict:
    service = _service()
    notice = service.payments.get(leg.payment_notice_id) if leg.payment_notice_id else None
    return render(leg, shipment, tracking=service.tracking_of(leg.id), notice=notice, **extra)


@blp.post("/quote")
@blp.arguments(QuoteRequestSchema)
@blp.response(200, QuoteSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def quote(data):
    """The postage of a parcel with a carrier (fen)."""
    try:
        weight, postage = _service().quote(data["carrier"], data.get("weight_g"))
    except LogisticsError as exc:
        raise _refused(exc) from None
    return {"carrier": data["carrier"], "weight_g": weight, "postage_fen": postage}


@blp.post("/legs")
@blp.arguments(LegCreateSchema)
@blp.response(201, LegSchema)
@blp.alt_response(404, response="NOT_FOUND", description="case_not_found: the case_id is someone else's")
@blp.alt_response(409, description="leg_exists: the case already has a live leg of this kind")
@blp.doc(security=[{"bearer": []}])
@require_token()
def create_leg(data):
    """Create a leg of a case and its postage notice; the leg is booked with the carrier once postage is paid."""
    principal = current_principal()
    own = _own_keys(principal)
    may_act_for_others = bool(principal.roles & CREATOR_ROLES) or principal.is_service_account
    applicant = (data.get("applicant_key") or "").strip().upper() or (own[0] if own else "")
    if not applicant:
        raise ApiError(422, "applicant_key_required", "Name the applicant: applicant_key (resident ID number or USCC).")
    if not (may_act_for_others or applicant in own):
        raise ApiError(403, "forbidden", "You may arrange deliveries only for yourself or your enterprise.")
    with current_app.extensions["govlink"].db.unit_of_work() as session:  # the case is the caller's, or new
        claim_case_or_refuse(session, data["case_id"], principal, applicant_key=applicant)
    request = LegRequest(case_id=data["case_id"], service_code=data["service_code"], kind=data["kind"],
                         carrier=data["carrier"], address=data["address"], applicant_key=applicant,
                         weight_g=data.get("weight_g"), platform=data.get("platform"))
    try:
        created = _service().create_leg(request, actor=_actor(principal),
                                        applicant_subject=None if may_act_for_others else principal.subject)
    except (LogisticsError, PaymentError) as exc:
        raise _refused(exc) from None
    body = render(created.leg, created.shipment, tracking=[], notice=created.notice, pickup_code=created.pickup_code)
    return body, 201, {"Location": f"/api/v1/logistics/legs/{created.leg.id}", "Cache-Control": "no-store"}


@blp.get("/legs")
@blp.arguments(ListArgsSchema, location="query")
@blp.response(200, LegListSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def list_legs(args):
    """The caller's legs (as applicant, or made by the caller); staff (clerk, operator) see every leg."""
    principal = current_principal()
    mine = None if _is_staff(principal) else _own_keys(principal)
    rows = _service().legs(applicant_keys=mine, subject=principal.subject, creator=_actor(principal),
                           case_id=args.get("case_id"), limit=args["limit"], offset=args["offset"])
    return {"legs": [render(leg, shipment) for leg, shipment in rows]}


@blp.get("/legs/<leg_id>")
@blp.response(200, LegSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def get_leg(leg_id):
    """A leg with its waybill number, postage notice and tracking history."""
    leg, shipment = _readable_leg(leg_id)
    return _full(leg, shipment)


@blp.post("/legs/<leg_id>/cancel")
@blp.arguments(CancelSchema)
@blp.response(200, LegSchema)
@blp.alt_response(409, description="already_picked_up / carrier_cancel_refused")
@blp.doc(security=[{"bearer": []}])
@require_token()
def cancel_leg(data, leg_id):
    """Cancel a leg before pickup: cancelled at the carrier, an unpaid postage notice closed, paid postage
    refunded."""
    principal = current_principal()
    leg, shipment = _readable_leg(leg_id)
    try:
        leg = _service().cancel_leg(leg.id, actor=_actor(principal), reason=data.get("reason"))
    except (LogisticsError, PaymentError) as exc:
        raise _refused(exc) from None
    return _full(leg, shipment)


@blp.post("/legs/<leg_id>/pickup")
@blp.arguments(PickupSchema)
@blp.response(200, PickupResultSchema)
@blp.doc(security=[{"bearer": []}])
@require_token(roles=tuple(STAFF_ROLES))
def verify_pickup(data, leg_id):
    """Check the recipient's pickup verification code at the handover (staff)."""
    leg, _shipment = _readable_leg(leg_id)
    try:
        verified = _service().verify_pickup(leg.id, data["code"], actor=_actor(current_principal()))
    except LogisticsError as exc:
        raise _refused(exc) from None
    if not verified:
        raise ApiError(422, "wrong_pickup_code", "The pickup code does not match.")
    return {"verified": True}


@blp.post("/bills")
@blp.arguments(BillImportSchema)
@blp.response(201, BillSchema)
@blp.doc(security=[{"bearer": []}])
@require_token(roles=BILL_ROLES)
def import_bill(data):
    """Import a carrier's monthly bill (kept unchanged with its SHA-256) and answer its lines."""
    service = _service()
    try:
        bill, created = service.import_bill(data["carrier"], data["period"])
    except LogisticsError as exc:
        raise _refused(exc) from None
    lines = [{"line_no": line.line_no, "waybill_no": line.waybill_no, "fee_fen": line.fee_fen,
              "surcharge_fen": line.surcharge_fen, "total_fen": line.total_fen, "weight_g": line.weight_g,
              "billed_at": _time(line.billed_at), "status": line.status} for line in service.bill_lines(bill.id)]
    return {"id": bill.id, "carrier": bill.carrier, "period": bill.period, "sha256": bill.sha256,
            "line_count": bill.line_count, "created": created, "lines": lines}, 201 if created else 200
