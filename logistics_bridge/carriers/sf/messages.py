"""SF msgData builders and reply parsers. Pure: dicts and strings in, values out.

Reply envelope: ``{"apiResultCode": "A1000", "apiErrorMsg": "", "apiResultData": "<JSON>"}``
where apiResultData (a JSON *string*) holds ``success, errorCode, errorMsg, msgData``.
A1000 only means the gateway took the request; the business answer is inside.

The fee query reply (EXP_RECE_QUERY_SFWAYBILL) is modelled on SF's field names:
``waybillNo, consignedTime, meterageWeightQty`` (billed kg) and ``waybillFeeList``
(``type`` 1 = freight, other types = surcharges, ``value`` in yuan).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from logistics_bridge.address import Address
from logistics_bridge.carriers.base import BillLine, ShipmentRequest, Waybill
from logistics_bridge.carriers.sf import units
from logistics_bridge.errors import CarrierError
from logistics_bridge.tracking import Status, TrackingEvent, derive_event_id, is_signed_by_other
from logistics_bridge.wire import kg_to_grams, loads, money_to_fen, parse_beijing

CARRIER = units.CARRIER


def _bad_reply(message: str) -> CarrierError:
    return CarrierError("bad_reply", message, CARRIER)


def _contact(kind: int, address: Address) -> dict[str, Any]:
    return {
        "contactType": kind,
        "contact": address.name,
        "mobile" if "-" not in address.phone else "tel": address.phone,
        "country": "CN",
        "province": address.province,
        "city": address.city,
        "county": address.district,
        "address": address.detail,
    }


def create_order_msg(request: ShipmentRequest, *, monthly_card: str) -> dict[str, Any]:
    """msgData of EXP_RECE_CREATE_ORDER for one leg (寄方付 on the city's monthly account)."""
    try:
        express_type = units.EXPRESS_TYPE[request.service]
    except KeyError:
        raise CarrierError("unknown_service", f"SF has no service {request.service!r}", CARRIER) from None
    return {
        "language": "zh-CN",
        "orderId": request.leg_id,
        "monthlyCard": monthly_card,
        "expressTypeId": express_type,
        "payMethod": units.PAY_METHOD_SENDER,
        "parcelQty": 1,
        "totalWeight": request.weight_g / 1000,
        "remark": request.remark,
        "contactInfoList": [
            _contact(units.CONTACT_SENDER, request.sender),
            _contact(units.CONTACT_RECIPIENT, request.recipient),
        ],
        "cargoDetails": [
            {"name": item.name, "count": item.quantity, "amount": item.value_fen / 100, "currency": "CNY"}
            for item in request.items
        ]
        or [{"name": "文件", "count": 1}],
    }


def cancel_order_msg(leg_id: str, waybill_no: str) -> dict[str, Any]:
    """msgData of EXP_RECE_UPDATE_ORDER with dealType 2 (cancel)."""
    return {
        "language": "zh-CN",
        "orderId": leg_id,
        "dealType": units.DEAL_TYPE_CANCEL,
        "waybillNoInfoList": [{"waybillType": 1, "waybillNo": waybill_no}],
    }


def search_routes_msg(waybill_no: str, *, phone: str | None = None) -> dict[str, Any]:
    """msgData of EXP_RECE_SEARCH_ROUTES by waybill number (trackingType 1).

    ``language`` is SF's route-query code, not a locale: 0 中文, 1 English, 2 繁體 (the order
    services take ``zh-CN``).
    """
    msg: dict[str, Any] = {
        "language": units.ROUTE_LANGUAGE_ZH,
        "trackingType": 1,
        "trackingNumber": [waybill_no],
        "methodType": 1,
    }
    if phone:
        msg["checkPhoneNo"] = phone[-4:]  # SF checks the last four digits of either party's phone
    return msg


def query_waybill_msg(waybill_no: str) -> dict[str, Any]:
    """msgData of EXP_RECE_QUERY_SFWAYBILL (billed fees and weight) by waybill number."""
    return {"trackingType": "2", "trackingNum": waybill_no}


def parse_reply(body: str | bytes) -> dict[str, Any]:
    """Unwrap an SF reply and return its msgData (``{}`` when empty).

    Raises :class:`CarrierError`: ``bad_digest`` for A1006, ``gateway_rejected`` for
    other gateway codes (retryable for rate limiting and outages), ``duplicate_order``
    for 8016, ``rejected`` for other business errors, ``bad_reply`` for garbage.
    """
    try:
        envelope = loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _bad_reply("reply is not JSON") from None
    if not isinstance(envelope, dict):
        raise _bad_reply("reply is not a JSON object")
    api_code = str(envelope.get("apiResultCode", ""))
    if api_code == units.API_BAD_DIGEST:
        raise CarrierError(
            "bad_digest",
            "SF refused the digest (A1006): msgDigest did not match; "
            "check the check word and the URL encoding",
            CARRIER,
            carrier_code=api_code,
        )
    if api_code != units.API_OK:
        meaning = units.API_RESULT_CODES.get(api_code, "unknown gateway code")
        raise CarrierError(
            "gateway_rejected",
            f"SF gateway answered {api_code}: {meaning}",
            CARRIER,
            carrier_code=api_code or None,
            retryable=api_code in units.RETRYABLE_API_CODES,
        )
    data = envelope.get("apiResultData")
    if isinstance(data, (str, bytes)):
        try:
            data = loads(data)
        except ValueError:
            raise _bad_reply("apiResultData is not JSON") from None
    if not isinstance(data, dict):
        raise _bad_reply("apiResultData is not a JSON object")
    if data.get("success") is not True:
        error_code = str(data.get("errorCode") or "")
        error_msg = str(data.get("errorMsg") or "no message")
        code = "duplicate_order" if error_code == units.BIZ_DUPLICATE_ORDER else "rejected"
        raise CarrierError(
            code, f"SF error {error_code}: {error_msg}", CARRIER, carrier_code=error_code or None
        )
    msg_data = data.get("msgData") or {}
    if not isinstance(msg_data, dict):
        raise _bad_reply("msgData is not a JSON object")
    return msg_data


def make_reply(
    msg_data: Mapping[str, Any] | None = None,
    *,
    error_code: str = units.BIZ_OK,
    error_msg: str | None = None,
    api_result_code: str = units.API_OK,
) -> str:
    """Build an SF reply (the simulator's side); a non-S0000 ``error_code`` means failure."""
    success = error_code == units.BIZ_OK
    inner = {"success": success, "errorCode": error_code, "errorMsg": error_msg, "msgData": msg_data}
    api_ok = api_result_code == units.API_OK
    envelope = {
        "apiResultCode": api_result_code,
        "apiErrorMsg": "" if api_ok else units.API_RESULT_CODES.get(api_result_code, ""),
        "apiResultData": json.dumps(inner, ensure_ascii=False, default=str) if api_ok else None,
    }
    return json.dumps(envelope, ensure_ascii=False)


def parse_create(msg_data: Mapping[str, Any], leg_id: str) -> Waybill:
    """The waybill from a created order's msgData (the parent waybill, waybillType 1)."""
    if msg_data.get("filterResult") == units.FILTER_NOT_SERVICEABLE:
        raise CarrierError("not_serviceable", "SF cannot pick up or deliver at this address", CARRIER)
    for info in msg_data.get("waybillNoInfoList") or []:
        if isinstance(info, dict) and info.get("waybillNo") and info.get("waybillType", 1) == 1:
            return Waybill(waybill_no=str(info["waybillNo"]), carrier=CARRIER, leg_id=leg_id)
    raise _bad_reply("created order carries no waybill number")


def parse_cancel(msg_data: Mapping[str, Any]) -> None:
    """Check a cancel reply: ``resStatus`` 2 means cancelled."""
    if msg_data.get("resStatus") != 2:
        raise CarrierError(
            "cancel_refused",
            "SF did not cancel the order (already picked up, or order and waybill do not match)",
            CARRIER,
            carrier_code=str(msg_data.get("resStatus")),
        )


def route_event(
    waybill: str, op_code: str, accept_time: str, accept_address: str = "", remark: str = ""
) -> TrackingEvent:
    """One SF route (from a query or a push) as a normalised event.

    The id is derived from waybill, opCode and acceptTime because route queries carry
    no id: the same scan from push and from poll must dedupe to one event.
    """
    status = units.route_status(str(op_code), remark or "")
    try:
        occurred_at = parse_beijing(accept_time)
    except ValueError:
        raise _bad_reply(f"bad acceptTime {accept_time!r}") from None
    return TrackingEvent(
        carrier=CARRIER,
        waybill=waybill,
        event_id=derive_event_id(waybill, str(op_code), accept_time),
        status=status,
        raw_code=str(op_code),
        occurred_at=occurred_at,
        location=accept_address or "",
        description=remark or "",
        signed_by_other=status is Status.DELIVERED and is_signed_by_other(remark or ""),
    )


def parse_routes(msg_data: Mapping[str, Any]) -> list[TrackingEvent]:
    """Events from an EXP_RECE_SEARCH_ROUTES msgData (``routeResps[].routes[]``)."""
    events = []
    for resp in msg_data.get("routeResps") or []:
        waybill = str(resp.get("mailNo", ""))
        for route in resp.get("routes") or []:
            events.append(
                route_event(
                    waybill,
                    str(route.get("opCode", "")),
                    str(route.get("acceptTime", "")),
                    str(route.get("acceptAddress") or ""),
                    str(route.get("remark") or ""),
                )
            )
    return events


def parse_waybill_fees(msg_data: Mapping[str, Any]) -> BillLine:
    """An EXP_RECE_QUERY_SFWAYBILL msgData as a bill line (freight vs surcharges)."""
    try:
        freight = surcharge = 0
        for fee in msg_data.get("waybillFeeList") or []:
            fen = money_to_fen(fee.get("value", Decimal(0)))
            if str(fee.get("type")) == units.FEE_TYPE_FREIGHT:
                freight += fen
            else:
                surcharge += fen
        return BillLine(
            waybill_no=str(msg_data["waybillNo"]),
            carrier=CARRIER,
            fee_fen=freight,
            surcharge_fen=surcharge,
            weight_g=kg_to_grams(msg_data.get("meterageWeightQty", 0)),
            billed_at=parse_beijing(str(msg_data.get("consignedTime", ""))),
        )
    except (KeyError, ValueError, AttributeError) as exc:
        raise _bad_reply(f"fee reply unusable: {exc}") from None
