"""The SF and EMS stand-ins speak the formats our adapters speak (in process, no network)."""
from __future__ import annotations

import pytest

from config.settings import Settings
from logistics_bridge.address import validate_address
from logistics_bridge.bills import parse_ems_bill, parse_sf_bill
from logistics_bridge.carriers.base import ShipmentRequest, TransportResponse
from logistics_bridge.carriers.ems import EmsCarrier
from logistics_bridge.carriers.sf import SfCarrier
from logistics_bridge.errors import CarrierError
from logistics_bridge.profiles import load_profiles
from logistics_bridge.tracking import Status
from logistics_bridge.wire import format_beijing
from simulators import ems, sf_express

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
