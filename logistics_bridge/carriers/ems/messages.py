"""EMS request builders and reply parsers, both sides. Pure.

Request: form fields ``senderNo, apiCode, authorization, msgType, timeStamp, version,
logitcsInterface`` (the sealed JSON payload). Reply: ``{"serialNo", "retCode": "00000",
"retMsg", "retBody"}`` where retBody may be a JSON string. Trace items carry
``waybillNo, opTime, opCode, opName, opDesc, opOrgProvName, opOrgCity, opOrgName``.
Push: ``logitcsInterface`` (one sealed trace item) and ``serialNo``, answered
``{"serialNo", "code": "00000", "codeMessage", "senderNo"}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from logistics_bridge.address import Address
from logistics_bridge.carriers.base import PushResult, ShipmentRequest, Waybill
from logistics_bridge.carriers.ems import units
from logistics_bridge.carriers.ems.crypto import open_sealed, seal
from logistics_bridge.errors import CarrierError, SignatureError
from logistics_bridge.tracking import Status, TrackingEvent, derive_event_id, is_signed_by_other
from logistics_bridge.wire import format_beijing, loads, parse_beijing

CARRIER = units.CARRIER
FORM_FIELDS = ("senderNo", "apiCode", "authorization", "timeStamp", "logitcsInterface")


def _bad_reply(message: str) -> CarrierError:
    return CarrierError("bad_reply", message, CARRIER)


def _party(address: Address) -> dict[str, str]:
    return {
        "name": address.name,
        "mobile" if "-" not in address.phone else "phone": address.phone,
        "prov": address.province,
        "city": address.city,
        "county": address.district,
        "address": address.detail,
    }


def create_order_payload(
    request: ShipmentRequest, *, sender_no: str, biz_product_no: str, contents_attribute: str, now: datetime
) -> dict[str, Any]:
    """Payload of apiCode 020003 (create order); ``weight`` is in grams."""
    return {
        "createdTime": format_beijing(now),
        "logisticsOrderNo": request.leg_id,
        "senderNo": sender_no,
        "bizProductNo": biz_product_no,
        "contentsAttribute": contents_attribute,
        "weight": request.weight_g,
        "remarks": request.remark,
        "sender": _party(request.sender),
        "receiver": _party(request.recipient),
        "cargos": [{"cargoName": item.name, "cargoQuantity": item.quantity} for item in request.items]
        or [{"cargoName": "文件", "cargoQuantity": 1}],
    }


def cancel_order_payload(leg_id: str, waybill_no: str, reason: str = "用户取消") -> dict[str, str]:
    """Payload of apiCode 020006 (cancel order)."""
    return {"logisticsOrderNo": leg_id, "waybillNo": waybill_no, "cancelReason": reason}


def track_payload(waybill_no: str) -> dict[str, str]:
    """Payload of apiCode 040001 (trace query)."""
    return {"waybillNo": waybill_no}


def build_form(
    api_code: str,
    payload: Mapping[str, Any],
    *,
    sender_no: str,
    authorization: str,
    sign_key: str,
    now: datetime,
) -> dict[str, str]:
    """The form fields of one EMS request, payload sealed with SM4."""
    return {
        "senderNo": sender_no,
        "apiCode": api_code,
        "authorization": authorization,
        "msgType": "0",
        "timeStamp": format_beijing(now),
        "version": "V1.0.0",
        "logitcsInterface": seal(json.dumps(payload, ensure_ascii=False, separators=(",", ":")), sign_key),
    }


def verify_form(
    form: Mapping[str, str], *, sign_key: str, authorization: str | None = None
) -> tuple[str, Any]:
    """Open an EMS request as EMS would (the simulator's side): returns (apiCode, payload).

    Raises :class:`SignatureError` (``malformed`` for missing fields or non-JSON,
    ``bad_signature`` for a wrong authorization or key).
    """
    missing = [name for name in FORM_FIELDS if not form.get(name)]
    if missing:
        raise SignatureError(f"missing form fields: {', '.join(missing)}", carrier=CARRIER, code="malformed")
    if authorization is not None and form["authorization"] != authorization:
        raise SignatureError("authorization code refused", carrier=CARRIER)
    text = open_sealed(form["logitcsInterface"], sign_key, require_sign_key=True)
    try:
        return form["apiCode"], json.loads(text)
    except ValueError:
        raise SignatureError("payload is not JSON", carrier=CARRIER, code="malformed") from None


def parse_reply(body: str | bytes) -> Any:
    """Unwrap an EMS reply and return retBody (parsed when it is a JSON string).

    Raises :class:`CarrierError` ``rejected`` for a non-00000 retCode, ``bad_reply`` for garbage.
    """
    try:
        envelope = loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _bad_reply("reply is not JSON") from None
    if not isinstance(envelope, dict):
        raise _bad_reply("reply is not a JSON object")
    ret_code = str(envelope.get("retCode", ""))
    if ret_code != units.RET_OK:
        message = str(envelope.get("retMsg") or "no message")
        raise CarrierError(
            "rejected", f"EMS error {ret_code}: {message}", CARRIER, carrier_code=ret_code or None
        )
    ret_body = envelope.get("retBody")
    if isinstance(ret_body, str) and ret_body.strip()[:1] in ("{", "["):
        try:
            ret_body = loads(ret_body)
        except ValueError:
            raise _bad_reply("retBody is not JSON") from None
    return ret_body


def make_reply(
    ret_body: Any = None, *, ret_code: str = units.RET_OK, ret_msg: str = "成功", serial_no: str = ""
) -> str:
    """Build an EMS reply (the simulator's side); retBody travels as a JSON string."""
    body = json.dumps(ret_body, ensure_ascii=False, default=str) if ret_body is not None else None
    return json.dumps(
        {"serialNo": serial_no, "retCode": ret_code, "retMsg": ret_msg, "retBody": body}, ensure_ascii=False
    )


def parse_create(ret_body: Any, leg_id: str) -> Waybill:
    """The waybill from a create-order retBody."""
    if not isinstance(ret_body, dict) or not ret_body.get("waybillNo"):
        raise _bad_reply("created order carries no waybillNo")
    return Waybill(waybill_no=str(ret_body["waybillNo"]), carrier=CARRIER, leg_id=leg_id)


def trace_event(item: Mapping[str, Any]) -> TrackingEvent:
    """One EMS trace item as a normalised event (id derived: EMS traces carry none)."""
    waybill = str(item.get("waybillNo") or item.get("traceNo") or "")
    op_code = str(item.get("opCode", ""))
    op_time = str(item.get("opTime", ""))
    op_name = str(item.get("opName") or "")
    op_desc = str(item.get("opDesc") or "")
    if not waybill:
        raise _bad_reply("trace item without waybillNo")
    try:
        occurred_at = parse_beijing(op_time)
    except ValueError:
        raise _bad_reply(f"bad opTime {op_time!r}") from None
    status = units.trace_status(op_code, op_name, op_desc)
    return TrackingEvent(
        carrier=CARRIER,
        waybill=waybill,
        event_id=derive_event_id(waybill, op_code, op_time),
        status=status,
        raw_code=op_code,
        occurred_at=occurred_at,
        location=str(item.get("opOrgCity") or item.get("opOrgName") or ""),
        description=op_desc or op_name,
        signed_by_other=status is Status.DELIVERED and is_signed_by_other(op_desc),
    )


def parse_trace(ret_body: Any) -> list[TrackingEvent]:
    """Events from a 040001 retBody (``{"responseItems": [...]}`` or a bare list)."""
    items = ret_body.get("responseItems") if isinstance(ret_body, dict) else ret_body
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise _bad_reply("trace retBody is not a list of items")
    return [trace_event(item) for item in items]


def _push_fields(body: bytes, content_type: str) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CarrierError("bad_push", "push body is not UTF-8", CARRIER) from None
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            fields = json.loads(text)
        except ValueError:
            raise CarrierError("bad_push", "push body is not JSON", CARRIER) from None
        if not isinstance(fields, dict):
            raise CarrierError("bad_push", "push body is not a JSON object", CARRIER)
        return {key: str(value) for key, value in fields.items() if value is not None}
    return dict(parse_qsl(text, keep_blank_values=True))


def push_reply(serial_no: str, sender_no: str, ok: bool = True, message: str = "") -> bytes:
    """The reply EMS expects for a push; a failure code makes EMS resend."""
    reply = {
        "serialNo": serial_no,
        "code": units.PUSH_OK_CODE if ok else units.PUSH_FAIL_CODE,
        "codeMessage": message,
        "senderNo": sender_no,
    }
    return json.dumps(reply, ensure_ascii=False).encode("utf-8")


def parse_push(body: bytes, content_type: str, *, sign_key: str, sender_no: str) -> PushResult:
    """Open and parse an EMS trace push (JSON or form). Raises SignatureError / CarrierError."""
    fields = _push_fields(body, content_type)
    sealed = fields.get("logitcsInterface")
    if not sealed:
        raise CarrierError("bad_push", "push without logitcsInterface", CARRIER)
    text = open_sealed(sealed, sign_key, require_sign_key=False)
    try:
        payload = json.loads(text)
    except ValueError:
        raise SignatureError("push payload is not JSON", carrier=CARRIER, code="malformed") from None
    items = payload if isinstance(payload, list) else [payload]
    if not all(isinstance(item, dict) for item in items):
        raise CarrierError("bad_push", "push item is not a trace item", CARRIER)
    try:
        events = tuple(trace_event(item) for item in items)
    except CarrierError as exc:
        raise CarrierError("bad_push", exc.message, CARRIER) from None
    reply = push_reply(fields.get("serialNo", ""), sender_no)
    return PushResult(events=events, reply=reply, trusted=False)


def make_push(
    items: Iterable[Mapping[str, Any]] | Mapping[str, Any], *, sign_key: str, serial_no: str
) -> bytes:
    """Build an EMS push body (the simulator's side): one item, or a list of items."""
    payload = dict(items) if isinstance(items, Mapping) else list(items)
    sealed = seal(json.dumps(payload, ensure_ascii=False), sign_key)
    return json.dumps({"serialNo": serial_no, "logitcsInterface": sealed}, ensure_ascii=False).encode("utf-8")
