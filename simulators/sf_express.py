"""Stand-in for SF Express's open platform (顺丰开放平台), mounted at `/sf-express`.

- `POST /sf-express/std/service`: the signed form (`partnerID, requestID, serviceCode, timestamp,
  msgData, msgDigest`) checked exactly as SF's gateway does (a wrong digest gets `A1006`);
  `EXP_RECE_CREATE_ORDER` (8016 for an order id seen before), `EXP_RECE_UPDATE_ORDER` dealType 2
  (cancel; refused with resStatus 1 once picked up), `EXP_RECE_SEARCH_ROUTES` (checkPhoneNo = last
  four digits of either party's phone), `EXP_RECE_QUERY_SFWAYBILL` (billed fees and weight).
- Route pushes `{"Body":{"WaybillRoute":[...]}}` to the callback URL as the waybill advances.
- `GET /sf-express/bills/<YYYY-MM>`: the monthly bill (UTF-8 CSV with BOM), with the faults asked for.

Control (`GET/POST /sf-express/_control`, `POST /sf-express/_control/reset`), besides the common
`mode`/`delay_seconds` switches of simulators/control.py:
    pushes        normal | drop (not sent) | duplicate (each sent twice) | reorder (newest first)
    callback_url  where pushes go (default: the gateway's /callbacks/logistics/sf)
    check_word    the check word the gateway expects (set another one to see A1006)
    bill_faults   {"<waybill>": ["weight", "surcharge", "twice", "bill_cancelled"]}
`POST /sf-express/_control/advance {"waybill_no", "steps": 1, "to": "<opCode>", "signed_by": "..."}`
adds the next scans of the waybill's scripted route and pushes them; `POST .../_control/repush
{"waybill_no"}` pushes every scan again. `GET` shows `calls`, `refused` (digests), `deliveries`.

The courier-neutral parts (waybill book, route scripts, pushes with switches, bills with faults) are
`CourierSim`, which the EMS stand-in shares.
"""
from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable

import requests
from flask import Blueprint, Flask, Response, jsonify, request

from kernel.http import http_session
from logistics_bridge.bills import write_sf_bill
from logistics_bridge.carriers.base import BillLine
from logistics_bridge.carriers.sf import make_push, make_reply, verify_request
from logistics_bridge.carriers.sf import units as sf_units
from logistics_bridge.errors import SignatureError
from logistics_bridge.wire import fen_to_yuan, format_beijing, grams_to_kg
from simulators.control import ControlState, Misbehaviour, control_blueprint, json_fault

PUSH_MODES = ("normal", "drop", "duplicate", "reorder")
BILL_FAULTS = ("weight", "surcharge", "twice", "bill_cancelled")
_COMMON = {"mode", "delay_seconds", "reset_counters"}


@dataclass
class SimWaybill:
    waybill_no: str
    order_id: str
    sender: dict
    recipient: dict
    weight_g: int
    created_at: datetime
    routes: list[dict] = field(default_factory=list)  # scans so far, in the carrier's own shape
    cancelled: bool = False

    def phones(self) -> set[str]:
        return {str(p)[-4:] for p in (self.sender.get("phone"), self.recipient.get("phone")) if p}


class CourierSim:
    """A courier's waybills, scripted routes, pushes (with switches) and monthly bills (with faults).

    `script`: the route a parcel follows, as (code, text, place) steps; `make_scan(waybill, step,
    index, when, signed_by)` turns a step into the carrier's scan dict; `push_body(waybill, scans)`
    into a push `(body, headers)`; `write_bill(lines)` a bill file.
    """

    def __init__(self, carrier: str, *, script: list[tuple[str, str, str]], make_scan: Callable,
                 push_body: Callable, write_bill: Callable, tariff, default_callback_url: str, push_ok: Callable):
        self.carrier = carrier
        self.script = script
        self.make_scan = make_scan
        self.push_body = push_body
        self.write_bill = write_bill
        self.tariff = tariff
        self.default_callback_url = default_callback_url
        self.push_ok = push_ok
        self.http = http_session(10.0, user_agent=f"simulator-{carrier}/1.0")
        self.control = ControlState()
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self.waybills: dict[str, SimWaybill] = {}
        self.orders: dict[str, str] = {}
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Normal behaviour, counters zeroed (waybills are kept, as a real courier keeps them)."""
        with self._lock:
            self.control.reset()
            self.pushes = "normal"
            self.callback_url = self.default_callback_url
            self.check_word: str | None = None
            self.bill_faults: dict[str, list[str]] = {}
            self.refused = 0
            self.deliveries: list[dict] = []

    def update(self, changes: dict) -> None:
        common = {k: v for k, v in changes.items() if k in _COMMON}
        own = {k: v for k, v in changes.items() if k not in _COMMON}
        unknown = set(own) - {"pushes", "callback_url", "check_word", "bill_faults"}
        if unknown:
            raise ValueError(f"unknown control field(s): {', '.join(sorted(unknown))}")
        if "pushes" in own and own["pushes"] not in PUSH_MODES:
            raise ValueError(f"pushes must be one of {', '.join(PUSH_MODES)}")
        faults = own.get("bill_faults") or {}
        if not isinstance(faults, dict) or any(f not in BILL_FAULTS for v in faults.values() for f in v):
            raise ValueError(f"bill_faults maps waybill numbers to lists of {', '.join(BILL_FAULTS)}")
        self.control.update(common)
        with self._lock:
            self.pushes = own.get("pushes", self.pushes)
            self.callback_url = own.get("callback_url") or self.callback_url
            if "check_word" in own:
                self.check_word = own["check_word"] or None
            self.bill_faults.update({str(k): list(v) for k, v in faults.items()})

    def snapshot(self) -> dict:
        with self._lock:
            return {**self.control.snapshot(), "pushes": self.pushes, "callback_url": self.callback_url,
                    "check_word_changed": self.check_word is not None, "bill_faults": self.bill_faults,
                    "refused": self.refused, "deliveries": list(self.deliveries),
                    "waybills": {no: {"order_id": w.order_id, "scans": len(w.routes), "cancelled": w.cancelled}
                                 for no, w in self.waybills.items()}}

    def count_refused(self) -> None:
        with self._lock:
            self.refused += 1

    # ------------------------------------------------------------------ waybills
    def create(self, order_id: str, new_no: Callable[[], str], sender: dict, recipient: dict,
               weight_g: int) -> SimWaybill | None:
        """A new waybill, or None if the order id was booked before."""
        with self._lock:
            if order_id in self.orders:
                return None
            number = new_no()
            while number in self.waybills:
                number = new_no()
            waybill = SimWaybill(number, order_id, sender, recipient, weight_g, datetime.now(timezone.utc))
            self.waybills[number], self.orders[order_id] = waybill, number
            return waybill

    def by_order(self, order_id: str) -> SimWaybill | None:
        with self._lock:
            number = self.orders.get(order_id)
            return self.waybills.get(number) if number else None

    def advance(self, waybill_no: str, *, steps: int = 1, to: str | None = None,
                signed_by: str | None = None) -> list[dict]:
        """Add the next scans of the script (up to `to`, or `steps` of them) and push them."""
        with self._lock:
            waybill = self.waybills[waybill_no]
            if waybill.cancelled:
                raise ValueError("the waybill was cancelled")
            added = []
            while len(waybill.routes) < len(self.script):
                index = len(waybill.routes)
                step = self.script[index]
                # Scans are spaced 37 minutes apart from booking, so every scan has its own time.
                when = waybill.created_at + timedelta(minutes=37 * (index + 1))
                scan = self.make_scan(waybill, step, next(self._ids), when, signed_by)
                waybill.routes.append(scan)
                added.append(scan)
                if (to is not None and step[0] == to) or (to is None and len(added) >= steps):
                    break
        self.push(waybill, added)
        return added

    def push(self, waybill: SimWaybill, scans: list[dict]) -> None:
        """Send one push per scan to the callback URL, per the `pushes` switch (synchronously)."""
        mode = self.pushes
        if mode == "drop":
            for scan in scans:
                self._log(waybill.waybill_no, "dropped", None, b"")
            return
        order = list(reversed(scans)) if mode == "reorder" else scans
        for scan in order:
            body, headers = self.push_body(waybill, [scan])
            for _copy in range(2 if mode == "duplicate" else 1):
                try:
                    answer = self.http.post(self.callback_url, data=body, headers=headers)
                    self._log(waybill.waybill_no, mode, answer.status_code, answer.content)
                except requests.RequestException as exc:
                    self._log(waybill.waybill_no, mode, None, type(exc).__name__.encode())

    def _log(self, waybill_no: str, mode: str, status: int | None, answer: bytes) -> None:
        with self._lock:
            self.deliveries.append({"waybill_no": waybill_no, "mode": mode, "status": status,
                                    "answer": answer.decode("utf-8", "replace")[:300],
                                    "accepted": status == 200 and self.push_ok(answer)})

    # ------------------------------------------------------------------ fees and bills
    def billed(self, waybill: SimWaybill) -> BillLine:
        """What the courier charges for one waybill, faults included (weight, surcharge)."""
        faults = self.bill_faults.get(waybill.waybill_no, [])
        weight = waybill.weight_g + (1000 if "weight" in faults else 0)  # re-weighed heavier at the hub
        fee = self.tariff.postage_fen(weight)
        surcharge = 300 if "surcharge" in faults else 0  # 包装费 / 超长
        return BillLine(waybill.waybill_no, self.carrier, fee, surcharge, weight, waybill.created_at)

    def bill(self, period: str) -> bytes:
        """The month's bill: every waybill booked that month (Beijing), cancelled ones only as a fault."""
        lines = []
        with self._lock:
            waybills = [w for w in self.waybills.values() if format_beijing(w.created_at, "%Y-%m") == period]
        for waybill in sorted(waybills, key=lambda w: w.created_at):
            faults = self.bill_faults.get(waybill.waybill_no, [])
            if waybill.cancelled and "bill_cancelled" not in faults:
                continue
            line = self.billed(waybill)
            lines += [line, line] if "twice" in faults else [line]
        return self.write_bill(lines)

    # ------------------------------------------------------------------ HTTP control
    def blueprint(self) -> Blueprint:
        bp = control_blueprint(self, f"{self.carrier}_control")

        @bp.post("/_control/advance")
        def advance():
            body = request.get_json(silent=True) or {}
            if body.get("waybill_no") not in self.waybills:
                return jsonify(error="not_found", message="no such waybill"), 404
            try:
                scans = self.advance(body["waybill_no"], steps=int(body.get("steps", 1)), to=body.get("to"),
                                     signed_by=body.get("signed_by"))
            except ValueError as exc:
                return jsonify(error="invalid_request", message=str(exc)), 409
            return jsonify(scans=scans, deliveries=self.snapshot()["deliveries"])

        @bp.post("/_control/repush")
        def repush():
            body = request.get_json(silent=True) or {}
            waybill = self.waybills.get(body.get("waybill_no"))
            if waybill is None:
                return jsonify(error="not_found", message="no such waybill"), 404
            self.push(waybill, list(waybill.routes))
            return jsonify(deliveries=self.snapshot()["deliveries"])

        @bp.get("/bills/<period>")
        def bills(period):
            return Response(self.bill(period), content_type="text/csv; charset=utf-8")

        return bp


def _tariff(carrier: str):
    from config.settings import Settings
    from logistics_bridge.profiles import load_profiles

    profiles = load_profiles(Settings.from_env())
    return profiles, profiles.tariffs[carrier]


# ====================================================================== SF specifics
SF_ROUTE = [
    ("54", "顺丰速运 已收取快件", "合肥市"),
    ("30", "快件在【合肥蜀山集散中心】完成分拣,准备发往 【合肥包河营业部】", "合肥市"),
    ("31", "快件到达 【合肥包河营业部】", "合肥市"),
    ("204", "快件交给李师傅，正在派送途中（联系电话：13800000000）", "合肥市"),
    ("80", "已签收,感谢使用顺丰,期待再次为您服务 签收人是：{signer}", "合肥市"),
]


def _sf_scan(waybill: SimWaybill, step, scan_id: int, when: datetime, signed_by: str | None) -> dict:
    code, text, place = step
    return {"id": str(scan_id), "mailno": waybill.waybill_no, "orderid": waybill.order_id,
            "acceptTime": format_beijing(when), "acceptAddress": place,
            "remark": text.format(signer=signed_by or "本人"), "opCode": code}


def _sf_push_body(_waybill, scans) -> tuple[bytes, dict]:
    return make_push(scans), {"Content-Type": "application/json;charset=UTF-8"}


def _contact(msg: dict, kind: int) -> dict:
    for contact in msg.get("contactInfoList") or []:
        if contact.get("contactType") == kind:
            return {"name": contact.get("contact"), "phone": contact.get("mobile") or contact.get("tel"),
                    "city": contact.get("city")}
    return {}


def create_app(settings=None):
    from config.settings import Settings

    settings = settings or Settings.from_env()
    profiles, tariff = _tariff("sf")
    sf = profiles.carriers["sf"].settings
    sim = CourierSim("sf", script=SF_ROUTE, make_scan=_sf_scan, push_body=_sf_push_body, write_bill=write_sf_bill,
                     tariff=tariff, push_ok=lambda answer: b'"0000"' in answer,
                     default_callback_url=settings.public_base_url.rstrip("/") + "/callbacks/logistics/sf")
    app = Flask("sf_express")
    app.register_blueprint(sim.blueprint())

    def reply(text: str) -> Response:
        return Response(text, content_type="application/json;charset=UTF-8")

    @app.post("/std/service")
    def service():
        form = request.form.to_dict()
        try:
            msg = verify_request(form, sim.check_word or sf.check_word, now_ms=int(time.time() * 1000))
        except SignatureError as exc:
            sim.count_refused()
            code = {"bad_signature": sf_units.API_BAD_DIGEST, "expired": "A1002"}.get(exc.code, "A1001")
            return reply(make_reply(api_result_code=code))
        if form.get("partnerID") != sf.partner_id:
            return reply(make_reply(api_result_code="A1004"))
        service_code = form["serviceCode"]
        sim.control.served(service_code)
        handler = {sf_units.CREATE_ORDER: _create, sf_units.UPDATE_ORDER: _update,
                   sf_units.SEARCH_ROUTES: _routes, sf_units.QUERY_WAYBILL: _fees}.get(service_code)
        if handler is None:
            return reply(make_reply(api_result_code="A1004"))
        return reply(handler(sim, msg))

    wrapped = Misbehaviour(app.wsgi_app, sim.control, fault=json_fault)
    app.wsgi_app = wrapped
    app.extensions["courier_sim"] = sim
    return app


def _sf_number() -> str:
    return "SF" + "".join(random.choices("0123456789", k=13))


def _create(sim: CourierSim, msg: dict) -> str:
    order_id = str(msg.get("orderId") or "")
    if not order_id or not msg.get("contactInfoList"):
        return make_reply(error_code="8013", error_msg="订单号或收寄件人信息为空")
    weight_g = int(Decimal(str(msg.get("totalWeight") or "1")) * 1000)
    waybill = sim.create(order_id, _sf_number, _contact(msg, 1), _contact(msg, 2), weight_g)
    if waybill is None:
        return make_reply(error_code=sf_units.BIZ_DUPLICATE_ORDER, error_msg="重复下单")
    return make_reply({"orderId": order_id, "originCode": "551", "destCode": "551", "filterResult": 2,
                       "waybillNoInfoList": [{"waybillType": 1, "waybillNo": waybill.waybill_no}]})


def _update(sim: CourierSim, msg: dict) -> str:
    waybill = sim.by_order(str(msg.get("orderId") or ""))
    if waybill is None:
        return make_reply(error_code="8018", error_msg="未找到订单")
    if msg.get("dealType") != sf_units.DEAL_TYPE_CANCEL:
        return make_reply({"orderId": waybill.order_id, "resStatus": 2})
    numbers = {info.get("waybillNo") for info in msg.get("waybillNoInfoList") or []}
    if (numbers and waybill.waybill_no not in numbers) or waybill.routes:
        return make_reply({"orderId": waybill.order_id, "resStatus": 1})  # picked up, or not this waybill
    waybill.cancelled = True
    return make_reply({"orderId": waybill.order_id, "resStatus": 2})


# The route query's language codes as SF documents them (0 中文, 1 English, 2 繁體), written out here
# and not taken from the adapter, so that a builder sending something else is refused.
ROUTE_LANGUAGES = frozenset({"0", "1", "2"})


def _routes(sim: CourierSim, msg: dict) -> str:
    if str(msg.get("language")) not in ROUTE_LANGUAGES or msg.get("language") is None:
        return make_reply(error_code="1000",  # the simulator's code for a bad parameter
                          error_msg=f"language must be 0 (中文), 1 (English) or 2 (繁體), not {msg.get('language')!r}")
    check = msg.get("checkPhoneNo")
    answers = []
    for number in msg.get("trackingNumber") or []:
        waybill = sim.waybills.get(number)
        visible = waybill is not None and (not check or check in waybill.phones())
        routes = [{k: scan[k] for k in ("acceptTime", "acceptAddress", "remark", "opCode")}
                  for scan in (waybill.routes if visible else [])]
        answers.append({"mailNo": number, "routes": routes})
    return make_reply({"routeResps": answers})


def _fees(sim: CourierSim, msg: dict) -> str:
    waybill = sim.waybills.get(str(msg.get("trackingNum") or ""))
    if waybill is None:
        return make_reply(error_code="20052", error_msg="运单不存在")
    line = sim.billed(waybill)
    fees = [{"type": sf_units.FEE_TYPE_FREIGHT, "name": "运费", "value": fen_to_yuan(line.fee_fen)}]
    if line.surcharge_fen:
        fees.append({"type": "3", "name": "包装服务", "value": fen_to_yuan(line.surcharge_fen)})
    return make_reply({"waybillNo": waybill.waybill_no, "consignedTime": format_beijing(waybill.created_at),
                       "meterageWeightQty": grams_to_kg(line.weight_g), "waybillFeeList": fees})


__all__ = ["CourierSim", "SimWaybill", "create_app"]
