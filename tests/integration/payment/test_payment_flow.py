"""Flow 4 against the real stack: a citizen's notice paid on the simulated platforms, the signed
confirmation, `payment.paid` on RabbitMQ, the e-receipt, polling, duplicates, forgeries, refunds,
privacy, and the statements imported unchanged."""
from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from kernel.clock import beijing_today
from payment_bridge.channels.nontax import MAC_HEADER, http_headers
from payment_bridge.channels.nontax.confirmation import Confirmation, build_confirmation
from payment_bridge.channels.nontax.envelope import CfxHead
from payment_bridge.channels.nontax.replies import parse_confirmation_answer
from payment_bridge.channels.wechatpay import Transaction, build_notification, transaction_resource
from payment_bridge.profiles import DEV_KEY_DIR
from payment_bridge.statements import parse_nontax_statement, parse_wechat_bill, write_nontax_statement, \
    write_wechat_bill
from store.models.payment import PaymentConfirmation, PaymentStatementLine
from kernel.identifiers import make_uscc
from tests.integration.payment.conftest import notice_body, self_service_body

ENTERPRISE = make_uscc(org_body="MA2N0Q8X")  # the payer of the agency-created notices


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_citizen_creates_pays_and_gets_receipt(pay_stack, events, citizen):
    resident_id, token = citizen
    body = self_service_body(qty=3)
    key = f"portal-{uuid.uuid4().hex}"
    created = pay_stack.create(token, body, key)
    assert created.status_code == 201, created.get_json()
    notice = created.get_json()
    assert notice["status"] == "registered" and notice["total_fen"] == 3000
    assert len(notice["payment_code"]) == 20 and notice["payment_code"][8:10] == "30"
    assert notice["pay_url"].startswith(pay_stack.sim_url) and "*" in notice["payer_key"]
    assert events.wait_for("payment.registered", notice["id"])

    again = pay_stack.create(token, body, key)  # same key, same body: the original answer
    assert again.status_code == 201 and again.get_json()["id"] == notice["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    reused = pay_stack.create(token, {**body, "items": [{"code": "GA-0101", "quantity": 2}]}, key)
    assert reused.status_code == 409 and reused.get_json()["code"] == "idempotency_key_reused"

    pay_stack.pay(notice)
    paid = pay_stack.wait_status(token, notice["id"], "paid")
    assert paid["status"] == "paid" and paid["paid_fen"] == 3000
    assert [e["type"] for e in paid["history"]] == ["payment.registered", "payment.paid"]
    envelope = events.wait_for("payment.paid", notice["id"])
    assert envelope["client"] == "govlink/payment-bridge" and envelope["case_id"] == body["case_id"]
    assert envelope["payload"]["payment_code"] == notice["payment_code"]
    assert pay_stack.deliveries("nontax")[0]["answer"].count("00000") == 1  # our 8001 answer said ok

    receipt = pay_stack.get(token, f"/{notice['id']}/receipt")
    assert receipt.status_code == 200, receipt.get_json()
    assert receipt.get_json()["ebill_no"] and pay_stack.http.get(receipt.get_json()["download_url"]).status_code == 200

    listed = pay_stack.get(token).get_json()["notices"]
    assert notice["id"] in [n["id"] for n in listed]


def test_citizen_may_not_create_for_someone_else(pay_stack, citizen, other_citizen):
    r = pay_stack.create(citizen[1], {**self_service_body(), "payer_key": other_citizen[0]})
    assert r.status_code == 403 and r.get_json()["code"] == "forbidden"
    bad = pay_stack.create(citizen[1], {**self_service_body(),
                                        "payer_key": citizen[0][:17] + ("0" if citizen[0][17] != "0" else "1")})
    assert bad.status_code in (403, 422)
    # Nor an official notice of their own making (issue 15): only catalogue items, at the server's price.
    own = pay_stack.create(citizen[1], notice_body(citizen[0], case_id=f"CASE-{uuid.uuid4().hex[:8]}"))
    assert own.status_code == 403 and own.get_json()["code"] == "not_self_service"


def test_agency_validation_errors(pay_stack, agency_token):
    r = pay_stack.create(agency_token, notice_body("340104198506150215"))
    assert r.status_code == 422 and r.get_json()["code"] == "invalid_payer_key"
    r = pay_stack.create(agency_token, {**notice_body(ENTERPRISE), "agency_code": "nobody"})
    assert r.status_code == 422
    r = pay_stack.client.post("/api/v1/payments", json=notice_body(ENTERPRISE), headers=_auth(agency_token))
    assert r.status_code == 400 and r.get_json()["code"] == "idempotency_key_required"


def test_another_user_cannot_read_the_notice(pay_stack, citizen, other_citizen):
    notice = pay_stack.create(citizen[1], self_service_body()).get_json()
    theirs = pay_stack.get(other_citizen[1], f"/{notice['id']}")
    assert theirs.status_code == 404 and theirs.get_json()["code"] == "not_found"
    missing = pay_stack.get(other_citizen[1], f"/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.get_json()["message"] == theirs.get_json()["message"]
    assert pay_stack.get(other_citizen[1], f"/{notice['id']}/receipt").status_code == 404
    assert notice["id"] not in [n["id"] for n in pay_stack.get(other_citizen[1]).get_json()["notices"]]
    assert pay_stack.get(citizen[1], f"/{notice['id']}").status_code == 200


def test_lost_confirmation_is_found_by_polling(pay_stack, events, agency_token, db):
    pay_stack.control("nontax", callbacks="drop")
    notice = pay_stack.create(agency_token, notice_body(ENTERPRISE)).get_json()
    pay_stack.pay(notice)
    time.sleep(0.5)
    assert pay_stack.get(agency_token, f"/{notice['id']}").get_json()["status"] == "registered"
    # The scheduler polls every minute, the longest-unasked notices first (the shared test database
    # may hold many older ones): a few rounds reach this one.
    reports = []
    for _ in range(10):
        reports.append(pay_stack.service.poll(now=datetime.now(timezone.utc) + timedelta(minutes=5)))
        if pay_stack.get(agency_token, f"/{notice['id']}").get_json()["status"] == "paid":
            break
    assert sum(r.paid for r in reports) >= 1, reports
    assert pay_stack.get(agency_token, f"/{notice['id']}").get_json()["status"] == "paid"
    assert events.wait_for("payment.paid", notice["id"])["payload"]["source"] == "poll"
    with db.unit_of_work() as session:
        rows = session.execute(select(PaymentConfirmation).where(PaymentConfirmation.notice_id == notice["id"])).scalars().all()
    assert [r.source for r in rows] == ["poll"]


def test_duplicate_confirmations_have_one_effect(pay_stack, events, agency_token, db):
    pay_stack.control("nontax", callbacks="duplicate", copies=4)
    notice = pay_stack.create(agency_token, notice_body(ENTERPRISE)).get_json()
    pay_stack.pay(notice)
    assert pay_stack.wait_status(agency_token, notice["id"], "paid")["status"] == "paid"
    deadline = time.monotonic() + 10
    while len(pay_stack.deliveries("nontax")) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    answers = pay_stack.deliveries("nontax")
    assert len(answers) == 4 and all("00000" in a["answer"] for a in answers)  # each copy acknowledged
    with db.unit_of_work() as session:
        rows = session.execute(select(PaymentConfirmation).where(PaymentConfirmation.notice_id == notice["id"])).scalars().all()
    assert len(rows) == 1
    history = pay_stack.get(agency_token, f"/{notice['id']}").get_json()["history"]
    assert [e["type"] for e in history].count("payment.paid") == 1
    assert events.count("payment.paid", notice["id"]) == 1


def _nontax_push(stack, pay_code, amount_fen, *, token=None, payer=None):
    profile = stack.service.profiles
    head = CfxHead(src="340000NTS", des=profile.nontax.node, msg_id=uuid.uuid4().hex, work_date=beijing_today())
    body = build_confirmation(head, Confirmation(pay_code=pay_code, confirmed_at=datetime.now(timezone.utc).replace(microsecond=0),
                                                 amount_fen=amount_fen, pay_mode="3", tra_no_bus="B" + uuid.uuid4().hex[:20],
                                                 payer_credit_code=payer), profile=profile.code_profile)
    r = stack.http.post(f"{stack.gateway_url}/callbacks/payments/nontax", data=body,
                        headers=http_headers(body, token or profile.nontax.mac_token))
    answer = parse_confirmation_answer(r.content, r.headers[MAC_HEADER], profile.nontax.mac_token).body
    return r, answer


def test_forged_wrong_amount_unknown_and_stale_callbacks_are_refused(pay_stack, agency_token, caplog):
    caplog.set_level(logging.WARNING, logger="govlink.payments.callbacks")
    notice = pay_stack.create(agency_token, notice_body(ENTERPRISE)).get_json()
    code = notice["payment_code"]

    r, answer = _nontax_push(pay_stack, code, 3000, token="forged-token")
    assert r.status_code == 200 and answer.result == "99999" and "signature_invalid" in answer.information
    r, answer = _nontax_push(pay_stack, code, 2999)
    assert answer.result == "99999" and "amount_mismatch" in answer.information
    r, answer = _nontax_push(pay_stack, code, 3000, payer="340104198506150213")
    assert answer.result == "99999" and "payer_mismatch" in answer.information
    unknown = code[:10] + "9999999999"
    r, answer = _nontax_push(pay_stack, unknown, 3000)
    assert answer.result == "99999" and "unknown_notice" in answer.information

    wp = pay_stack.service.profiles.wechatpay
    platform_key = (DEV_KEY_DIR / "wechatpay-platform-private.pem").read_bytes()
    resource = transaction_resource(Transaction(
        appid=wp.appid, mchid=wp.mchid, out_trade_no=code, trade_state="SUCCESS", total_fen=3000,
        transaction_id="4200000000000000000000000001", trade_type="NATIVE",
        success_time=datetime.now(timezone.utc).replace(microsecond=0)))
    stale_headers, stale_body = build_notification(private_key=platform_key, serial=wp.platform_serial,
                                                   api_v3_key=wp.api_v3_key, resource=resource,
                                                   timestamp=int(time.time()) - 600)
    r = pay_stack.http.post(f"{pay_stack.gateway_url}/callbacks/payments/wechatpay", data=stale_body, headers=stale_headers)
    assert r.status_code == 401 and r.json()["code"] == "FAIL" and "signature_invalid" in r.json()["message"]
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers, body = build_notification(private_key=forger, serial=wp.platform_serial, api_v3_key=wp.api_v3_key,
                                       resource=resource)
    r = pay_stack.http.post(f"{pay_stack.gateway_url}/callbacks/payments/wechatpay", data=body, headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "FAIL"

    assert pay_stack.get(agency_token, f"/{notice['id']}").get_json()["status"] == "registered"
    refusals = [rec for rec in caplog.records if rec.getMessage().startswith("payment callback refused")]
    codes = {rec.error_code for rec in refusals}
    assert {"signature_invalid", "amount_mismatch", "payer_mismatch", "unknown_notice"} <= codes
    assert all("340104198506150213" not in rec.getMessage() for rec in refusals)


def test_partial_then_full_refund_then_a_third_is_refused(pay_stack, events, agency_token, finance_token, citizen):
    notice = pay_stack.create(agency_token, notice_body(ENTERPRISE, price=1000, qty=1)).get_json()
    pay_stack.pay(notice)
    assert pay_stack.wait_status(agency_token, notice["id"], "paid")["status"] == "paid"
    url = f"/api/v1/payments/{notice['id']}/refunds"

    denied = pay_stack.client.post(url, json={"refund_request_id": "citizen-try-1", "amount_fen": 1}, headers=_auth(citizen[1]))
    assert denied.status_code == 403
    first = {"refund_request_id": f"rf-{uuid.uuid4().hex[:12]}", "amount_fen": 300, "reason": "多收工本费"}
    r = pay_stack.client.post(url, json=first, headers=_auth(finance_token))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["refund"]["status"] == "succeeded" and r.get_json()["notice"]["status"] == "partly_refunded"
    replay = pay_stack.client.post(url, json=first, headers=_auth(finance_token))
    assert replay.status_code == 200 and replay.get_json()["notice"]["refunded_fen"] == 300
    too_much = pay_stack.client.post(url, json={"refund_request_id": f"rf-{uuid.uuid4().hex[:12]}", "amount_fen": 701},
                                     headers=_auth(finance_token))
    assert too_much.status_code == 409 and too_much.get_json()["code"] == "refund_exceeds_refundable"
    r = pay_stack.client.post(url, json={"refund_request_id": f"rf-{uuid.uuid4().hex[:12]}", "amount_fen": 700},
                              headers=_auth(finance_token))
    assert r.status_code == 201 and r.get_json()["notice"]["status"] == "refunded"
    third = pay_stack.client.post(url, json={"refund_request_id": f"rf-{uuid.uuid4().hex[:12]}", "amount_fen": 1},
                                  headers=_auth(finance_token))
    assert third.status_code == 409 and third.get_json()["code"] == "refund_not_allowed"
    detail = pay_stack.get(agency_token, f"/{notice['id']}").get_json()
    assert detail["refunded_fen"] == 1000 and [x["status"] for x in detail["refunds"]] == ["succeeded", "succeeded"]
    assert events.wait_for("payment.refunded", notice["id"])


def test_wechatpay_order_paid_refunded_and_bill_imported(pay_stack, events, agency_token, finance_token, db):
    notice = pay_stack.create(agency_token, notice_body(ENTERPRISE, platform="wechatpay")).get_json()
    assert notice["status"] == "registered" and notice["pay_url"].startswith("weixin://wxpay/")
    pay_stack.pay(notice)
    assert pay_stack.wait_status(agency_token, notice["id"], "paid")["status"] == "paid"
    assert events.wait_for("payment.paid", notice["id"])
    assert pay_stack.deliveries("wechatpay")[0]["status"] == 200
    r = pay_stack.client.post(f"/api/v1/payments/{notice['id']}/refunds", headers=_auth(finance_token),
                              json={"refund_request_id": f"wx-{uuid.uuid4().hex[:12]}", "amount_fen": 1000})
    assert r.status_code == 201 and r.get_json()["notice"]["status"] == "partly_refunded"

    statement, created = pay_stack.service.import_statement("wechatpay", beijing_today())
    assert created and statement.sha256 and statement.line_count >= 2
    bill = parse_wechat_bill(statement.raw)
    assert write_wechat_bill(list(bill.rows)) == statement.raw  # round trip, byte for byte
    assert statement.raw.splitlines()[1].startswith(b"`") and "总交易单数" in statement.raw.decode()
    refs = {(line.order_ref, line.status) for line in bill.lines}
    assert {(notice["payment_code"], "paid"), (notice["payment_code"], "refund")} <= refs
    # fees to five decimals (fractions of a fen), kept exactly: 0.60% of the amount in thousandths of a fen
    paid = next(line for line in bill.lines if (line.order_ref, line.status) == (notice["payment_code"], "paid"))
    assert paid.fee_mfen == paid.amount_fen * 6 and f",`{paid.fee_mfen // 100000}.{paid.fee_mfen % 100000:05d},`0.60%," \
        in statement.raw.decode()


def test_nontax_statement_is_imported_unchanged_and_round_trips(pay_stack, agency_token, db):
    notice = pay_stack.create(agency_token, notice_body(ENTERPRISE)).get_json()
    pay_stack.pay(notice)
    assert pay_stack.wait_status(agency_token, notice["id"], "paid")["status"] == "paid"
    statement, created = pay_stack.service.import_statement("nontax", beijing_today())
    assert created
    parsed = parse_nontax_statement(statement.raw)
    assert write_nontax_statement(parsed.statement_date, parsed.adm_div_code, list(parsed.lines)) == statement.raw
    with db.unit_of_work() as session:
        lines = session.execute(select(PaymentStatementLine).where(PaymentStatementLine.statement_id == statement.id)).scalars().all()
    assert notice["payment_code"] in {line.order_ref for line in lines}
    again, created_again = pay_stack.service.import_statement("nontax", beijing_today())
    assert again.id == statement.id and not created_again  # the same file twice: imported once



def _close(stack, token, notice_id, reason="办件撤回"):
    return stack.client.post(f"/api/v1/payments/{notice_id}/close", json={"reason": reason}, headers=_auth(token))


def _wait_deliveries(stack, system, count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while len(stack.deliveries(system)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return stack.deliveries(system)


def test_a_closed_nontax_notice_paid_anyway_is_refused_recorded_and_refundable(pay_stack, events, agency_token,
                                                                                finance_token, citizen, db):
    notice = pay_stack.create(agency_token, notice_body(ENTERPRISE, price=1000, qty=1)).get_json()
    assert _close(pay_stack, citizen[1], notice["id"]).status_code == 404  # not theirs to see
    r = _close(pay_stack, agency_token, notice["id"])  # the department system that created it
    assert r.status_code == 200, r.get_json()
    closed = r.get_json()
    assert closed["status"] == "cancelled" and closed["history"][-1]["type"] == "payment.cancelled"
    assert closed["history"][-1]["details"] == {"source": "close", "closed_at_platform": False, "reason": "办件撤回"}
    assert events.wait_for("payment.cancelled", notice["id"])
    again = _close(pay_stack, agency_token, notice["id"])
    assert again.status_code == 200 and len(again.get_json()["history"]) == len(closed["history"])  # idempotent

    # The non-tax platform cannot withdraw it: its pay page still takes the money, and pushes the 5996.
    pay_stack.control("nontax", callbacks="duplicate", copies=2)
    pay_stack.pay(notice)
    late = pay_stack.wait_status(agency_token, notice["id"], "paid_after_close")
    assert late["status"] == "paid_after_close" and late["paid_fen"] == 1000, late
    answers = _wait_deliveries(pay_stack, "nontax", 2)
    assert len(answers) == 2 and all("99999" in a["answer"] and "notice_closed" in a["answer"] for a in answers)
    envelope = events.wait_for("payment.paid_after_close", notice["id"])
    assert envelope["payload"]["previous_status"] == "cancelled" and envelope["payload"]["source"] == "callback"
    assert events.count("payment.paid", notice["id"]) == 0  # nothing downstream treats it as a payment
    with db.unit_of_work() as session:
        rows = session.execute(select(PaymentConfirmation).where(
            PaymentConfirmation.notice_id == notice["id"])).scalars().all()
    assert [r.outcome for r in rows] == ["paid_after_close"]  # two deliveries, one record
    assert _close(pay_stack, agency_token, notice["id"]).get_json()["status"] == "paid_after_close"

    url = f"/api/v1/payments/{notice['id']}/refunds"
    r = pay_stack.client.post(url, json={"refund_request_id": f"rf-{uuid.uuid4().hex[:12]}", "amount_fen": 1000,
                                         "reason": "关闭后缴款"}, headers=_auth(finance_token))
    assert r.status_code == 201 and r.get_json()["notice"]["status"] == "refunded", r.get_json()


def test_a_paid_notice_is_not_closed_and_strangers_may_not_close(pay_stack, agency_token, finance_token, citizen):
    notice = pay_stack.create(citizen[1], self_service_body(qty=3)).get_json()
    by_agency = _close(pay_stack, agency_token, notice["id"])
    assert by_agency.status_code == 404  # neither payer, creator nor staff: it does not exist for them
    pay_stack.pay(notice)
    assert pay_stack.wait_status(citizen[1], notice["id"], "paid")["status"] == "paid"
    r = _close(pay_stack, finance_token, notice["id"])
    assert r.status_code == 409 and r.get_json()["code"] == "notice_paid"
    assert r.get_json()["details"] == {"status": "paid", "refundable_fen": 3000}
    assert "refund" in r.get_json()["message"]
    assert pay_stack.get(citizen[1], f"/{notice['id']}").get_json()["status"] == "paid"
    for_them = pay_stack.create(agency_token, notice_body(citizen[0])).get_json()
    payer = _close(pay_stack, citizen[1], for_them["id"])  # the payer sees it, but did not issue it
    assert payer.status_code == 403 and payer.get_json()["code"] == "forbidden"
    assert pay_stack.get(citizen[1], f"/{for_them['id']}").get_json()["status"] == "registered"


def test_a_closed_wechatpay_order_is_withdrawn_and_refuses_payment(pay_stack, agency_token):
    notice = pay_stack.create(agency_token, notice_body(ENTERPRISE, platform="wechatpay")).get_json()
    r = _close(pay_stack, agency_token, notice["id"])
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    assert r.get_json()["history"][-1]["details"]["closed_at_platform"] is True
    attempt = pay_stack.http.post(f"{pay_stack.sim_url}/wechatpay/pay/{notice['payment_code']}",
                                  headers={"Accept": "application/json"})
    assert attempt.status_code == 400 and attempt.json()["code"] == "ORDER_CLOSED"
    assert pay_stack.deliveries("wechatpay") == []


def test_a_dropped_confirmation_of_a_closed_notice_is_found_by_polling(pay_stack, events, agency_token):
    pay_stack.control("nontax", callbacks="drop")
    notice = pay_stack.create(agency_token, notice_body(ENTERPRISE)).get_json()
    assert _close(pay_stack, agency_token, notice["id"]).status_code == 200
    pay_stack.pay(notice)
    reports = []
    for _ in range(10):  # the longest-unasked notices first, as in test_lost_confirmation_is_found_by_polling
        reports.append(pay_stack.service.poll(now=datetime.now(timezone.utc) + timedelta(minutes=5)))
        if pay_stack.get(agency_token, f"/{notice['id']}").get_json()["status"] == "paid_after_close":
            break
    assert sum(r.paid_after_close for r in reports) >= 1, reports
    assert events.wait_for("payment.paid_after_close", notice["id"])["payload"]["source"] == "poll"


def _abandoned_receipts() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("govlink_payments_receipt_search_abandoned_total") or 0.0


def test_an_e_receipt_never_found_in_its_window_is_given_up_loudly_once(pay_stack, agency_token, db, caplog):
    """Nothing silent: the poller searches a paid notice's missing e-receipt for RECEIPT_DAYS after its last
    change. When it stops, it says so once: an ERROR line (identifiers masked), the counter, and the notice's
    `receipt_search_abandoned_at`; later polls neither search it nor count it again."""
    from kernel.clock import utcnow
    from payment_bridge.handlers.poll import RECEIPT_DAYS
    from store.models.payment import PaymentNotice, PaymentReceipt

    notice = pay_stack.create(agency_token, notice_body(ENTERPRISE)).get_json()
    pay_stack.pay(notice)
    assert pay_stack.wait_status(agency_token, notice["id"], "paid")["status"] == "paid"
    with db.unit_of_work() as session:  # the platform never issued the e-receipt, and the window has passed
        receipt = session.get(PaymentReceipt, notice["id"])
        if receipt is not None:
            session.delete(receipt)
        session.get(PaymentNotice, notice["id"]).updated_at = utcnow() - timedelta(days=RECEIPT_DAYS, hours=1)
    before = _abandoned_receipts()
    with caplog.at_level(logging.ERROR, logger="govlink.payments"):
        pay_stack.service.poll(now=utcnow())
    given_up = [r for r in caplog.records if r.levelno == logging.ERROR and notice["id"] in r.getMessage()]
    assert len(given_up) == 1, caplog.records
    assert ENTERPRISE not in given_up[0].getMessage() and notice["payment_code"] not in given_up[0].getMessage()
    with db.unit_of_work() as session:
        abandoned_at = session.get(PaymentNotice, notice["id"]).receipt_search_abandoned_at
    assert abandoned_at is not None
    assert _abandoned_receipts() - before >= 1

    caplog.clear()
    counted = _abandoned_receipts()
    with caplog.at_level(logging.ERROR, logger="govlink.payments"):
        pay_stack.service.poll(now=utcnow())
        pay_stack.service.poll(now=utcnow() + timedelta(days=1))
    assert not [r for r in caplog.records if notice["id"] in r.getMessage()]
    with db.unit_of_work() as session:
        assert session.get(PaymentNotice, notice["id"]).receipt_search_abandoned_at == abandoned_at
        assert session.get(PaymentReceipt, notice["id"]) is None  # not searched any more
    said = [r for r in caplog.records if "gave up searching the e-receipt" in r.getMessage()]
    assert _abandoned_receipts() - counted == len(said)  # other notices of the shared database: each once too


def _receipt_checks(db, notices: list[dict]) -> list:
    from store.models.payment import PaymentNotice

    with db.unit_of_work() as session:
        return [session.get(PaymentNotice, n["id"]).receipt_check_at for n in notices]


def test_due_e_receipt_checks_are_taken_a_tick_at_a_time_and_moved_on(pay_stack, agency_token, db):
    """City scale (issue 18): a paid notice's e-receipt check is set as it is paid; a tick takes only the due
    checks, oldest first, up to its limit, and moves each on, so an e-receipt not issued yet is asked for again
    later, not every tick, and the next tick reaches the checks the last one left. The old poll read a month of
    paid notices every tick."""
    from kernel.clock import utcnow
    from store.models.payment import PaymentNotice, PaymentReceipt

    notices = [pay_stack.create(agency_token, notice_body(ENTERPRISE)).get_json() for _ in range(3)]
    for notice in notices:
        pay_stack.pay(notice)
        assert pay_stack.wait_status(agency_token, notice["id"], "paid")["status"] == "paid"
    now = utcnow()
    with db.unit_of_work() as session:
        for i, notice in enumerate(notices):
            assert session.get(PaymentReceipt, notice["id"]) is None
            row = session.get(PaymentNotice, notice["id"])
            assert row.receipt_check_at is not None and row.receipt_check_at <= now  # set as it was paid
            # Paid two days ago, checks due before any other test's: the oldest due are taken first.
            row.updated_at = now - timedelta(days=2)
            row.receipt_check_at = now - timedelta(days=2) + timedelta(seconds=i)
            # A code the platform has no payment for: it answers that no e-receipt was issued (yet).
            row.payment_code = notice["payment_code"][:-10] + f"9{uuid.uuid4().int % 10**9:09d}"
    pay_stack.service.poll(now=now, limit=2)
    first = _receipt_checks(db, notices)
    assert first[0] > now and first[1] > now and first[2] <= now, first
    pay_stack.service.poll(now=now, limit=2)
    second = _receipt_checks(db, notices)
    assert second[:2] == first[:2] and second[2] > now, second  # the third reached, the first two not again
    with db.unit_of_work() as session:  # the platform issues them; their checks come round (first again)
        for i, notice in enumerate(notices):
            row = session.get(PaymentNotice, notice["id"])
            row.payment_code, row.receipt_check_at = notice["payment_code"], now - timedelta(days=2, seconds=-i)
    report = pay_stack.service.poll(now=now, limit=3)
    assert report.receipts == 3, report
    with db.unit_of_work() as session:
        for notice in notices:
            assert session.get(PaymentReceipt, notice["id"]) is not None
            assert session.get(PaymentNotice, notice["id"]).receipt_check_at is None  # found: no more checks


def test_a_waiting_notice_is_asked_after_when_due_and_not_past_thirty_days_after_its_due_date(pay_stack, agency_token,
                                                                                               db):
    """City scale (issue 18): the poller asks the platform about a notice a payment may reach unseen when its
    check is due (set as it was registered, once a callback had time to come), moves the check on, and stops
    30 days after the due date; it no longer sorts a month of expired notices on every tick."""
    from kernel.clock import utcnow
    from store.models.payment import PaymentNotice

    pay_stack.control("nontax", callbacks="drop")
    notice = pay_stack.create(agency_token, notice_body(ENTERPRISE)).get_json()
    now = utcnow()
    with db.unit_of_work() as session:
        row = session.get(PaymentNotice, notice["id"])
        assert row.status == "registered" and now < row.platform_check_at <= now + timedelta(minutes=2)
        row.updated_at = now - timedelta(days=2)  # registered two days ago, due before any other test's notice
        row.platform_check_at = now - timedelta(days=2)
    pay_stack.service.poll(now=now, limit=1)
    with db.unit_of_work() as session:
        assert session.get(PaymentNotice, notice["id"]).platform_check_at == now + timedelta(hours=1)  # at most hourly
    pay_stack.service.poll(now=now, limit=1)  # not due: another notice's turn
    with db.unit_of_work() as session:
        row = session.get(PaymentNotice, notice["id"])
        assert row.platform_check_at == now + timedelta(hours=1)
        row.status, row.due_at = "expired", now - timedelta(days=31)  # expired long ago, never paid
        row.platform_check_at = now - timedelta(days=2)
    report = pay_stack.service.poll(now=now, limit=1)
    assert not report.errors, report.errors
    with db.unit_of_work() as session:
        row = session.get(PaymentNotice, notice["id"])
        assert row.platform_check_at is None and row.status == "expired"  # not asked, and never again
