"""A case through a department call, a payment and a delivery shows every step in its timeline,
to its applicant and to supervisors only; the applicant rates the finished case once (R10, R13)."""
from __future__ import annotations

import uuid

from tests.integration.supervision.conftest import SERVICE_CODE, auth
from tests.support.addresses import ADDRESS


def _deliver_results(stack, token, case_id) -> dict:
    created = stack.api("POST", token, "/logistics/legs", {"case_id": case_id, "service_code": SERVICE_CODE,
                                                          "kind": "results", "carrier": "sf", "address": ADDRESS})
    assert created.status_code == 201, created.get_json()
    leg = created.get_json()
    paid = stack.http.post(leg["postage"]["pay_url"], data={"pay_mode": "3"}, headers={"Accept": "application/json"})
    assert paid.status_code == 200, paid.text
    get = lambda: stack.api("GET", token, f"/logistics/legs/{leg['id']}").get_json()
    booked = stack.wait(get, lambda l: l["state"] != "awaiting_payment")
    assert booked["state"] == "booked", booked
    r = stack.http.post(f"{stack.sim_url}/sf-express/_control/advance", json={"waybill_no": booked["waybill_no"], "to": "80"})
    assert r.status_code == 200, r.text
    delivered = stack.wait(get, lambda l: l["tracking_status"] == "delivered")
    assert delivered["tracking_status"] == "delivered", delivered
    return delivered


def test_case_timeline_has_every_step_for_its_applicant_and_supervisors(stack, citizen, other_citizen, supervisor):
    resident_id, token = citizen
    case_id = f"CASE-SV-{uuid.uuid4().hex[:10]}"
    call = stack.call(token, stack.registry, "verify-identity", {"name": "孙测试", "id_number": resident_id}, case_id)
    assert call.status_code == 200, call.get_json()
    leg = _deliver_results(stack, token, case_id)
    stack.flush_logs()

    r = stack.client.get(f"/api/v1/supervision/cases/{case_id}/timeline", headers=auth(token))
    assert r.status_code == 200, r.get_json()
    timeline = r.get_json()
    types = [e["type"] for e in timeline["entries"]]
    for expected in ("service.call", "shipment.created", "payment.registered", "payment.paid", "shipment.booked",
                     "shipment.delivered", "tracking.delivered"):
        assert expected in types, (expected, types)
    assert "service.result" not in types  # the reply is folded into its request
    assert len([t for t in types if t == "payment.paid"]) == 1  # logged in and out, shown once
    call_entry = next(e for e in timeline["entries"] if e["type"] == "service.call")
    assert call_entry["system"] == stack.registry and call_entry["operation"] == "verify-identity"
    assert call_entry["outcome"] == "ok" and call_entry["duration_ms"] is not None
    paid = next(e for e in timeline["entries"] if e["type"] == "payment.paid")
    assert paid["system"] == "payment/nontax" and paid["status"] == "paid" and paid["duration_ms"] is not None
    assert next(e for e in timeline["entries"] if e["type"] == "shipment.booked")["system"] == "courier/sf"
    ats = [e["at"] for e in timeline["entries"]]
    assert ats == sorted(ats) and all(a.endswith("+08:00") for a in ats)  # in order, Beijing time at the edge
    assert resident_id not in r.get_data(as_text=True)  # nobody's identifiers unmasked
    assert timeline["finished"] is True and leg["case_id"] == case_id

    # Another applicant: as if the case did not exist. A supervisor: everything.
    theirs = stack.client.get(f"/api/v1/supervision/cases/{case_id}/timeline", headers=auth(other_citizen[1]))
    missing = stack.client.get(f"/api/v1/supervision/cases/CASE-NOPE-{uuid.uuid4().hex[:6]}/timeline", headers=auth(token))
    assert theirs.status_code == 404 and missing.status_code == 404
    assert theirs.get_json()["message"] == missing.get_json()["message"]
    seen = stack.client.get(f"/api/v1/supervision/cases/{case_id}/timeline", headers=auth(supervisor))
    assert seen.status_code == 200 and len(seen.get_json()["entries"]) == len(timeline["entries"])

    # Satisfaction: the applicant, once; nobody else.
    rating = {"rating": 5, "comment": "很快"}
    assert stack.client.post(f"/api/v1/supervision/cases/{case_id}/satisfaction", json=rating,
                             headers=auth(other_citizen[1])).status_code == 404
    assert stack.client.post(f"/api/v1/supervision/cases/{case_id}/satisfaction", json=rating,
                             headers=auth(supervisor)).status_code == 403
    first = stack.client.post(f"/api/v1/supervision/cases/{case_id}/satisfaction", json=rating, headers=auth(token))
    assert first.status_code == 201, first.get_json()
    again = stack.client.post(f"/api/v1/supervision/cases/{case_id}/satisfaction", json={"rating": 1}, headers=auth(token))
    assert again.status_code == 409 and again.get_json()["code"] == "already_rated"
    bad = stack.client.post(f"/api/v1/supervision/cases/{case_id}/satisfaction", json={"rating": 6}, headers=auth(token))
    assert bad.status_code == 422
    shown = stack.client.get(f"/api/v1/supervision/cases/{case_id}/timeline", headers=auth(token)).get_json()
    assert shown["satisfaction"]["rating"] == 5


def test_an_unfinished_case_cannot_be_rated(stack, citizen):
    _resident_id, token = citizen
    case_id = f"CASE-SV-{uuid.uuid4().hex[:10]}"
    r = stack.call(token, stack.held, "list-licences", {"holder_id": citizen[0]}, case_id, Prefer="respond-async")
    assert r.status_code == 202, r.get_json()
    stack.flush_logs()
    timeline = stack.client.get(f"/api/v1/supervision/cases/{case_id}/timeline", headers=auth(token)).get_json()
    assert timeline["finished"] is False and timeline["entries"][0]["outcome"] == "pending"
    refused = stack.client.post(f"/api/v1/supervision/cases/{case_id}/satisfaction", json={"rating": 4}, headers=auth(token))
    assert refused.status_code == 409 and refused.get_json()["code"] == "case_not_finished"
