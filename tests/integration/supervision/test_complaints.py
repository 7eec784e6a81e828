"""A complaint goes from filed to closed; the applicant sees the reply, nobody else sees it."""
from __future__ import annotations

import uuid

from tests.integration.supervision.conftest import auth


def test_complaint_filed_assigned_replied_closed(stack, citizen, other_citizen, supervisor, clerk):
    resident_id, token = citizen
    case_id = f"CASE-SV-{uuid.uuid4().hex[:10]}"
    assert stack.call(token, stack.registry, "verify-identity", {"name": "孙测试", "id_number": resident_id},
                      case_id).status_code == 200
    stack.flush_logs()
    base = "/api/v1/supervision"

    assert stack.client.post(f"{base}/cases/{case_id}/complaints", json={"text": "别人的投诉"},
                             headers=auth(other_citizen[1])).status_code == 404
    filed = stack.client.post(f"{base}/cases/{case_id}/complaints", json={"text": "办理时间过长，请核实。"}, headers=auth(token))
    assert filed.status_code == 201, filed.get_json()
    complaint = filed.get_json()
    assert complaint["status"] == "filed" and complaint["case_id"] == case_id
    cid = complaint["id"]

    assert stack.client.get(f"{base}/complaints/{cid}", headers=auth(other_citizen[1])).status_code == 404
    assert cid not in [c["id"] for c in stack.client.get(f"{base}/complaints", headers=auth(other_citizen[1])).get_json()["complaints"]]
    assert cid in [c["id"] for c in stack.client.get(f"{base}/complaints", headers=auth(token)).get_json()["complaints"]]
    listed = stack.client.get(f"{base}/complaints?status=filed&case_id={case_id}", headers=auth(supervisor)).get_json()
    assert [c["id"] for c in listed["complaints"]] == [cid]

    assert stack.client.post(f"{base}/complaints/{cid}/assign", json={"assignee": "x"}, headers=auth(token)).status_code == 403
    assert stack.client.post(f"{base}/complaints/{cid}/assign", json={"assignee": "x"}, headers=auth(clerk)).status_code == 403
    assigned = stack.client.post(f"{base}/complaints/{cid}/assign", json={"assignee": "市数据资源局 王科长"}, headers=auth(supervisor))
    assert assigned.status_code == 200 and assigned.get_json()["status"] == "assigned"
    early = stack.client.post(f"{base}/complaints/{cid}/close", headers=auth(supervisor))
    assert early.status_code == 409 and early.get_json()["code"] == "invalid_transition"
    replied = stack.client.post(f"{base}/complaints/{cid}/reply", json={"reply": "已督促部门在2个工作日内办结。"},
                                headers=auth(supervisor))
    assert replied.status_code == 200 and replied.get_json()["status"] == "replied"
    closed = stack.client.post(f"{base}/complaints/{cid}/close", headers=auth(supervisor))
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert stack.client.post(f"{base}/complaints/{cid}/reply", json={"reply": "again"},
                             headers=auth(supervisor)).status_code == 409

    mine = stack.client.get(f"{base}/complaints/{cid}", headers=auth(token)).get_json()
    assert mine["status"] == "closed" and mine["reply"] == "已督促部门在2个工作日内办结。"
    assert [h["status"] for h in mine["history"]] == ["filed", "assigned", "replied", "closed"]
    assert mine["replied_at"].endswith("+08:00")
    stats = stack.client.get(f"{base}/statistics", headers=auth(supervisor)).get_json()
    assert stats["complaints"]["closed"] >= 1
