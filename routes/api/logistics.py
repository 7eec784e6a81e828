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
from marshmallow import Schema, fields, post_dump, validate

from kernel.clock import to_beijing
from logistics_bridge.domain import CARRIERS, LEG_KINDS, MAX_WEIGHT_G, MIN_WEIGHT_G
from logistics_bridge.legs import LegRequest
from logistics_bridge.reads import leg_view
from routes.auth import current_principal, require_token
from routes.cases import claim_case_or_refuse
from routes.errors import ApiError

blp = Blueprint("logistics", __name__, url_prefix="/api/v1/logistics",
                description="Courier delivery of materials and results (寄递): legs, waybills, tracking")

STAFF_ROLES = frozenset({"clerk", "operator"})
CREATOR_ROLES = frozenset({"clerk"})
BILL_ROLES = ("finance", "operator")


class BeijingTime(fields.DateTime):
    """An aware time, answered in Beijing time (`+08:00`)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return to_beijing(value).isoformat() if value is not None else None


class AddressSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 30))
    phone = fields.String(required=True, validate=validate.Length(5, 30))
    province = fields.String(required=True, validate=validate.Length(1, 30))
    city = fields.String(load_default="", validate=validate.Length(0, 30))
    district = fields.String(required=True, validate=validate.Length(1, 30))
    detail = fields.String(required=True, validate=validate.Length(1, 120))


class QuoteRequestSchema(Schema):
    carrier = fields.String(required=True, validate=validate.OneOf(CARRIERS))
    weight_g = fields.Integer(strict=True, validate=validate.Range(MIN_WEIGHT_G, MAX_WEIGHT_G))


class QuoteSchema(Schema):
    carrier = fields.String()
    weight_g = fields.Integer()
    postage_fen = fields.Integer(metadata={"description": "postage in fen (分)"})


class LegCreateSchema(Schema):
    case_id = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.:-]{1,64}$"))
    service_code = fields.String(required=True, validate=validate.Length(1, 64), metadata={"description": "事项编码"})
    kind = fields.String(required=True, validate=validate.OneOf(LEG_KINDS),
                         metadata={"description": "materials: applicant -> centre; results: centre -> applicant"})
    carrier = fields.String(required=True, validate=validate.OneOf(CARRIERS))
    address = fields.Nested(AddressSchema, required=True,
                            metadata={"description": "the applicant's address (sender of materials, recipient of results)"})
    applicant_key = fields.String(metadata={"description": "resident ID number or USCC; staff and service accounts only"})
    weight_g = fields.Integer(strict=True, validate=validate.Range(MIN_WEIGHT_G, MAX_WEIGHT_G))
    platform = fields.String(validate=validate.OneOf(["nontax", "wechatpay"]))


class TrackingEventSchema(Schema):
    status = fields.String(metadata={"description": "normalised: created, picked_up, in_transit, out_for_delivery, "
                                                    "ready_for_pickup, delivered, delivery_failed, refused, "
                                                    "return_to_sender, cancelled, unknown"})
    raw_code = fields.String(metadata={"description": "the carrier's own code"})
    source = fields.String()
    occurred_at = BeijingTime()
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
    """A leg as `logistics_bridge.reads.LegView` holds it (phones masked)."""

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
    created_at = BeijingTime()
    booked_at = BeijingTime(allow_none=True)
    closed_at = BeijingTime(allow_none=True)
    picked_up_verified_at = BeijingTime(allow_none=True)
    pickup_code = fields.String(metadata={"description": "only in the answer that creates the leg: give it to the "
                                                        "recipient; it is not kept and cannot be shown again"})
    tracking = fields.List(fields.Nested(TrackingEventSchema))

    @post_dump
    def _only_when_given(self, data, **_kwargs):
        for key in ("pickup_code", "tracking"):  # not part of every answer
            if data.get(key) is None:
                data.pop(key, None)
        return data


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


class BillLineSchema(Schema):
    line_no = fields.Integer()
    waybill_no = fields.String()
    fee_fen = fields.Integer()
    surcharge_fen = fields.Integer()
    total_fen = fields.Integer()
    weight_g = fields.Integer(allow_none=True)
    billed_at = BeijingTime(allow_none=True)
    status = fields.String()


class BillSchema(Schema):
    """A bill as `logistics_bridge.courier_bills.ImportedBill` holds it."""

    id = fields.Integer(attribute="bill.id")
    carrier = fields.String(attribute="bill.carrier")
    period = fields.String(attribute="bill.period")
    sha256 = fields.String(attribute="bill.sha256")
    line_count = fields.Integer(attribute="bill.line_count")
    created = fields.Boolean()
    lines = fields.List(fields.Nested(BillLineSchema))


def _logistics():
    return current_app.extensions["govlink"].logistics


def _own_keys(principal) -> list[str]:
    return [k for k in (principal.resident_id, principal.enterprise_uscc) if k]


def _actor(principal) -> str:
    return principal.caller if principal.is_service_account else principal.subject


def _is_staff(principal) -> bool:
    return bool(principal.roles & STAFF_ROLES)


def _readable(principal, leg, shipment) -> bool:
    return (_is_staff(principal) or shipment.applicant_key in _own_keys(principal)
            or shipment.applicant_subject == principal.subject or leg.created_by == _actor(principal))


def _readable_leg(leg_id: str):
    leg, shipment = _logistics().reads.get_leg(leg_id) if len(leg_id) <= 36 else (None, None)
    if leg is None or not _readable(current_principal(), leg, shipment):
        raise ApiError(404, "not_found", "No delivery leg with this id is visible to you.")
    return leg, shipment


@blp.post("/quote")
@blp.arguments(QuoteRequestSchema())
@blp.response(200, QuoteSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def quote(data):
    """The postage of a parcel with a carrier (fen)."""
    weight, postage = _logistics().orders.quote(data["carrier"], data.get("weight_g"))
    return {"carrier": data["carrier"], "weight_g": weight, "postage_fen": postage}


@blp.post("/legs")
@blp.arguments(LegCreateSchema())
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
    created = _logistics().orders.create_leg(request, actor=_actor(principal),
                                             applicant_subject=None if may_act_for_others else principal.subject)
    view = leg_view(created.leg, created.shipment, notice=created.notice, tracking=[], pickup_code=created.pickup_code)
    return view, 201, {"Location": f"/api/v1/logistics/legs/{created.leg.id}", "Cache-Control": "no-store"}


@blp.get("/legs")
@blp.arguments(ListArgsSchema(), location="query")
@blp.response(200, LegListSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def list_legs(args):
    """The caller's legs (as applicant, or made by the caller); staff (clerk, operator) see every leg."""
    principal = current_principal()
    mine = None if _is_staff(principal) else _own_keys(principal)
    return {"legs": _logistics().reads.list_views(applicant_keys=mine, subject=principal.subject,
                                                  creator=_actor(principal), case_id=args.get("case_id"),
                                                  limit=args["limit"], offset=args["offset"])}


@blp.get("/legs/<leg_id>")
@blp.response(200, LegSchema)
@blp.doc(security=[{"bearer": []}])
@require_token()
def get_leg(leg_id):
    """A leg with its waybill number, postage notice and tracking history."""
    return _logistics().reads.full_view(*_readable_leg(leg_id))


@blp.post("/legs/<leg_id>/cancel")
@blp.arguments(CancelSchema())
@blp.response(200, LegSchema)
@blp.alt_response(409, description="already_picked_up / carrier_cancel_refused")
@blp.doc(security=[{"bearer": []}])
@require_token()
def cancel_leg(data, leg_id):
    """Cancel a leg before pickup: cancelled at the carrier, an unpaid postage notice closed, paid postage
    refunded."""
    leg, shipment = _readable_leg(leg_id)
    logistics = _logistics()
    leg = logistics.cancelling.cancel_leg(leg.id, actor=_actor(current_principal()), reason=data.get("reason"))
    return logistics.reads.full_view(leg, shipment)


@blp.post("/legs/<leg_id>/pickup")
@blp.arguments(PickupSchema())
@blp.response(200, PickupResultSchema)
@blp.doc(security=[{"bearer": []}])
@require_token(roles=tuple(STAFF_ROLES))
def verify_pickup(data, leg_id):
    """Check the recipient's pickup verification code at the handover (staff)."""
    leg, _shipment = _readable_leg(leg_id)
    return _logistics().pickups.hand_over(leg.id, data["code"], actor=_actor(current_principal()))


@blp.post("/bills")
@blp.arguments(BillImportSchema())
@blp.response(201, BillSchema)
@blp.doc(security=[{"bearer": []}])
@require_token(roles=BILL_ROLES)
def import_bill(data):
    """Import a carrier's monthly bill (kept unchanged with its SHA-256) and answer its lines."""
    imported = _logistics().bills.imported(data["carrier"], data["period"])
    return imported, 201 if imported.created else 200
