"""Issue 15, finding 11: citizens issued official fee notices, replayed on the real stack.

The attack: a citizen (real Keycloak token) POSTs /api/v1/payments with any agency code, a free-text
item ("罚款(自拟)"), any price and any payer name, pays it and gets a fiscal e-receipt. Now a citizen
creates only the self-service items of `config/fees.yaml`, at the catalogue's price, with the caller
as payer; other notices come from clerks or department service accounts.
"""
from __future__ import annotations

import uuid

from payment_bridge.fees import fee_catalogue
from tests.integration.payment.conftest import notice_body
from tests.security.conftest import assert_error, new_key, nothing_stored_for_key


def _citizen_body(code: str, quantity: int = 1) -> dict:
    return {"case_id": f"CASE-FEE-{uuid.uuid4().hex[:10]}", "items": [{"code": code, "quantity": quantity}]}


def test_a_citizen_cannot_invent_a_fine(sec, citizen):
    resident_id, token = citizen
    invented = {"agency_code": "340100-GA-JJ", "payer_key": resident_id, "payer_name": "张三",
                "case_id": f"CASE-FEE-{uuid.uuid4().hex[:10]}",
                "items": [{"code": "FK-0001", "name": "罚款(自拟)", "unit": "次", "unit_price_fen": 1, "quantity": 1}]}
    key = new_key()
    r = sec.create(token, invented, key)
    body = assert_error(r, 403, "not_self_service")
    assert set(body["details"]["server_sets"]) >= {"agency_code", "payer_name", "items[].name", "items[].unit_price_fen"}
    assert nothing_stored_for_key(sec.runtime.db, key)
    # A code that is not in the catalogue is refused too, even with nothing else set.
    key = new_key()
    assert_error(sec.create(token, _citizen_body("FK-0001"), key), 403, "not_self_service")
    assert nothing_stored_for_key(sec.runtime.db, key)


def test_a_citizen_cannot_issue_a_notice_in_someone_elses_name(sec, citizen):
    r = sec.create(citizen[1], {**_citizen_body("SJ-YJ-01"), "payer_key": "340104198506150215"})
    assert_error(r, 403, "forbidden")


def test_a_citizen_creates_a_self_service_item_at_the_server_price(sec, citizen):
    resident_id, token = citizen
    item = fee_catalogue().get("SJ-YJ-01")
    assert "person" in item.creators
    r = sec.create(token, _citizen_body("SJ-YJ-01", quantity=2))
    assert r.status_code == 201, r.get_json()
    notice = r.get_json()
    assert notice["agency_code"] == item.agency_code and notice["payer_name"] == "王测试"
    assert notice["items"] == [{"code": "SJ-YJ-01", "name": item.name, "unit": item.unit,
                                "unit_price_fen": item.price_fen, "quantity": 2, "amount_fen": 2 * item.price_fen}]
    assert notice["total_fen"] == 2 * item.price_fen
    assert notice["payer_key"] != resident_id  # masked


def test_departments_and_clerks_still_issue_any_declared_notice(sec, agency_token, citizen):
    r = sec.create(agency_token, notice_body(citizen[0], case_id=f"CASE-FEE-{uuid.uuid4().hex[:10]}"))
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["items"][0]["unit_price_fen"] == 1500
