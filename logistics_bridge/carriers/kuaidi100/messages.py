"""Kuaidi100 request builders and reply/push parsers, both sides. Pure.

Query (poll/query.do): form ``customer, sign, param``; reply ``{"message": "ok",
"state": "3", "nu", "com", "data": [{time, ftime, context, status, statusCode,
areaName}]}`` or ``{"result": false, "returnCode": "400", "message"}`` (``500``: no
scans yet, an empty trace).
Subscribe (poll): form ``schema=json, param={company, number, key, parameters:
{callbackurl, salt, resultv2, phone}}``; reply ``{"result": true, "returnCode": "200"}``.
Push: form ``param`` (JSON with ``status`` and ``lastResult``) and ``sign``; answered
``{"result": true, "returnCode": "200", "message": "成功"}``.

Item status: the item's advanced ``statusCode`` if present, else its ``status`` name,
else (newest item only) the reply's ``state``; anything else is ``unknown``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from logistics_bridge.carriers.kuaidi100 import units
from logistics_bridge.carriers.kuaidi100.sign import callback_sign, query_sign, verify_callback
from logistics_bridge.errors import CarrierError, SignatureError
from logistics_bridge.tracking import Status, TrackingEvent, derive_event_id, is_signed_by_other
from logistics_bridge.wire import parse_beijing

SOURCE = units.SOURCE


def _dumps(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def company_code(carrier: str) -> str:
    """Our carrier code (``sf``, ``ems``) as Kuaidi100's company code."""
    try:
        return units.COMPANY[carrier]
    except KeyError:
        raise CarrierError(
            "unknown_carrier", f"Kuaidi100 has no company code for {carrier!r}", SOURCE
        ) from None


def query_form(
    *, company: str, number: str, customer: str, key: str, phone: str | None = None
) -> dict[str, str]:
    """Signed form of a real-time query; SF waybills need a phone of either party."""
    param: dict[str, str] = {"com": company, "num": number, "resultv2": units.RESULT_V2_ADVANCED}
    if phone:
        param["phone"] = phone
    text = _dumps(param)
    return {"customer": customer, "sign": query_sign(text, key, customer), "param": text}


def subscribe_form(
    *, company: str, number: str, key: str, callback_url: str, salt: str, phone: str | None = None
) -> dict[str, str]:
    """Form of a subscription (poll API): Kuaidi100 pushes every change to ``callback_url``."""
    parameters: dict[str, str] = {
        "callbackurl": callback_url,
        "salt": salt,
        "resultv2": units.RESULT_V2_ADVANCED,
    }
    if phone:
        parameters["phone"] = phone
    param = {"company": company, "number": number, "key": key, "parameters": parameters}
    return {"schema": "json", "param": _dumps(param)}


def parse_subscribe_reply(body: str | bytes) -> None:
    """Accept ``200`` (subscribed) and ``501`` (already subscribed); raise otherwise."""
    reply = _json_object(body, "subscribe reply")
    code = str(reply.get("returnCode", ""))
    if code not in units.SUBSCRIBE_OK:
        message = str(reply.get("message") or "no message")
        raise CarrierError(
            "rejected", f"Kuaidi100 subscription refused ({code}): {message}", SOURCE, carrier_code=code
        )


def _json_object(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise CarrierError("bad_reply", f"{what} is not JSON", SOURCE) from None
    if not isinstance(value, dict):
        raise CarrierError("bad_reply", f"{what} is not a JSON object", SOURCE)
    return value


def _item_status(item: Mapping[str, Any], fallback_state: str | None) -> tuple[Status, str]:
    code = str(item.get("statusCode") or "").strip()
    if code in units.STATE_STATUS:
        return units.STATE_STATUS[code], code
    name = str(item.get("status") or "").strip()
    if name in units.NAME_STATUS:
        return units.NAME_STATUS[name], code or name
    if fallback_state is not None and fallback_state in units.STATE_STATUS:
        return units.STATE_STATUS[fallback_state], fallback_state
    return Status.UNKNOWN, code or name


def parse_result(result: Mapping[str, Any]) -> list[TrackingEvent]:
    """Events from a query reply or a push's ``lastResult`` (newest item first on the wire)."""
    number = str(result.get("nu") or "")
    state = str(result.get("state") or "").strip() or None
    items = result.get("data") or []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise CarrierError("bad_reply", "data is not a list of trace items", SOURCE)
    times = [str(item.get("ftime") or item.get("time") or "") for item in items]
    newest = max(range(len(items)), key=times.__getitem__, default=None)
    events = []
    for index, (item, when) in enumerate(zip(items, times)):
        status, raw = _item_status(item, state if index == newest else None)
        context = str(item.get("context") or "")
        try:
            occurred_at = parse_beijing(when)
        except ValueError:
            raise CarrierError("bad_reply", f"bad ftime {when!r}", SOURCE) from None
        events.append(
            TrackingEvent(
                carrier=SOURCE,
                waybill=number,
                event_id=derive_event_id(number, when, context),
                status=status,
                raw_code=raw,
                occurred_at=occurred_at,
                location=str(item.get("areaName") or item.get("location") or ""),
                description=context,
                signed_by_other=status is Status.DELIVERED
                and (raw in units.SIGNED_BY_OTHER or is_signed_by_other(context)),
            )
        )
    return events


def parse_query_reply(body: str | bytes) -> list[TrackingEvent]:
    """Events from a real-time query reply; raises CarrierError when Kuaidi100 refuses."""
    reply = _json_object(body, "query reply")
    if reply.get("result") is False and str(reply.get("returnCode", "")) == units.QUERY_NO_RESULT:
        return []  # nothing scanned yet
    if reply.get("result") is False or "data" not in reply:
        code = str(reply.get("returnCode", ""))
        message = str(reply.get("message") or "no message")
        raise CarrierError(
            "rejected", f"Kuaidi100 query refused ({code}): {message}", SOURCE, carrier_code=code or None
        )
    return parse_result(reply)


@dataclass(frozen=True)
class Callback:
    """A verified push: monitoring status (polling, shutdown, abort, updateall) and events."""

    monitor_status: str
    message: str
    events: tuple[TrackingEvent, ...]


def callback_reply(ok: bool = True) -> bytes:
    """The push reply: ``result: true`` takes it; false makes Kuaidi100 resend."""
    return json.dumps(units.CALLBACK_OK if ok else units.CALLBACK_FAIL, ensure_ascii=False).encode("utf-8")


def parse_callback(body: bytes, salt: str) -> Callback:
    """Verify (constant time) and parse a push form body ``param=...&sign=...``."""
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise CarrierError("bad_push", "push body is not UTF-8", SOURCE) from None
    param, sign = fields.get("param"), fields.get("sign")
    if not param or not sign:
        raise SignatureError("push without param or sign", carrier=SOURCE, code="malformed")
    verify_callback(param, sign, salt)
    payload = _json_object(param, "push param")
    last = payload.get("lastResult") or {}
    if not isinstance(last, dict):
        raise CarrierError("bad_push", "lastResult is not a JSON object", SOURCE)
    return Callback(
        monitor_status=str(payload.get("status") or ""),
        message=str(payload.get("message") or ""),
        events=tuple(parse_result(last)) if last else (),
    )


def make_callback(
    last_result: Mapping[str, Any], salt: str, *, status: str = "polling", message: str = ""
) -> dict[str, str]:
    """Build a push form (the simulator's side): ``{"param": ..., "sign": ...}``."""
    param = _dumps({"status": status, "message": message, "lastResult": dict(last_result)})
    return {"param": param, "sign": callback_sign(param, salt)}


def make_result(number: str, company: str, state: str, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Build a query reply / lastResult (the simulator's side), newest item first."""
    return {
        "message": "ok", "nu": number, "com": company, "state": state, "status": "200", "data": list(items)
    }
