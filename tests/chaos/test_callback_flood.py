"""A flood of duplicate and forged payment and courier callbacks (R10): zero forgeries accepted,
one effect per genuine callback.

Runs against the shared services (nothing is restarted): the gateway is served over real HTTP on a
free port, the platform and courier simulators on another, and the callbacks are sent by 16
threads at once so that copies of one callback race each other.

- payments: 50 notices (25 non-tax, 25 WeChat Pay) each confirmed by one genuine callback sent
  21 times (1,000 duplicates); 20 other notices get 1,000 forgeries (non-tax: wrong MAC token,
  a genuine MAC over another body; WeChat: signed with a forger's key, a stale replay, a body
  swapped after signing). Effect = a `payment_confirmations` row (and one `payment.paid` event).
- couriers: 5 SF legs, paid and booked; each gets one genuine signed Kuaidi100 push (two scans)
  sent 200 times (1,000 copies, 995 duplicates); 1,000 forgeries: Kuaidi100 pushes whose content
  was changed after signing or with a made-up sign, and unsigned SF pushes claiming delivery (the
  gateway re-queries SF, which knows no such scan). Effect = a stored tracking event.
"""
from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from kernel.http import http_session
from logistics_bridge.carriers.kuaidi100 import make_callback, make_result
from logistics_bridge.carriers.sf.push import make_push
from kernel.clock import beijing_today
from payment_bridge.channels.nontax import http_headers
from payment_bridge.channels.nontax.confirmation import Confirmation, build_confirmation
from payment_bridge.channels.nontax.envelope import CfxHead
from payment_bridge.channels.wechatpay import Transaction, build_notification, transaction_resource
from payment_bridge.profiles import DEV_KEY_DIR
from bootstrap.gateway import create_app
from simulators.channels.serving import serve_in_thread
from simulators.server import run_in_thread
from store.models.logistics import ShipmentLeg, ShipmentTrackingEvent
from store.models.payment import PaymentConfirmation, PaymentNotice
from tests.conftest import client_credentials_token
from kernel.identifiers import make_uscc
from simulators.channels.signin import Browserless
from tests.chaos.bus_stack import notice_body
from tests.support.addresses import ADDRESS

ENTERPRISE = make_uscc(org_body="MA2N0Q8X")  # the payer of the notices
SENDERS = 16
DEMO_PASSWORD = "Hefei-Demo-2026"  # the demo users of `govlink realm demo-users`
SERVICE = "340100-GA-JSZ-01"  # 机动车驾驶证期满换证: results may go by courier
GENUINE_NOTICES = 50
COPIES = 21  # one genuine callback and 20 duplicates each: 50 x 20 = 1,000 duplicates
FORGED_NOTICES = 20
FORGERIES = 1000
LEGS = 5
K100_COPIES = 200  # 5 legs x 200 = 1,000 copies of genuine pushes


class Gateway:
    def __init__(self, settings):
        self.sim_url, self._stop_sims = run_in_thread()
        self.app = create_app(settings.replace(simulators_url=self.sim_url))
        self.url, self._stop = serve_in_thread(self.app)
        self.runtime = self.app.extensions["govlink"]
        self.client = self.app.test_client()
        self.http = http_session(30)
        for system in ("nontax", "wechatpay", "sf-express"):
            self.http.post(f"{self.sim_url}/{system}/_control/reset").raise_for_status()
        self.http.post(f"{self.sim_url}/nontax/_control", json={"callback_url": f"{self.url}/callbacks/payments/nontax"})
        self.http.post(f"{self.sim_url}/sf-express/_control", json={"callback_url": f"{self.url}/callbacks/logistics/sf"})

    def close(self):
        self._stop()
        self._stop_sims()
        self.runtime.close()


@pytest.fixture(scope="module")
def flood_gateway(settings, db):
    gw = Gateway(settings)
    yield gw
    gw.close()


def _flood(requests_: list[tuple[str, bytes | dict, dict]]) -> list:
    """POST every (url, body, headers) from SENDERS threads at once; returns the responses in order."""
    sessions = {}

    def send(item):
        session = sessions.setdefault(threading.get_ident(), http_session(60))
        url, body, headers = item
        return session.post(url, data=body, headers=headers)

    with ThreadPoolExecutor(SENDERS) as pool:
        return list(pool.map(send, requests_))


def _nontax_callback(gw, notice, *, amount=None, token=None, tra_no=None):
    profile = gw.runtime.payments.profiles
    head = CfxHead(src="340000NTS", des=profile.nontax.node, msg_id=uuid.uuid4().hex, work_date=beijing_today())
    body = build_confirmation(head, Confirmation(
        pay_code=notice["payment_code"], confirmed_at=datetime.now(timezone.utc).replace(microsecond=0),
        amount_fen=amount or notice["total_fen"], pay_mode="3", tra_no_bus=tra_no or "B" + uuid.uuid4().hex[:20],
        payer_credit_code=None), profile=profile.code_profile)
    return f"{gw.url}/callbacks/payments/nontax", body, http_headers(body, token or profile.nontax.mac_token)


def _wechat_callback(gw, notice, *, key=None, timestamp=None, total=None):
    wp = gw.runtime.payments.profiles.wechatpay
    resource = transaction_resource(Transaction(
        appid=wp.appid, mchid=wp.mchid, out_trade_no=notice["payment_code"], trade_state="SUCCESS",
        total_fen=total or notice["total_fen"], transaction_id="42" + uuid.uuid4().int.__str__()[:26],
        trade_type="NATIVE", success_time=datetime.now(timezone.utc).replace(microsecond=0)))
    extra = {"timestamp": timestamp} if timestamp else {}
    headers, body = build_notification(private_key=key or (DEV_KEY_DIR / "wechatpay-platform-private.pem").read_bytes(),
                                       serial=wp.platform_serial, api_v3_key=wp.api_v3_key, resource=resource, **extra)
    return f"{gw.url}/callbacks/payments/wechatpay", body, dict(headers)


def _accepted(response) -> bool:
    """Did the gateway take the callback (in the platform's own answer format)?"""
    if "wechatpay" in response.url:
        return response.status_code == 200 and response.json().get("code") == "SUCCESS"
    if "nontax" in response.url:
        return b"00000" in response.content and response.status_code == 200
    if "kuaidi100" in response.url:
        return response.status_code == 200 and response.json().get("result") is True
    return response.status_code == 200 and response.json().get("return_code") == "0000"


def test_payment_callback_flood(flood_gateway, settings, chaos_report):
    gw = flood_gateway
    token = client_credentials_token(settings, "case-system")
    notices = []
    for i in range(GENUINE_NOTICES + FORGED_NOTICES):
        platform = "nontax" if i % 2 == 0 else "wechatpay"
        r = gw.client.post("/api/v1/payments", json=notice_body(ENTERPRISE, platform=platform,
                                                               case_id=f"CHAOS-{uuid.uuid4().hex[:10]}"),
                           headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"chaos-{uuid.uuid4().hex}"})
        assert r.status_code == 201, r.get_json()
        notices.append(r.get_json())
    genuine, targets = notices[:GENUINE_NOTICES], notices[GENUINE_NOTICES:]

    sends = []
    for notice in genuine:
        one = _nontax_callback(gw, notice) if notice["platform"] == "nontax" else _wechat_callback(gw, notice)
        sends += [one] * COPIES  # the platform resends the very same callback
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = []
    for i in range(FORGERIES):
        notice = targets[i % len(targets)]
        kind = (i // len(targets)) % 3
        if notice["platform"] == "nontax":
            if kind == 0:
                forged.append(_nontax_callback(gw, notice, token="forged-mac-token"))
            else:  # a genuine MAC over a different body (a smaller amount)
                url, body, _ = _nontax_callback(gw, notice, amount=1)
                _u, _b, headers = _nontax_callback(gw, notice)
                forged.append((url, body, headers))
        elif kind == 0:
            forged.append(_wechat_callback(gw, notice, key=forger))
        elif kind == 1:  # a genuinely signed callback replayed after the 5-minute window
            forged.append(_wechat_callback(gw, notice, timestamp=int(time.time()) - 600))
        else:  # the body swapped after signing
            url, _b, headers = _wechat_callback(gw, notice)
            _u, body, _h = _wechat_callback(gw, notice, total=1)
            forged.append((url, body, headers))

    started = time.monotonic()
    order = sends + forged
    random.Random(8).shuffle(order)
    responses = dict(zip(map(id, order), _flood(order)))
    elapsed = time.monotonic() - started
    genuine_ok = sum(1 for s in sends if _accepted(responses[id(s)]))
    forged_ok = sum(1 for f in forged if _accepted(responses[id(f)]))
    assert not [r for r in responses.values() if r.status_code >= 500], "a callback got a 5xx"

    ids = [n["id"] for n in notices]
    with gw.runtime.db.unit_of_work() as session:
        rows = dict(session.execute(select(PaymentConfirmation.notice_id, func.count()).where(
            PaymentConfirmation.notice_id.in_(ids)).group_by(PaymentConfirmation.notice_id)).all())
        status = dict(session.execute(select(PaymentNotice.id, PaymentNotice.status).where(PaymentNotice.id.in_(ids))).all())
    per_genuine = [rows.get(n["id"], 0) for n in genuine]
    per_target = [rows.get(n["id"], 0) for n in targets]
    assert all(status[n["id"]] == "paid" for n in genuine)
    assert all(status[n["id"]] == "registered" for n in targets)
    chaos_report("callbacks-payments-duplicates", sent=len(sends), effects=sum(per_genuine),
                 lost=sum(1 for c in per_genuine if c == 0), doubled=sum(max(0, c - 1) for c in per_genuine),
                 genuine=len(genuine), answered_ok=genuine_ok, seconds=round(elapsed, 1))
    chaos_report("callbacks-payments-forged", sent=len(forged), effects=sum(per_target), lost=0,
                 doubled=sum(per_target), accepted=forged_ok)
    assert forged_ok == 0
    assert genuine_ok == len(sends)  # every copy is acknowledged, or the platform would keep resending


def _paid_and_booked_legs(gw, settings, n):
    from config.realm import demo_users

    citizen = Browserless(settings.issuer).sign_in("mobile-app", "http://127.0.0.1/mobile/cb", username=demo_users()[0]["username"],
                                                   password=DEMO_PASSWORD)["access_token"]
    service = gw.runtime.logistics
    legs = []
    for _ in range(n):
        r = gw.client.post("/api/v1/logistics/legs", json={
            "case_id": f"CHAOS-{uuid.uuid4().hex[:12]}", "service_code": SERVICE, "kind": "results", "carrier": "sf",
            "address": ADDRESS}, headers={"Authorization": f"Bearer {citizen}"})
        assert r.status_code == 201, r.get_json()
        leg = r.get_json()
        paid = gw.http.post(leg["postage"]["pay_url"], data={"pay_mode": "3"}, headers={"Accept": "application/json"})
        assert paid.status_code == 200, paid.text
        legs.append(leg)
    deadline = time.monotonic() + 30
    booked = []
    for leg in legs:
        while True:
            row = service.reads.get_leg(leg["id"])[0]
            if row.state != "awaiting_payment" or time.monotonic() > deadline:
                break
            try:  # the postage is paid once the platform's callback is in: book now, not via the poller
                row = service.booking.book(leg["id"])
                if row.state != "awaiting_payment":
                    break
            except Exception:
                pass
            time.sleep(0.2)
        assert row.state == "booked" and row.waybill_no, (row.state, row.error_code)
        booked.append(row)
    return booked


def test_courier_callback_flood(flood_gateway, settings, chaos_report):
    gw = flood_gateway
    legs = _paid_and_booked_legs(gw, settings, LEGS)
    salt = gw.runtime.logistics.profiles.kuaidi100.salt
    base = datetime(2026, 3, 2, 8, 0)
    genuine, forged = [], []
    for leg in legs:
        items = [{"time": f"{base + timedelta(hours=1):%Y-%m-%d %H:%M:%S}", "ftime": f"{base + timedelta(hours=1):%Y-%m-%d %H:%M:%S}",
                  "context": "快件已从合肥发出", "statusCode": "1002", "areaName": "合肥市"},
                 {"time": f"{base:%Y-%m-%d %H:%M:%S}", "ftime": f"{base:%Y-%m-%d %H:%M:%S}",
                  "context": "顺丰速运 已收取快件", "statusCode": "103", "areaName": "合肥市"}]
        form = make_callback(make_result(leg.waybill_no, "shunfeng", "0", items), salt)
        genuine += [(f"{gw.url}/callbacks/logistics/kuaidi100", form, {})] * K100_COPIES
        delivered = [{"time": "2026-03-02 18:00:00", "ftime": "2026-03-02 18:00:00", "context": "已签收，签收人：伪造",
                      "statusCode": "301", "areaName": "合肥市"}] + items
        for i in range(FORGERIES // LEGS // 2):
            changed = make_callback(make_result(leg.waybill_no, "shunfeng", "3", delivered), salt)
            sign = form["sign"] if i % 2 == 0 else uuid.uuid4().hex.upper()  # an old sign, or a made-up one
            forged.append((f"{gw.url}/callbacks/logistics/kuaidi100", {"param": changed["param"], "sign": sign}, {}))
            route = {"id": str(9_000_000_000 + i), "mailno": leg.waybill_no, "orderid": leg.id,
                     "acceptTime": "2026-03-02 18:00:00", "acceptAddress": "合肥市", "remark": "已签收,签收人是：伪造",
                     "opCode": "80"}
            forged.append((f"{gw.url}/callbacks/logistics/sf", make_push([route]),
                           {"Content-Type": "application/json;charset=UTF-8"}))

    order = genuine + forged
    random.Random(9).shuffle(order)
    started = time.monotonic()
    responses = dict(zip(map(id, order), _flood(order)))
    elapsed = time.monotonic() - started
    assert not [r for r in responses.values() if r.status_code >= 500], "a push got a 5xx"
    genuine_ok = sum(1 for g in genuine if _accepted(responses[id(g)]))
    forged_k100_ok = sum(1 for f in forged if "kuaidi100" in f[0] and _accepted(responses[id(f)]))

    ids = [leg.id for leg in legs]
    with gw.runtime.db.unit_of_work() as session:
        events = session.execute(select(ShipmentTrackingEvent).where(ShipmentTrackingEvent.leg_id.in_(ids))).scalars().all()
        states = dict(session.execute(select(ShipmentLeg.id, ShipmentLeg.tracking_status).where(ShipmentLeg.id.in_(ids))).all())
    per_leg = {leg_id: [e for e in events if e.leg_id == leg_id] for leg_id in ids}
    fake = [e for e in events if e.raw_code in ("80", "301") or "伪造" in (e.description or "")]
    expected_per_leg = 2
    chaos_report("callbacks-couriers-duplicates", sent=len(genuine), effects=len(events) - len(fake),
                 lost=sum(max(0, expected_per_leg - len(v)) for v in per_leg.values()),
                 doubled=sum(max(0, len(v) - expected_per_leg) for v in per_leg.values()),
                 genuine=expected_per_leg * LEGS, answered_ok=genuine_ok, seconds=round(elapsed, 1))
    chaos_report("callbacks-couriers-forged", sent=len(forged), effects=len(fake), lost=0, doubled=len(fake),
                 accepted_signed=forged_k100_ok)
    assert forged_k100_ok == 0
    assert all(status != "delivered" for status in states.values()), states
    assert genuine_ok == len(genuine)
