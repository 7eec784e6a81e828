"""Issue 15, finding 6: joining someone else's case by quoting its id, replayed on the real stack.

Before the fix, a citizen who quoted another person's `case_id` in a service call became an
applicant of that case: they read its timeline, filed complaints and rated it first. A case is owned
by whoever created it (the first authoritative mention: see SECURITY.md, "Threat model: conditional
grants"); a person quoting a case they do not own is refused with 404 `case_not_found`, the same
answer whether the case exists or not, and nothing is recorded for them.
"""
from __future__ import annotations

import uuid

from sqlalchemy import text

from tests.integration.supervision.conftest import (auth, citizen, clerk, other_citizen, stack,  # noqa: F401
                                                    supervisor, SERVICE_CODE)
from tests.support.addresses import ADDRESS

NOT_YOURS = 404


def _new_case() -> str:
    return f"CASE-OWN-{uuid.uuid4().hex[:10]}"


def _own_call(stack, person, case_id):  # noqa: F811
    return stack.call(person[1], stack.registry, "verify-identity", {"name": "孙测试", "id_number": person[0]}, case_id)


def test_quoting_someone_elses_case_does_not_make_you_its_applicant(stack, citizen, other_citizen):  # noqa: F811
    case_id = _new_case()
    assert _own_call(stack, citizen, case_id).status_code == 200
    attempt = _own_call(stack, other_citizen, case_id)
    assert attempt.status_code == NOT_YOURS and attempt.get_json()["code"] == "case_not_found", attempt.get_json()
    # The refused call did not reach the bus: nothing in the case's log is the attacker's.
    stack.flush_logs()
    with stack.runtime.db.unit_of_work() as session:
        calls = session.execute(text("SELECT count(*) FROM service_calls WHERE case_id = :c"), {"c": case_id}).scalar_one()
    assert calls == 1
    timeline = stack.client.get(f"/api/v1/supervision/cases/{case_id}/timeline", headers=auth(other_citizen[1]))
    assert timeline.status_code == 404
    complaint = stack.client.post(f"/api/v1/supervision/cases/{case_id}/complaints", json={"text": "我的办件"},
                                  headers=auth(other_citizen[1]))
    assert complaint.status_code == 404
    rating = stack.client.post(f"/api/v1/supervision/cases/{case_id}/satisfaction", json={"rating": 1},
                               headers=auth(other_citizen[1]))
    assert rating.status_code == 404
    # The owner still sees their case and may complain about it.
    assert stack.client.get(f"/api/v1/supervision/cases/{case_id}/timeline", headers=auth(citizen[1])).status_code == 200
    mine = stack.client.post(f"/api/v1/supervision/cases/{case_id}/complaints", json={"text": "太慢了"},
                             headers=auth(citizen[1]))
    assert mine.status_code == 201, mine.get_json()


def test_a_case_cannot_be_joined_through_a_delivery_or_a_notice(stack, citizen, other_citizen):  # noqa: F811
    case_id = _new_case()
    assert _own_call(stack, citizen, case_id).status_code == 200
    leg = stack.api("POST", other_citizen[1], "/logistics/legs", {
        "case_id": case_id, "service_code": SERVICE_CODE, "kind": "results", "carrier": "sf", "address": ADDRESS})
    assert leg.status_code == NOT_YOURS and leg.get_json()["code"] == "case_not_found", leg.get_json()
    notice = stack.client.post("/api/v1/payments", json={"case_id": case_id, "items": [{"code": "SJ-YJ-01"}]},
                               headers={**auth(other_citizen[1]), "Idempotency-Key": f"own-{uuid.uuid4().hex}"})
    assert notice.status_code == NOT_YOURS and notice.get_json()["code"] == "case_not_found", notice.get_json()
    assert stack.client.get(f"/api/v1/supervision/cases/{case_id}/timeline",
                            headers=auth(other_citizen[1])).status_code == 404


def test_a_case_created_by_staff_for_an_applicant_belongs_to_the_applicant(stack, citizen, other_citizen, clerk):  # noqa: F811
    case_id = _new_case()
    by_clerk = stack.api("POST", clerk, "/logistics/legs", {
        "case_id": case_id, "service_code": SERVICE_CODE, "kind": "results", "carrier": "sf", "address": ADDRESS,
        "applicant_key": citizen[0]})
    assert by_clerk.status_code == 201, by_clerk.get_json()
    assert stack.client.get(f"/api/v1/supervision/cases/{case_id}/timeline", headers=auth(citizen[1])).status_code == 200
    assert _own_call(stack, citizen, case_id).status_code == 200  # the applicant goes on with their case
    assert _own_call(stack, other_citizen, case_id).status_code == NOT_YOURS
    assert stack.client.get(f"/api/v1/supervision/cases/{case_id}/timeline",
                            headers=auth(other_citizen[1])).status_code == 404


def test_an_unknown_case_and_someone_elses_answer_alike(stack, citizen, other_citizen):  # noqa: F811
    theirs = _new_case()
    assert _own_call(stack, citizen, theirs).status_code == 200
    a = stack.client.get(f"/api/v1/supervision/cases/{theirs}/timeline", headers=auth(other_citizen[1]))
    b = stack.client.get(f"/api/v1/supervision/cases/{_new_case()}/timeline", headers=auth(other_citizen[1]))
    assert a.status_code == b.status_code == 404 and a.get_json()["message"] == b.get_json()["message"]
