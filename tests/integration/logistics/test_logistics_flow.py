"""Flow 5 against the real stack: postage paid through the payment bridge, the leg booked with SF or
EMS when `payment.paid` arrives on RabbitMQ, tracking by push (duplicated, reordered, dropped) and by
poll, cancellation at the carrier, a refused digest, privacy, Kuaidi100's signed pushes, courier bills."""
from __future__ import annotations

import time
import uuid

from sqlalchemy import select

from logistics_bridge.bills import parse_sf_bill, sha256_of
from logistics_bridge.carriers.kuaidi100 import make_callback, make_result
from store.models.logistics import CourierBill, ShipmentTrackingEvent
from tests.conftest import client_credentials_token


def _statuses(leg: dict) -> list[str]:
    return [event["status"] for event in leg["tracking"]]


def test_sf_leg_paid_booked_tracked_to_delivered(ship, events, citizen):
    resident_id, token = citizen
    created = ship.create_leg(token, carrier="sf", kind="results")
    assert created.status_code == 201, created.get_json()
    leg = created.get_json()
    assert leg["state"] == "awaiting_payment" and leg["waybill_no"] is None
    assert len(leg["pickup_code"]) == 6 and leg["pickup_code"].isdigit()
    assert leg["postage"]["postage_fen"] == 1200 and leg["postage"]["status"] == "registered"
    assert leg["recipient"]["phone"] == "138****1234" and leg["sender"]["name"] == "合肥市政务服务中心"
    assert "pickup_code" not in ship.leg(token, leg["id"])  # shown once

    ship.pay(leg)
    booked = ship.wait_leg(token, leg["id"], lambda l: l["state"] != "awaiting_payment")
    assert booked["state"] == "booked" and booked["tracking_status"] == "created", booked
    assert booked["waybill_no"].startswith("SF") and booked["postage"]["status"] == "paid"
    envelope = events.wait_for("shipment.booked", leg["id"])
    assert envelope["client"] == "govlink/logistics-bridge" and envelope["case_id"] == leg["case_id"]
    assert envelope["payload"]["waybill_no"] == booked["waybill_no"] and resident_id not in str(envelope)
    waybill = booked["waybill_no"]

    ship.advance("sf-express", waybill, steps=1)  # 54 收件
    assert ship.leg(token, leg["id"])["tracking_status"] == "picked_up"

    ship.control("sf-express", pushes="reorder")  # 30 and 31 arrive newest first
    ship.advance("sf-express", waybill, steps=2)
    after_reorder = ship.leg(token, leg["id"])
    assert after_reorder["tracking_status"] == "in_transit" and after_reorder["last_raw_code"] == "31"
    assert _statuses(after_reorder) == ["picked_up", "in_transit", "in_transit"]

    ship.control("sf-express", pushes="duplicate")  # every push twice
    ship.advance("sf-express", waybill, to="204")
    ship.control("sf-express", pushes="normal")
    ship.advance("sf-express", waybill, to="80")
    delivered = ship.leg(token, leg["id"])
    assert delivered["state"] == "closed" and delivered["tracking_status"] == "delivered"
    assert delivered["last_raw_code"] == "80" and delivered["signed_by_other"] is False
    assert [e["raw_code"] for e in delivered["tracking"]] == ["54", "30", "31", "204", "80"]
    assert all(d["accepted"] for d in ship.state("sf-express")["deliveries"])  # each push answered 0000

    queries = ship.state("sf-express")["calls"].get("EXP_RECE_SEARCH_ROUTES", 0)
    ship.repush("sf-express", waybill)  # the whole route again: known ids, no re-query, no change
    assert ship.leg(token, leg["id"]) == delivered
    assert ship.state("sf-express")["calls"].get("EXP_RECE_SEARCH_ROUTES", 0) == queries
    kinds = events.of(leg["id"])
    assert kinds == ["shipment.created", "shipment.booked", "shipment.picked_up", "shipment.in_transit",
                     "shipment.out_for_delivery", "shipment.delivered"], kinds


def test_an_out_of_order_push_does_not_move_a_leg_back(ship, citizen, events, db):
    _resident_id, token = citizen
    leg = ship.paid_and_booked(token, carrier="sf")
    ship.advance("sf-express", leg["waybill_no"], to="80")
    before = ship.leg(token, leg["id"])
    assert before["tracking_status"] == "delivered"
    published = events.of(leg["id"])
    queries = ship.state("sf-express")["calls"]["EXP_RECE_SEARCH_ROUTES"]
    # A late push of an earlier scan that SF never made (unsigned, so anyone could send it): it is
    # unknown, so govlink asks SF for the waybill's routes, which do not confirm it. Nothing moves.
    stale = {"Body": {"WaybillRoute": [{"id": "999999", "mailno": leg["waybill_no"], "orderid": leg["id"],
                                        "acceptTime": "2020-01-01 08:00:00", "acceptAddress": "合肥市",
                                        "remark": "快件在【合肥蜀山集散中心】完成分拣", "opCode": "30"}]}}
    r = ship.client.post("/callbacks/logistics/sf", json=stale)
    assert r.status_code == 200 and r.get_json()["return_code"] == "0000"
    assert ship.state("sf-express")["calls"]["EXP_RECE_SEARCH_ROUTES"] == queries + 1
    ship.repush("sf-express", leg["waybill_no"])  # and the real scans once more, oldest first
    assert ship.leg(token, leg["id"]) == before
    assert events.of(leg["id"]) == published
    with db.unit_of_work() as session:
        rows = session.execute(select(ShipmentTrackingEvent).where(ShipmentTrackingEvent.leg_id == leg["id"])).scalars().all()
    assert len(rows) == 5 and len({r.dedup_key for r in rows}) == 5
    assert ship.client.post("/callbacks/logistics/sf", data=b"not json").get_json()["return_code"] != "0000"


def test_a_poll_finds_a_missed_event(ship, citizen):
    _resident_id, token = citizen
    leg = ship.paid_and_booked(token, carrier="sf")
    ship.advance("sf-express", leg["waybill_no"], steps=1)
    ship.control("sf-express", pushes="drop")
    ship.advance("sf-express", leg["waybill_no"], steps=1)  # 30: dropped
    assert ship.leg(token, leg["id"])["tracking_status"] == "picked_up"
    report = ship.service.poll(older_than_seconds=0)
    assert report.polled >= 1 and not report.errors, report
    found = ship.leg(token, leg["id"])
    assert found["tracking_status"] == "in_transit" and found["last_raw_code"] == "30"
    assert [e["source"] for e in found["tracking"]] == ["sf", "sf"]


def test_ems_leg_paid_booked_tracked_and_signed_by_someone_else(ship, events, citizen):
    _resident_id, token = citizen
    leg = ship.paid_and_booked(token, carrier="ems", kind="results")
    assert leg["waybill_no"].startswith("11") and len(leg["waybill_no"]) == 13
    assert leg["postage"]["postage_fen"] == 1000
    ship.advance("ems", leg["waybill_no"], steps=2)
    assert ship.leg(token, leg["id"])["tracking_status"] == "in_transit"
    ship.control("ems", pushes="duplicate")
    ship.advance("ems", leg["waybill_no"], to="704", signed_by="门卫代收")
    delivered = ship.leg(token, leg["id"])
    assert delivered["tracking_status"] == "delivered" and delivered["state"] == "closed"
    assert delivered["signed_by_other"] is True and delivered["last_raw_code"] == "704"
    assert [e["raw_code"] for e in delivered["tracking"]] == ["203", "389", "954", "702", "704"]
    assert delivered["tracking"][-1]["signed_by_other"] is True
    assert all(d["accepted"] for d in ship.state("ems")["deliveries"])  # every copy answered 00000
    assert events.wait_for("shipment.delivered", leg["id"])["payload"]["signed_by_other"] is True
    assert events.of(leg["id"]).count("shipment.delivered") == 1


def test_a_cancelled_leg_is_cancelled_at_the_carrier(ship, events, citizen):
    _resident_id, token = citizen
    leg = ship.paid_and_booked(token, carrier="sf")
    r = ship.api("POST", token, f"/legs/{leg['id']}/cancel", {"reason": "改为窗口领取"})
    assert r.status_code == 200, r.get_json()
    cancelled = r.get_json()
    assert cancelled["state"] == "cancelled" and cancelled["tracking_status"] == "cancelled"
    assert ship.state("sf-express")["waybills"][leg["waybill_no"]]["cancelled"] is True
    assert ship.state("sf-express")["calls"]["EXP_RECE_UPDATE_ORDER"] == 1
    assert events.wait_for("shipment.cancelled", leg["id"])
    refunded = ship.wait_leg(token, leg["id"], lambda l: l["postage"]["status"] == "refunded")
    assert refunded["postage"]["status"] == "refunded"
    again = ship.api("POST", token, f"/legs/{leg['id']}/cancel", {})
    assert again.status_code == 200 and ship.state("sf-express")["calls"]["EXP_RECE_UPDATE_ORDER"] == 1

    ems = ship.paid_and_booked(token, carrier="ems")
    ship.advance("ems", ems["waybill_no"], steps=1)  # collected: too late
    late = ship.api("POST", token, f"/legs/{ems['id']}/cancel", {})
    assert late.status_code == 409 and late.get_json()["code"] == "already_picked_up"
    # The case may book a new leg of a kind whose leg was cancelled, but not a second live one.
    assert ship.create_leg(token, carrier="sf", case_id=cancelled["case_id"]).status_code == 201
    dup = ship.create_leg(token, carrier="sf", case_id=cancelled["case_id"])
    assert dup.status_code == 409 and dup.get_json()["code"] == "leg_exists"


def test_a_bad_digest_is_refused_by_sf_and_the_leg_says_so(ship, citizen):
    _resident_id, token = citizen
    ship.control("sf-express", check_word="not-our-check-word")  # SF expects another check word
    created = ship.create_leg(token, carrier="sf").get_json()
    ship.pay(created)
    failed = ship.wait_leg(token, created["id"], lambda l: l["state"] != "awaiting_payment")
    assert failed["state"] == "booking_failed" and failed["waybill_no"] is None
    assert failed["error"]["code"] == "bad_digest" and "A1006" in failed["error"]["message"]
    assert ship.state("sf-express")["refused"] >= 1
    assert "EXP_RECE_CREATE_ORDER" not in ship.state("sf-express")["calls"]


def test_another_user_cannot_see_the_leg(ship, citizen, other_citizen, clerk, finance):
    _resident_id, token = citizen
    leg = ship.create_leg(token, carrier="ems").get_json()
    for stranger in (other_citizen[1], finance):
        r = ship.api("GET", stranger, f"/legs/{leg['id']}")
        assert r.status_code == 404 and r.get_json()["code"] == "not_found"
        assert leg["id"] not in [l["id"] for l in ship.api("GET", stranger, "/legs").get_json()["legs"]]
        assert ship.api("POST", stranger, f"/legs/{leg['id']}/cancel", {}).status_code == 404
    missing = ship.api("GET", other_citizen[1], f"/legs/{uuid.uuid4()}")
    assert missing.get_json()["message"] == r.get_json()["message"]
    assert leg["id"] in [l["id"] for l in ship.api("GET", token, "/legs").get_json()["legs"]]
    assert ship.api("GET", clerk, f"/legs/{leg['id']}").status_code == 200  # staff see all
    for_other = ship.create_leg(other_citizen[1], applicant_key=_resident_id)
    assert for_other.status_code == 403


def test_leg_rules_from_the_service_settings(ship, citizen, clerk):
    resident_id, token = citizen
    r = ship.create_leg(token, service_code="340100-GA-HZ-02", kind="materials")
    assert r.status_code == 422 and r.get_json()["code"] == "leg_not_by_courier"
    r = ship.create_leg(token, address={"name": "王晓明", "phone": "12345", "province": "安徽", "city": "合肥市",
                                        "district": "包河区", "detail": "徽州大道1号"})
    assert r.status_code == 422 and r.get_json()["details"]["field"] == "phone"
    quote = ship.api("POST", token, "/quote", {"carrier": "sf", "weight_g": 2500})
    assert quote.get_json() == {"carrier": "sf", "weight_g": 2500, "postage_fen": 1600}
    by_clerk = ship.create_leg(clerk, kind="materials", applicant_key=resident_id, weight_g=1200)
    assert by_clerk.status_code == 201, by_clerk.get_json()
    body = by_clerk.get_json()
    assert body["sender"]["name"] == "王晓明" and body["recipient"]["name"] == "合肥市政务服务中心"
    assert body["postage"]["postage_fen"] == 1400
    assert body["id"] in [l["id"] for l in ship.api("GET", token, "/legs").get_json()["legs"]]  # the applicant's
    code = body["pickup_code"]
    wrong = "000000" if code != "000000" else "111111"
    assert ship.api("POST", clerk, f"/legs/{body['id']}/pickup", {"code": wrong}).status_code == 422
    assert ship.api("POST", clerk, f"/legs/{body['id']}/pickup", {"code": code}).get_json() == {"verified": True}
    assert ship.api("POST", token, f"/legs/{body['id']}/pickup", {"code": code}).status_code == 403


def test_kuaidi100_signed_pushes(ship, citizen):
    _resident_id, token = citizen
    leg = ship.paid_and_booked(token, carrier="sf")
    salt = ship.service.profiles.kuaidi100.salt
    result = make_result(leg["waybill_no"], "shunfeng", "0", [
        {"time": "2026-03-02 09:10:00", "ftime": "2026-03-02 09:10:00", "context": "快件已从合肥发出",
         "statusCode": "1002", "areaName": "合肥市"},
        {"time": "2026-03-02 08:00:00", "ftime": "2026-03-02 08:00:00", "context": "顺丰速运 已收取快件",
         "statusCode": "103", "areaName": "合肥市"}])
    form = make_callback(result, salt)
    forged = ship.client.post("/callbacks/logistics/kuaidi100", data={**form, "sign": "0" * 32})
    assert forged.status_code == 400 and forged.get_json()["result"] is False
    assert ship.leg(token, leg["id"])["tracking_status"] == "created"
    r = ship.client.post("/callbacks/logistics/kuaidi100", data=form)
    assert r.status_code == 200 and r.get_json() == {"result": True, "returnCode": "200", "message": "成功"}
    moved = ship.leg(token, leg["id"])
    assert moved["tracking_status"] == "in_transit" and {e["source"] for e in moved["tracking"]} == {"kuaidi100"}
    assert ship.client.post("/callbacks/logistics/kuaidi100", data=form).status_code == 200  # resent: no change
    assert ship.leg(token, leg["id"]) == moved


def test_courier_bill_with_faults_is_imported_unchanged(ship, citizen, finance, db):
    _resident_id, token = citizen
    heavy = ship.paid_and_booked(token, carrier="sf")
    twice = ship.paid_and_booked(token, carrier="sf")
    gone = ship.paid_and_booked(token, carrier="sf")
    assert ship.api("POST", token, f"/legs/{gone['id']}/cancel", {}).status_code == 200
    ship.control("sf-express", bill_faults={heavy["waybill_no"]: ["weight", "surcharge"],
                                            twice["waybill_no"]: ["twice"], gone["waybill_no"]: ["bill_cancelled"]})
    period = time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600))
    raw = ship.http.get(f"{ship.sim_url}/sf-express/bills/{period}").content
    r = ship.api("POST", finance, "/bills", {"carrier": "sf", "period": period})
    assert r.status_code in (200, 201), r.get_json()
    bill = r.get_json()
    lines = {}
    for line in bill["lines"]:
        lines.setdefault(line["waybill_no"], []).append(line)
    assert lines[heavy["waybill_no"]][0]["weight_g"] == 1500 and lines[heavy["waybill_no"]][0]["surcharge_fen"] == 300
    assert lines[heavy["waybill_no"]][0]["fee_fen"] == 1400  # billed on 1.5 kg; we quoted 0.5 kg
    assert len(lines[twice["waybill_no"]]) == 2
    assert lines[gone["waybill_no"]][0]["status"] == "billed"  # a waybill we cancelled, billed anyway
    with db.unit_of_work() as session:
        stored = session.get(CourierBill, bill["id"])
        assert stored.raw == raw and stored.sha256 == sha256_of(raw) == bill["sha256"]
    assert len(parse_sf_bill(raw)) == bill["line_count"]
    again = ship.api("POST", finance, "/bills", {"carrier": "sf", "period": period})
    assert again.status_code == 200 and again.get_json()["created"] is False and again.get_json()["id"] == bill["id"]
    assert ship.api("POST", token, "/bills", {"carrier": "sf", "period": period}).status_code == 403


def test_a_case_system_books_the_materials_leg_for_the_applicant(ship, settings, citizen):
    resident_id, token = citizen
    system = client_credentials_token(settings, "case-system")
    missing = ship.create_leg(system, kind="materials")
    assert missing.status_code == 422 and missing.get_json()["code"] == "applicant_key_required"
    created = ship.create_leg(system, kind="materials", applicant_key=resident_id, weight_g=2000)
    assert created.status_code == 201, created.get_json()
    leg = created.get_json()
    assert leg["postage"]["postage_fen"] == 1400 and leg["recipient"]["name"] == "合肥市政务服务中心"
    assert leg["id"] in [l["id"] for l in ship.api("GET", system, "/legs").get_json()["legs"]]
    assert ship.leg(token, leg["id"])["kind"] == "materials"  # the applicant sees it too
    ship.pay(leg)
    booked = ship.wait_leg(token, leg["id"], lambda l: l["state"] != "awaiting_payment")
    assert booked["state"] == "booked" and booked["sender"]["phone"] == "138****1234"


def _poll_until(ship, done, rounds=10):
    """Poll like the worker does (everything due at once); the shared database may hold older legs first."""
    reports = []
    for _ in range(rounds):
        reports.append(ship.service.poll(older_than_seconds=0))
        if done():
            break
    return reports


def test_cancelling_an_unpaid_leg_closes_its_postage_and_a_payment_is_refused(ship, events, citizen, db):
    _resident_id, token = citizen
    leg = ship.create_leg(token, carrier="sf").get_json()
    assert leg["postage"]["status"] == "registered"
    r = ship.api("POST", token, f"/legs/{leg['id']}/cancel", {"reason": "改为窗口领取"})
    assert r.status_code == 200, r.get_json()
    cancelled = r.get_json()
    assert cancelled["state"] == "cancelled" and cancelled["postage"]["status"] == "cancelled"
    (closing,) = [e for e in ship.service.payments.history(leg["postage"]["notice_id"])
                  if e.event_type == "payment.cancelled"]
    assert closing.details == {"source": "close", "closed_at_platform": False, "reason": "寄递取消"}
    assert ship.api("POST", token, f"/legs/{leg['id']}/cancel", {}).get_json()["postage"]["status"] == "cancelled"

    # The non-tax platform has no withdrawal message: its pay page still takes the money and confirms it.
    # govlink refuses the confirmation (notice_closed), keeps it as paid_after_close, and books nothing.
    ship.pay(leg)
    late = ship.wait_leg(token, leg["id"], lambda l: l["postage"]["status"] != "cancelled")
    assert late["postage"]["status"] == "paid_after_close" and late["state"] == "cancelled"
    assert late["waybill_no"] is None and "EXP_RECE_CREATE_ORDER" not in ship.state("sf-express")["calls"]
    (answer,) = [d["answer"] for d in ship.state("nontax")["deliveries"] if d["ref"] == leg["postage"]["payment_code"]]
    assert "99999" in answer and "notice_closed" in answer
    assert "shipment.booked" not in events.of(leg["id"])

    # The poller gives the postage back, once.
    _poll_until(ship, lambda: ship.leg(token, leg["id"])["postage"]["status"] == "refunded")
    refunds = ship.service.payments.refunds_of(leg["postage"]["notice_id"])
    assert ship.leg(token, leg["id"])["postage"]["status"] == "refunded"
    assert [(r.refund_request_id, r.status) for r in refunds] == [(f"leg-cancel-{leg['id']}", "succeeded")]


def test_cancelling_an_unpaid_wechatpay_leg_withdraws_the_order(ship, citizen):
    _resident_id, token = citizen
    leg = ship.create_leg(token, carrier="ems", platform="wechatpay").get_json()
    assert leg["postage"]["status"] == "registered"
    cancelled = ship.api("POST", token, f"/legs/{leg['id']}/cancel", {}).get_json()
    assert cancelled["postage"]["status"] == "cancelled"
    attempt = ship.try_to_pay(leg)  # WeChat Pay refuses: the order was closed there
    assert attempt.status_code == 400 and attempt.json()["code"] == "ORDER_CLOSED"
    assert ship.leg(token, leg["id"])["postage"]["status"] == "cancelled"


def test_a_leg_tracked_through_kuaidi100_is_subscribed_and_gets_its_pushes(ship, events, citizen):
    _resident_id, token = citizen
    leg = ship.paid_and_booked(token, carrier="ems")  # config/logistics.yaml: EMS is tracked through Kuaidi100
    waybill = leg["waybill_no"]
    envelope = events.wait_for("shipment.tracking_subscribed", leg["id"])
    assert envelope["payload"]["via"] == "kuaidi100" and envelope["payload"]["waybill_no"] == waybill
    subscriptions = {s["number"]: s for s in ship.state("kuaidi100")["subscriptions"]}
    assert subscriptions[waybill]["company"] == "ems"
    assert subscriptions[waybill]["callback_url"] == f"{ship.gateway_url}/callbacks/logistics/kuaidi100"

    ship.kuaidi100_advance(waybill, steps=2)  # 103 揽收, 1002 干线: pushed, salt-signed, to that URL
    moved = ship.leg(token, leg["id"])
    assert moved["tracking_status"] == "in_transit" and moved["last_raw_code"] == "1002"
    assert [(e["source"], e["raw_code"]) for e in moved["tracking"]] == [("kuaidi100", "103"), ("kuaidi100", "1002")]
    ship.control("kuaidi100", pushes="duplicate")
    ship.kuaidi100_advance(waybill, to="301", signed_by="门卫代收")
    delivered = ship.leg(token, leg["id"])
    assert delivered["state"] == "closed" and delivered["tracking_status"] == "delivered"
    assert delivered["signed_by_other"] is True and delivered["last_raw_code"] == "303"
    assert [e["raw_code"] for e in delivered["tracking"]] == ["103", "1002", "1001", "5", "303"]
    deliveries = ship.state("kuaidi100")["deliveries"]
    # One push per change, the whole trace each time (Kuaidi100's lastResult); the last one twice.
    assert len(deliveries) == 3 and all(d["accepted"] for d in deliveries)  # every copy answered 200
    assert events.of(leg["id"]).count("shipment.delivered") == 1
    assert ship.service.subscriptions.subscribe_tracking(leg["id"]) is False  # closed: nothing more to follow


def test_a_failed_kuaidi100_subscription_is_retried_and_the_poller_asks_kuaidi100(ship, events, citizen):
    _resident_id, token = citizen
    ship.control("kuaidi100", mode="fail")  # Kuaidi100 answers HTTP 500
    leg = ship.paid_and_booked(token, carrier="ems")
    waybill = leg["waybill_no"]
    assert waybill not in {s["number"] for s in ship.state("kuaidi100")["subscriptions"]}
    assert "shipment.tracking_subscribed" not in events.of(leg["id"])
    ship.control("kuaidi100", mode="normal")
    _poll_until(ship, lambda: "shipment.tracking_subscribed" in events.of(leg["id"], settle=0))
    assert waybill in {s["number"] for s in ship.state("kuaidi100")["subscriptions"]}
    assert events.of(leg["id"]).count("shipment.tracking_subscribed") == 1
    assert ship.service.subscriptions.subscribe_tracking(leg["id"]) is True  # Kuaidi100 answers 501: still subscribed
    assert events.of(leg["id"]).count("shipment.tracking_subscribed") == 1

    ship.control("kuaidi100", pushes="drop")
    ship.kuaidi100_advance(waybill, steps=1)  # 103: the push is lost
    assert ship.leg(token, leg["id"])["tracking_status"] == "created"
    _poll_until(ship, lambda: ship.leg(token, leg["id"])["tracking_status"] == "picked_up")
    found = ship.leg(token, leg["id"])
    assert found["tracking_status"] == "picked_up" and [e["source"] for e in found["tracking"]] == ["kuaidi100"]
    assert ship.state("kuaidi100")["calls"].get("query", 0) >= 1


class _NoticeStateSpy:
    """The payment side as logistics sees it, recording which notices the poll asks about."""

    def __init__(self, payments):
        self.payments = payments
        self.asked: list[str] = []

    def notice_states(self, notice_ids):
        self.asked += list(notice_ids)
        return self.payments.notice_states(notice_ids)

    def __getattr__(self, name):
        return getattr(self.payments, name)


def test_the_poll_looks_only_at_cancelled_legs_whose_postage_is_due(ship, citizen, db, monkeypatch):
    """Issue 18: a poll's work is what is due, not the history: a cancelled leg records when its postage is
    looked at again, and the poll asks the payment side (its interface, one call) about those only."""
    from datetime import timedelta

    from kernel.clock import utcnow
    from store.models.logistics import ShipmentLeg

    _resident_id, token = citizen
    spy = _NoticeStateSpy(ship.service.payments)
    monkeypatch.setattr(ship.service.polling, "payments", spy)
    leg = ship.create_leg(token, carrier="sf").get_json()
    notice_id = leg["postage"]["notice_id"]
    assert ship.api("POST", token, f"/legs/{leg['id']}/cancel", {}).get_json()["postage"]["status"] == "cancelled"
    with db.unit_of_work() as session:  # closed: watched for a late payment, not due yet
        check_at = session.get(ShipmentLeg, leg["id"]).postage_check_at
    assert check_at is not None and check_at > utcnow()
    ship.service.poll()
    assert notice_id not in spy.asked  # not due: not asked about

    ship.pay(leg)  # the non-tax platform takes the money anyway: paid_after_close
    ship.wait_leg(token, leg["id"], lambda l: l["postage"]["status"] == "paid_after_close")
    with db.unit_of_work() as session:  # time passes: the look is due
        session.get(ShipmentLeg, leg["id"]).postage_check_at = utcnow() - timedelta(seconds=1)
    report = ship.service.poll()
    assert notice_id in spy.asked and report.settled >= 1, report
    assert ship.leg(token, leg["id"])["postage"]["status"] == "refunded"
    with db.unit_of_work() as session:  # the refund asked for: settled, never looked at again
        assert session.get(ShipmentLeg, leg["id"]).postage_check_at is None
    spy.asked.clear()
    ship.service.poll(older_than_seconds=0)  # even "everything pending now" leaves it out
    assert notice_id not in spy.asked


def _abandoned_watches() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("govlink_logistics_postage_watch_abandoned_total") or 0.0


def test_a_closed_postage_watched_past_its_window_is_given_up_loudly_once(ship, citizen, db, caplog):
    """Nothing silent: a cancelled leg's closed postage notice is watched for a late payment for
    postage_watch_days after the cancel. When the watch ends, the poller says so once: an ERROR line, the
    counter, and the leg's `postage_watch_abandoned_at`; the leg is not looked at again."""
    import logging
    from datetime import timedelta

    from kernel.clock import utcnow
    from store.models.logistics import ShipmentLeg

    _resident_id, token = citizen
    leg = ship.create_leg(token, carrier="sf").get_json()
    assert ship.api("POST", token, f"/legs/{leg['id']}/cancel", {}).get_json()["postage"]["status"] == "cancelled"
    watch = timedelta(days=ship.service.profiles.postage_watch_days)
    with db.unit_of_work() as session:  # the watch window has passed without a payment: the look is due
        row = session.get(ShipmentLeg, leg["id"])
        row.closed_at = utcnow() - watch - timedelta(hours=1)
        row.postage_check_at = utcnow() - timedelta(seconds=1)
    before = _abandoned_watches()
    with caplog.at_level(logging.ERROR, logger="govlink.logistics"):
        ship.service.poll()
    given_up = [r for r in caplog.records if r.levelno == logging.ERROR and leg["id"] in r.getMessage()]
    assert len(given_up) == 1, caplog.records
    assert leg["postage"]["payment_code"] not in given_up[0].getMessage()
    with db.unit_of_work() as session:
        row = session.get(ShipmentLeg, leg["id"])
        assert row.postage_check_at is None and row.postage_watch_abandoned_at is not None
        abandoned_at = row.postage_watch_abandoned_at
    assert _abandoned_watches() - before >= 1

    caplog.clear()
    counted = _abandoned_watches()
    with caplog.at_level(logging.ERROR, logger="govlink.logistics"):
        ship.service.poll(older_than_seconds=0)
        ship.service.cancelling.settle_postage(leg["id"], "test")  # looked at again by hand: still once
    assert not [r for r in caplog.records if leg["id"] in r.getMessage()]
    with db.unit_of_work() as session:
        assert session.get(ShipmentLeg, leg["id"]).postage_watch_abandoned_at == abandoned_at
    said = [r for r in caplog.records if "gave up watching the closed postage" in r.getMessage()]
    assert _abandoned_watches() - counted == len(said)  # other legs of the shared database: each once too


def test_legs_never_paid_do_not_hold_the_poll_at_its_limit(ship, citizen, db, monkeypatch):
    """Issue 18: the poll took the oldest legs awaiting payment on every round, so once more legs than its
    limit were never paid, the others (a paid leg whose event was missed) were never reached. Each leg
    asked after now gets its next check later (sooner while young, at most daily)."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update

    from kernel.clock import utcnow
    from store.models.logistics import ShipmentLeg

    _resident_id, token = citizen
    spy = _NoticeStateSpy(ship.service.payments)
    monkeypatch.setattr(ship.service.polling, "payments", spy)
    legs = [ship.create_leg(token, carrier="sf", case_id=f"CASE-UNPAID-{uuid.uuid4().hex[:8]}").get_json()
            for _ in range(3)]
    long_ago = datetime(2000, 1, 1, tzinfo=timezone.utc)  # due before anything else in the shared database
    with db.unit_of_work() as session:
        session.execute(update(ShipmentLeg).where(ShipmentLeg.payment_check_at <= long_ago + timedelta(days=1))
                        .values(payment_check_at=utcnow() + timedelta(days=1)))  # an interrupted run's legs
        for n, leg in enumerate(legs):
            row = session.get(ShipmentLeg, leg["id"])
            row.created_at, row.payment_check_at = long_ago, long_ago + timedelta(seconds=n)
    notices = [leg["postage"]["notice_id"] for leg in legs]
    ship.service.poll(limit=2)
    assert spy.asked == notices[:2]
    with db.unit_of_work() as session:  # unpaid for decades: asked after again in a day
        later = [session.get(ShipmentLeg, leg["id"]).payment_check_at for leg in legs[:2]]
    assert all(at > utcnow() + timedelta(hours=23) for at in later), later
    spy.asked.clear()
    ship.service.poll(limit=2)
    assert spy.asked[0] == notices[2]  # the third is reached, not the first two again
    assert notices[0] not in spy.asked and notices[1] not in spy.asked
