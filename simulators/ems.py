"""Stand-in for China Post EMS's agreement-customer API (中国邮政 新一代寄递平台), mounted at `/ems`.

- `POST /ems/api/open`: form `senderNo, apiCode, authorization, msgType, timeStamp, version,
  logitcsInterface` where `logitcsInterface = "|$4|" + Base64(SM4-ECB(json + signKey))`; a wrong
  authorization code or key is answered retCode `S00003`. apiCode 020003 (create; `S00004` for an
  order number seen before), 020006 (cancel; `S00005` once the mail is collected), 040001 (trace).
- Trace pushes `{"serialNo", "logitcsInterface"}` (one sealed trace item) to the callback URL,
  answered `{"code": "00000"}`.
- `GET /ems/bills/<YYYY-MM>`: the monthly agreement-customer bill (GBK CSV), with the faults asked for.

Control: the same switches and endpoints as the SF stand-in (see simulators/sf_express.py:
`pushes`, `callback_url`, `bill_faults`, `/_control/advance`, `/_control/repush`), plus
`check_word` here meaning the authorization code EMS expects.
"""
from __future__ import annotations

import random
import uuid
from datetime import datetime

from flask import Flask, Response, request

from logistics_bridge.bills import write_ems_bill
from logistics_bridge.carriers.ems import make_push, make_reply, verify_form
from logistics_bridge.carriers.ems import units as ems_units
from logistics_bridge.errors import SignatureError
from logistics_bridge.wire import format_beijing
from simulators.control import Misbehaviour, json_fault
from simulators.sf_express import CourierSim, SimWaybill, _tariff

EMS_ROUTE = [
    ("203", "收寄计费信息", "【合肥市蜀山区政务服务中心营业部】已收件"),
    ("389", "处理中心封车", "【合肥邮区中心局】已发出"),
    ("954", "邮件到达处理中心", "【合肥邮区中心局】已到达"),
    ("702", "投递邮件接收-下段", "【合肥市包河区投递部】安排投递，投递员：王师傅，电话：13900000000"),
    ("704", "投递结果反馈-妥投", "已签收，{signer}签收"),
]


def _scan(waybill: SimWaybill, step, scan_id: int, when: datetime, signed_by: str | None) -> dict:
    code, name, desc = step
    return {"waybillNo": waybill.waybill_no, "opTime": format_beijing(when), "opCode": code, "opName": name,
            "opDesc": desc.format(signer=signed_by or "本人"), "opOrgProvName": "安徽省", "opOrgCity": "合肥市",
            "opOrgName": "合肥市邮政分公司", "serial": str(scan_id)}


def create_app(settings=None):
    from config.settings import Settings

    settings = settings or Settings.from_env()
    profiles, tariff = _tariff("ems")
    ems = profiles.carriers["ems"].settings

    def push_body(_waybill, scans):
        body = make_push(scans[0], sign_key=ems.sign_key, serial_no=uuid.uuid4().hex)
        return body, {"Content-Type": "application/json;charset=UTF-8"}

    sim = CourierSim("ems", script=EMS_ROUTE, make_scan=_scan, push_body=push_body, write_bill=write_ems_bill,
                     tariff=tariff, push_ok=lambda answer: b'"00000"' in answer,
                     default_callback_url=settings.public_base_url.rstrip("/") + "/callbacks/logistics/ems")
    app = Flask("ems")
    app.register_blueprint(sim.blueprint())

    def reply(text: str) -> Response:
        return Response(text, content_type="application/json;charset=UTF-8")

    @app.post("/api/open")
    def api():
        form = request.form.to_dict()
        serial = uuid.uuid4().hex
        try:
            api_code, payload = verify_form(form, sign_key=ems.sign_key,
                                            authorization=sim.check_word or ems.authorization)
        except SignatureError as exc:
            sim.count_refused()
            return reply(make_reply(ret_code="S00003", ret_msg=f"授权码或签名错误 ({exc.code})", serial_no=serial))
        if form.get("senderNo") != ems.sender_no:
            return reply(make_reply(ret_code="S00006", ret_msg="协议客户号不存在", serial_no=serial))
        sim.control.served(api_code)
        handler = {ems_units.CREATE_ORDER: _create, ems_units.CANCEL_ORDER: _cancel,
                   ems_units.TRACK: _trace}.get(api_code)
        if handler is None:
            return reply(make_reply(ret_code="S00007", ret_msg="接口编码不存在", serial_no=serial))
        return reply(handler(sim, payload, serial))

    app.wsgi_app = Misbehaviour(app.wsgi_app, sim.control, fault=json_fault)
    app.extensions["courier_sim"] = sim
    return app


def _number() -> str:
    return "11" + "".join(random.choices("0123456789", k=11))


def _party(party) -> dict:
    party = party if isinstance(party, dict) else {}
    return {"name": party.get("name"), "phone": party.get("mobile") or party.get("phone"), "city": party.get("city")}


def _create(sim: CourierSim, payload: dict, serial: str) -> str:
    order_no = str(payload.get("logisticsOrderNo") or "")
    if not order_no or not isinstance(payload.get("receiver"), dict):
        return make_reply(ret_code="S00008", ret_msg="订单号或收件人信息为空", serial_no=serial)
    waybill = sim.create(order_no, _number, _party(payload.get("sender")), _party(payload.get("receiver")),
                         int(payload.get("weight") or 1))
    if waybill is None:
        return make_reply(ret_code="S00004", ret_msg="重复下单", serial_no=serial)
    return make_reply({"waybillNo": waybill.waybill_no, "logisticsOrderNo": order_no, "routeCode": "230001"},
                      serial_no=serial)


def _cancel(sim: CourierSim, payload: dict, serial: str) -> str:
    waybill = sim.by_order(str(payload.get("logisticsOrderNo") or ""))
    if waybill is None or (payload.get("waybillNo") and payload["waybillNo"] != waybill.waybill_no):
        return make_reply(ret_code="S00009", ret_msg="订单不存在", serial_no=serial)
    if waybill.routes:
        return make_reply(ret_code="S00005", ret_msg="邮件已收寄，无法取消", serial_no=serial)
    waybill.cancelled = True
    return make_reply({"logisticsOrderNo": waybill.order_id, "waybillNo": waybill.waybill_no}, serial_no=serial)


def _trace(sim: CourierSim, payload: dict, serial: str) -> str:
    waybill = sim.waybills.get(str(payload.get("waybillNo") or ""))
    items = [{k: v for k, v in scan.items() if k != "serial"} for scan in (waybill.routes if waybill else [])]
    return make_reply({"responseItems": items}, serial_no=serial)
