"""Stand-in for Kuaidi100 (快递100), the tracking aggregator, mounted at `/kuaidi100`.

- `POST /kuaidi100/poll`: a subscription, the form `schema=json&param=<JSON {company, number, key,
  parameters: {callbackurl, salt, resultv2, phone}}>`. Answered `{"result":true,"returnCode":"200",
  "message":"提交成功"}`; the same company and number again `{"result":false,"returnCode":"501",
  "message":"重复订阅"}`; a wrong key 600; no number, an unknown company or no callback URL 700.
- `POST /kuaidi100/poll/query.do`: the real-time query, form `customer, sign, param=<JSON {com, num,
  phone, resultv2}>` with `sign = UPPER(MD5(param + key + customer))` (503 when it does not match):
  the trace so far, newest first, or `{"result":false,"returnCode":"500"}` while there is none.
- Pushes: every change of a subscribed waybill is POSTed to the callback URL the subscription gave, as
  the form `param=<JSON {status, billstatus, message, autoCheck, comOld, comNew, lastResult}>&sign=
  UPPER(MD5(param + salt))` with the subscription's salt; `status` is `polling`, then `shutdown` once
  the parcel is signed for. The subscriber answers `{"result":true,"returnCode":"200"}`.
Keys come from config/logistics.yaml (`logistics_bridge.profiles`), as govlink reads them.

Control (`GET/POST /kuaidi100/_control`, `POST /kuaidi100/_control/reset`), besides the common
`mode`/`delay_seconds` switches of simulators/control.py:
    pushes   normal | drop (not sent) | duplicate (each sent twice)
`POST /kuaidi100/_control/advance {"number", "steps": 1, "to": "<statusCode>", "signed_by": "..."}` adds
the next scans of the scripted trace of a subscribed waybill and pushes them; `POST .../_control/repush
{"number"}` pushes the whole trace again. `GET` shows `calls`, `subscriptions` (company, number,
callback URL, scans; never the salt) and `deliveries`. A reset keeps the subscriptions, as Kuaidi100 does.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import requests
from flask import Blueprint, Flask, jsonify, request

from kernel.http import http_session
from logistics_bridge.carriers.kuaidi100 import callback_sign, make_result, verify_query
from logistics_bridge.errors import SignatureError
from logistics_bridge.wire import format_beijing
from simulators.control import ControlState, Misbehaviour, control_blueprint, json_fault

PUSH_MODES = ("normal", "drop", "duplicate")
_COMMON = {"mode", "delay_seconds", "reset_counters"}
COMPANY_NAMES = {"shunfeng": "顺丰速运", "ems": "中国邮政EMS"}
DELIVERED_BY_OTHER = "303"  # 代签

# The trace a subscribed parcel follows: (statusCode, status name, context, area), oldest first.
TRACE = [
    ("103", "揽收", "【合肥市】{company} 已收取快件", "安徽,合肥市"),
    ("1002", "在途", "快件已从【合肥蜀山集散中心】发出，准备发往【合肥包河营业部】", "安徽,合肥市"),
    ("1001", "在途", "快件已到达【合肥包河营业部】", "安徽,合肥市,包河区"),
    ("5", "派件", "快件交给李师傅，正在派送途中（联系电话：13800000000）", "安徽,合肥市,包河区"),
    ("301", "签收", "已签收，签收人是：{signer}", "安徽,合肥市,包河区"),
]

SUBMITTED = {"result": True, "returnCode": "200", "message": "提交成功"}
DUPLICATE = {"result": False, "returnCode": "501", "message": "重复订阅"}
BAD_KEY = {"result": False, "returnCode": "600", "message": "您不是合法的订阅者（即授权Key出错）"}
BAD_DATA = {"result": False, "returnCode": "700",
            "message": "订阅方的订阅数据存在错误（如不支持的快递公司、单号为空、单号超长等）或错误的回调地址"}
QUERY_INCOMPLETE = {"result": False, "returnCode": "400", "message": "提交的数据不完整，或者贵公司没授权"}
QUERY_NO_RESULT = {"result": False, "returnCode": "500", "message": "查询无结果，请隔段时间再查"}
QUERY_BAD_SIGN = {"result": False, "returnCode": "503", "message": "验证签名失败"}


@dataclass
class Subscription:
    company: str
    number: str
    callback_url: str
    salt: str = field(repr=False)
    phone: str | None
    created_at: datetime
    items: list[dict] = field(default_factory=list)  # scans so far, oldest first

    @property
    def delivered(self) -> bool:
        return bool(self.items) and self.items[-1]["statusCode"] in ("301", DELIVERED_BY_OTHER)

    def result(self) -> dict:
        """The trace as Kuaidi100 shows it (query reply, push lastResult): newest item first."""
        state = self.items[-1]["statusCode"] if self.items else "0"
        return make_result(self.number, self.company, state, list(reversed(self.items)))


class Kuaidi100Sim:
    """Subscriptions, scripted traces, signed pushes (with switches) and the real-time query."""

    def __init__(self, *, key: str, customer: str):
        self.key = key
        self.customer = customer
        self.http = http_session(10.0, user_agent="simulator-kuaidi100/1.0")
        self.control = ControlState()
        self._lock = threading.RLock()
        self.subscriptions: dict[tuple[str, str], Subscription] = {}
        self.reset()

    # ------------------------------------------------------------------ state (simulators.control.Controllable)
    def reset(self) -> None:
        """Normal behaviour, counters and deliveries cleared (subscriptions are kept)."""
        with self._lock:
            self.control.reset()
            self.pushes = "normal"
            self.deliveries: list[dict] = []

    def update(self, changes: dict) -> None:
        common = {k: v for k, v in changes.items() if k in _COMMON}
        own = {k: v for k, v in changes.items() if k not in _COMMON}
        unknown = set(own) - {"pushes"}
        if unknown:
            raise ValueError(f"unknown control field(s): {', '.join(sorted(unknown))}")
        if "pushes" in own and own["pushes"] not in PUSH_MODES:
            raise ValueError(f"pushes must be one of {', '.join(PUSH_MODES)}")
        self.control.update(common)
        with self._lock:
            self.pushes = own.get("pushes", self.pushes)

    def snapshot(self) -> dict:
        with self._lock:
            return {**self.control.snapshot(), "pushes": self.pushes, "deliveries": list(self.deliveries),
                    "subscriptions": [{"company": s.company, "number": s.number, "callback_url": s.callback_url,
                                       "scans": len(s.items)} for s in self.subscriptions.values()]}

    # ------------------------------------------------------------------ the API
    def subscribe(self, form: dict) -> dict:
        """The poll API: one subscription per company and number."""
        self.control.served("subscribe")
        try:
            param = json.loads(form.get("param") or "")
        except ValueError:
            return BAD_DATA
        if form.get("schema") != "json" or not isinstance(param, dict):
            return BAD_DATA
        if param.get("key") != self.key:
            return BAD_KEY
        parameters = param.get("parameters") if isinstance(param.get("parameters"), dict) else {}
        company, number = str(param.get("company") or ""), str(param.get("number") or "")
        callback_url = str(parameters.get("callbackurl") or "")
        if company not in COMPANY_NAMES or not 1 <= len(number) <= 32 or not callback_url.startswith("http"):
            return BAD_DATA
        with self._lock:
            if (company, number) in self.subscriptions:
                return DUPLICATE
            self.subscriptions[(company, number)] = Subscription(
                company, number, callback_url, str(parameters.get("salt") or ""), parameters.get("phone"),
                datetime.now(timezone.utc).replace(microsecond=0))
        return SUBMITTED

    def query(self, form: dict) -> dict:
        """The real-time query, signed with our key and customer id."""
        self.control.served("query")
        param_text = form.get("param") or ""
        if form.get("customer") != self.customer or not form.get("sign"):
            return QUERY_BAD_SIGN
        try:
            verify_query(param_text, form["sign"], self.key, self.customer)
            param = json.loads(param_text)
        except SignatureError:
            return QUERY_BAD_SIGN
        except ValueError:
            return QUERY_INCOMPLETE
        if not isinstance(param, dict) or not param.get("com") or not param.get("num"):
            return QUERY_INCOMPLETE
        with self._lock:
            sub = self.subscriptions.get((str(param["com"]), str(param["num"])))
            if sub is None or not sub.items:
                return QUERY_NO_RESULT
            return sub.result()

    # ------------------------------------------------------------------ traces and pushes
    def find(self, number: str) -> Subscription | None:
        with self._lock:
            return next((s for s in self.subscriptions.values() if s.number == number), None)

    def advance(self, number: str, *, steps: int = 1, to: str | None = None,
                signed_by: str | None = None) -> list[dict]:
        """Add the next scans of the trace (up to statusCode `to`, or `steps` of them) and push them."""
        with self._lock:
            sub = self.find(number)
            added = []
            while len(sub.items) < len(TRACE):
                index = len(sub.items)
                code, name, context, area = TRACE[index]
                if code == "301" and signed_by and signed_by != "本人":
                    code = DELIVERED_BY_OTHER
                # Scans are spaced 41 minutes apart from the subscription, so every scan has its own time.
                when = format_beijing(sub.created_at + timedelta(minutes=41 * (index + 1)))
                item = {"time": when, "ftime": when, "status": name, "statusCode": code, "areaName": area,
                        "context": context.format(company=COMPANY_NAMES[sub.company], signer=signed_by or "本人")}
                sub.items.append(item)
                added.append(item)
                if (to is not None and TRACE[index][0] == to) or (to is None and len(added) >= steps):
                    break
        if added:
            self.push(sub)
        return added

    def push(self, sub: Subscription) -> None:
        """Push the trace to the subscription's callback URL, signed with its salt (synchronously)."""
        mode = self.pushes
        if mode == "drop":
            self._log(sub.number, "dropped", None, b"")
            return
        # The fields around lastResult are Kuaidi100's; govlink reads status and lastResult.
        param = json.dumps({"status": "shutdown" if sub.delivered else "polling", "billstatus": "got", "message": "",
                            "autoCheck": "0", "comOld": "", "comNew": "", "lastResult": sub.result()},
                           ensure_ascii=False, separators=(",", ":"))
        form = {"param": param, "sign": callback_sign(param, sub.salt)}
        for _copy in range(2 if mode == "duplicate" else 1):
            try:
                answer = self.http.post(sub.callback_url, data=form)
                self._log(sub.number, mode, answer.status_code, answer.content)
            except requests.RequestException as exc:
                self._log(sub.number, mode, None, type(exc).__name__.encode())

    def _log(self, number: str, mode: str, status: int | None, answer: bytes) -> None:
        try:
            accepted = status == 200 and json.loads(answer).get("result") is True
        except (ValueError, AttributeError):
            accepted = False
        with self._lock:
            self.deliveries.append({"number": number, "mode": mode, "status": status, "accepted": accepted,
                                    "answer": answer.decode("utf-8", "replace")[:300]})

    # ------------------------------------------------------------------ HTTP control
    def blueprint(self) -> Blueprint:
        bp = control_blueprint(self, "kuaidi100_control")

        @bp.post("/_control/advance")
        def advance():
            body = request.get_json(silent=True) or {}
            if self.find(str(body.get("number") or "")) is None:
                return jsonify(error="not_found", message="no subscription for this number"), 404
            scans = self.advance(str(body["number"]), steps=int(body.get("steps", 1)), to=body.get("to"),
                                 signed_by=body.get("signed_by"))
            return jsonify(scans=scans, deliveries=self.snapshot()["deliveries"])

        @bp.post("/_control/repush")
        def repush():
            body = request.get_json(silent=True) or {}
            sub = self.find(str(body.get("number") or ""))
            if sub is None:
                return jsonify(error="not_found", message="no subscription for this number"), 404
            self.push(sub)
            return jsonify(deliveries=self.snapshot()["deliveries"])

        return bp


def create_app(settings=None):
    from config.settings import Settings
    from logistics_bridge.profiles import load_profiles

    settings = settings or Settings.from_env()
    k100 = load_profiles(settings).kuaidi100
    sim = Kuaidi100Sim(key=k100.key, customer=k100.customer)
    app = Flask("kuaidi100")
    app.json.ensure_ascii = False
    app.register_blueprint(sim.blueprint())

    @app.post("/poll")
    def subscribe():
        return jsonify(sim.subscribe(request.form.to_dict()))

    @app.post("/poll/query.do")
    def query():
        return jsonify(sim.query(request.form.to_dict()))

    app.wsgi_app = Misbehaviour(app.wsgi_app, sim.control, fault=json_fault)
    app.extensions["kuaidi100_sim"] = sim
    return app


__all__ = ["Kuaidi100Sim", "Subscription", "create_app"]
