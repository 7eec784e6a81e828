"""The SF, EMS and Kuaidi100 stand-ins speak the formats our adapters speak (in process, no network)."""
from __future__ import annotations

import pytest

from config.settings import Settings
from logistics_bridge.address import validate_address
from logistics_bridge.bills import parse_ems_bill, parse_sf_bill
from logistics_bridge.carriers.base import ShipmentRequest, TransportResponse
from logistics_bridge.carriers.ems import EmsCarrier
from logistics_bridge.carriers.kuaidi100 import Kuaidi100Tracker, parse_callback
from logistics_bridge.carriers.sf import SfCarrier
from logistics_bridge.errors import CarrierError, SignatureError
from logistics_bridge.profiles import load_profiles
from logistics_bridge.tracking import Status
from logistics_bridge.wire import format_beijing
from simulators import ems, kuaidi100, sf_express

SENDER = validate_address({"name": "合肥市政务服务中心", "phone": "0551-63539000", "province": "安徽",
                           "city": "合肥市", "district": "蜀山区", "detail": "怀宁路1733号"})
RECIPIENT = validate_address({"name": "王晓明", "phone": "13805511234", "province": "安徽", "city": "合肥市",
                              "district": "包河区", "detail": "徽州大道1号"})


def _transport(client, prefix):
    def send(url, *, data=None, body=None, headers=None):
        r = client.post(url.split(prefix, 1)[1], data=data if data is not None else body, headers=dict(headers or {}))
        return TransportResponse(r.status_code, r.data, dict(r.headers))
    return send


@pytest.fixture()
def profiles():
    return load_profiles(Settings())


def _carrier(name, profiles):
    module, prefix, cls = {"sf": (sf_express, "/sf-express", SfCarrier), "ems": (ems, "/ems", EmsCarrier)}[name]
    app = module.create_app(Settings())
    sim = app.extensions["courier_sim"]
    sim.update({"pushes": "drop"})
    return cls(profiles.carriers[name].settings, _transport(app.test_client(), prefix)), sim


@pytest.mark.parametrize("name", ["sf", "ems"])
def test_create_track_cancel_and_duplicates(name, profiles):
    carrier, sim = _carrier(name, profiles)
    request = ShipmentRequest(leg_id="leg-0001", sender=SENDER, recipient=RECIPIENT, weight_g=600)
    waybill = carrier.create_waybill(request)
    with pytest.raises(CarrierError) as again:
        carrier.create_waybill(request)
    assert again.value.code in ("duplicate_order", "rejected") and sim.refused == 0
    assert carrier.track(waybill.waybill_no, phone=RECIPIENT.phone) == []
    sim.advance(waybill.waybill_no, steps=2)
    events = carrier.track(waybill.waybill_no, phone=RECIPIENT.phone)
    assert [e.status for e in events][0] is Status.PICKED_UP and len(events) == 2
    with pytest.raises(CarrierError):  # collected: too late to cancel
        carrier.cancel("leg-0001", waybill.waybill_no)
    other = carrier.create_waybill(ShipmentRequest(leg_id="leg-0002", sender=SENDER, recipient=RECIPIENT,
                                                   weight_g=300))
    carrier.cancel("leg-0002", other.waybill_no)
    assert sim.waybills[other.waybill_no].cancelled


def test_sf_refuses_a_wrong_check_word_with_a1006(profiles):
    carrier, sim = _carrier("sf", profiles)
    sim.update({"check_word": "someone-elses-check-word"})
    with pytest.raises(CarrierError) as refused:
        carrier.create_waybill(ShipmentRequest(leg_id="leg-x", sender=SENDER, recipient=RECIPIENT, weight_g=100))
    assert refused.value.code == "bad_digest" and refused.value.carrier_code == "A1006" and sim.refused == 1


def test_bills_carry_the_faults_asked_for(profiles):
    carrier, sim = _carrier("sf", profiles)
    numbers = [carrier.create_waybill(ShipmentRequest(leg_id=f"leg-{i}", sender=SENDER, recipient=RECIPIENT,
                                                      weight_g=500)).waybill_no for i in range(4)]
    carrier.cancel("leg-3", numbers[3])
    sim.update({"bill_faults": {numbers[0]: ["weight"], numbers[1]: ["surcharge"], numbers[2]: ["twice"],
                                numbers[3]: ["bill_cancelled"]}})
    lines = parse_sf_bill(sim.bill(format_beijing(sim.waybills[numbers[0]].created_at, "%Y-%m")))
    assert [line.waybill_no for line in lines] == [numbers[0], numbers[1], numbers[2], numbers[2], numbers[3]]
    assert (lines[0].weight_g, lines[0].fee_fen) == (1500, 1400) and lines[1].surcharge_fen == 300
    fees = carrier.fetch_bill([numbers[0]])[0]
    assert (fees.weight_g, fees.fee_fen) == (1500, 1400)


def test_ems_bill_is_gbk(profiles):
    carrier, sim = _carrier("ems", profiles)
    number = carrier.create_waybill(ShipmentRequest(leg_id="leg-e", sender=SENDER, recipient=RECIPIENT,
                                                    weight_g=800)).waybill_no
    lines = parse_ems_bill(sim.bill(format_beijing(sim.waybills[number].created_at, "%Y-%m")))
    assert [(line.waybill_no, line.fee_fen, line.weight_g) for line in lines] == [(number, 1300, 800)]


class _Receiver:
    """Stands where a subscriber's callback URL points: keeps what is posted, answers like govlink."""

    def __init__(self):
        self.posts = []

    def post(self, url, data=None, **_kw):
        self.posts.append((url, data))
        return type("Answer", (), {"status_code": 200, "content": b'{"result":true,"returnCode":"200"}'})()


def test_kuaidi100_subscriptions_queries_and_signed_pushes(profiles):
    app = kuaidi100.create_app(Settings())
    sim = app.extensions["kuaidi100_sim"]
    receiver = sim.http = _Receiver()
    k100 = profiles.kuaidi100
    client = app.test_client()
    tracker = Kuaidi100Tracker(k100, _transport(client, "/kuaidi100"), carrier="ems")
    subscribe_url = k100.subscribe_url

    assert tracker.track("1151234567890") == []  # nothing subscribed, nothing scanned
    tracker.subscribe("1151234567890", phone="13805511234")
    (sub,) = sim.snapshot()["subscriptions"]
    assert sub == {"company": "ems", "number": "1151234567890", "callback_url": k100.callback_url, "scans": 0}
    assert k100.salt not in str(sim.snapshot())
    again = client.post(subscribe_url.split("/kuaidi100", 1)[1], data={"schema": "json", "param": (
        '{"company":"ems","number":"1151234567890","key":"%s","parameters":{"callbackurl":"http://x/cb"}}' % k100.key)})
    assert again.get_json() == {"result": False, "returnCode": "501", "message": "重复订阅"}
    tracker.subscribe("1151234567890")  # 501 counts as subscribed
    wrong_key = client.post("/poll", data={"schema": "json", "param": '{"company":"ems","number":"1","key":"x"}'})
    assert wrong_key.get_json()["returnCode"] == "600"
    no_number = client.post("/poll", data={"schema": "json", "param": '{"company":"ems","key":"%s"}' % k100.key})
    assert no_number.get_json()["returnCode"] == "700"

    sim.advance("1151234567890", steps=2)
    sim.advance("1151234567890", to="301", signed_by="门卫代收")
    assert [url for url, _ in receiver.posts] == [k100.callback_url] * 2
    last = parse_callback(_form_body(receiver.posts[-1][1]), k100.salt)  # signed with the subscription's salt
    assert last.monitor_status == "shutdown" and [e.raw_code for e in last.events] == ["303", "5", "1001", "1002", "103"]
    assert last.events[0].status is Status.DELIVERED and last.events[0].signed_by_other
    with pytest.raises(SignatureError):
        parse_callback(_form_body(receiver.posts[-1][1]), "another-salt")
    assert [e.raw_code for e in tracker.track("1151234567890")][0] == "303"  # the query sees the same trace
    forged = client.post("/poll/query.do", data={"customer": k100.customer, "sign": "0" * 32,
                                                 "param": '{"com":"ems","num":"1151234567890"}'})
    assert forged.get_json()["returnCode"] == "503"
    sim.update({"pushes": "drop"})
    sim.advance("1151234567890")  # nothing left of the trace: nothing pushed
    assert all(d["accepted"] for d in sim.snapshot()["deliveries"]) and len(receiver.posts) == 2


def _form_body(form: dict) -> bytes:
    from urllib.parse import urlencode

    return urlencode(form).encode()


@pytest.mark.parametrize(("language", "accepted"), [("0", True), ("1", True), ("2", True), ("zh-CN", False),
                                                    ("", False), (None, False)])
def test_sf_simulator_checks_the_route_query_language(language, accepted):
    """The simulator checks `language` against SF's route-query codes (0/1/2) on its own, so a builder
    sending a locale is caught here too (an error reply, as SF gives for a bad parameter)."""
    import json
    import time
    import uuid

    from logistics_bridge.carriers.sf import units as sf_units
    from logistics_bridge.carriers.sf.digest import build_form, dump_msg_data

    settings = Settings()
    app = sf_express.create_app(settings)
    msg = {"trackingType": 1, "trackingNumber": ["SF0000000000001"], "methodType": 1}
    if language is not None:
        msg["language"] = language
    form = build_form(partner_id=settings.sf_partner_id, request_id=str(uuid.uuid4()),
                      service_code=sf_units.SEARCH_ROUTES, timestamp_ms=int(time.time() * 1000),
                      msg_data=dump_msg_data(msg), check_word=settings.sf_check_word)
    reply = json.loads(app.test_client().post("/std/service", data=form).data)
    assert reply["apiResultCode"] == "A1000"
    data = json.loads(reply["apiResultData"])
    assert data["success"] is accepted, data
    if not accepted:
        assert "language" in data["errorMsg"]
