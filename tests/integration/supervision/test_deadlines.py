"""A step held back past its deadline (a department that never answers, a controllable clock)
raises `supervision.warning` and then `supervision.escalation`, once each; the warnings list, the
case timeline, the statistics and /metrics reflect it."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bootstrap.table import process_table
from store.models.supervision import SupervisionAlert, SupervisionStep
from supervision.check import run_check
from supervision.deadlines import FixedClock
from tests.integration.supervision.conftest import auth


def test_held_back_step_warns_then_escalates_once_each(stack, citizen, supervisor, events):
    _resident_id, token = citizen
    case_id = f"CASE-SV-{uuid.uuid4().hex[:10]}"
    held = stack.call(token, stack.held, "list-licences", {"holder_id": citizen[0]}, case_id, Prefer="respond-async")
    assert held.status_code == 202, held.get_json()
    answered = stack.call(token, stack.registry, "verify-identity", {"name": "孙测试", "id_number": citizen[0]}, case_id)
    assert answered.status_code == 200, answered.get_json()
    stack.flush_logs()
    clock = FixedClock(datetime.now(timezone.utc))
    only = (stack.held, stack.registry)

    report = run_check(stack.runtime, clock=clock, services=only)
    with stack.runtime.db.unit_of_work() as s:
        steps = {st.service: st for st in s.execute(select(SupervisionStep).where(SupervisionStep.case_id == case_id)).scalars()}
    assert set(steps) == {stack.held, stack.registry}, report
    assert steps[stack.registry].ended_at is not None and steps[stack.registry].outcome == "ok"
    assert steps[stack.held].ended_at is None and steps[stack.held].warned_at is None
    assert events.of(case_id, settle=0.3) == []

    clock.advance(seconds=31)  # past the 30 s a department has to answer
    first = run_check(stack.runtime, clock=clock, services=only)
    assert first.warnings == 1 and first.escalations == 0, first
    clock.advance(seconds=60)
    assert run_check(stack.runtime, clock=clock, services=only).warnings == 0  # once
    assert events.of(case_id) == ["supervision.warning"]

    warnings = stack.client.get("/api/v1/supervision/warnings", headers=auth(supervisor)).get_json()["warnings"]
    mine = [w for w in warnings if w["case_id"] == case_id]
    assert len(mine) == 1 and mine[0]["level"] == "warning" and mine[0]["due_at"].endswith("+08:00")
    assert stack.client.get("/api/v1/supervision/warnings", headers=auth(token)).status_code == 403

    clock.advance(seconds=300)  # still open past the escalation limit
    later = run_check(stack.runtime, clock=clock, services=only)
    assert later.escalations == 1 and later.warnings == 0, later
    clock.advance(days=2)
    quiet = run_check(stack.runtime, clock=clock, services=only)
    assert quiet.warnings == quiet.escalations == 0
    assert events.of(case_id) == ["supervision.warning", "supervision.escalation"]
    with stack.runtime.db.unit_of_work() as s:
        alerts = s.execute(select(SupervisionAlert).where(SupervisionAlert.case_id == case_id)).scalars().all()
    assert sorted(a.kind for a in alerts) == ["escalation", "warning"] and all(a.published_at for a in alerts)

    stack.flush_logs()
    timeline = stack.client.get(f"/api/v1/supervision/cases/{case_id}/timeline", headers=auth(token)).get_json()
    held_entry = next(e for e in timeline["entries"] if e["type"] == "service.call" and e["system"] == stack.held)
    assert held_entry["outcome"] == "pending" and held_entry["deadline"]["state"] == "escalated"
    assert {"supervision.warning", "supervision.escalation"} <= {e["type"] for e in timeline["entries"]}

    # Statistics per service and per department system reflect it, through the API and /metrics.
    stats = stack.client.get("/api/v1/supervision/statistics", headers=auth(supervisor)).get_json()
    by_system = {g["key"]: g for g in stats["by_system"]}
    assert by_system[stack.held]["steps"] == 1 and by_system[stack.held]["open"] == 1
    assert by_system[stack.held]["overdue_rate"] == 1.0
    registry = by_system[stack.registry]
    assert registry["finished"] >= 1 and registry["median_ms"] is not None and registry["p95_ms"] is not None
    assert registry["failure_rate"] == 0.0
    assert stats["open_warnings"] >= 1
    one = stack.client.get(f"/api/v1/supervision/statistics?service={stack.held}", headers=auth(supervisor)).get_json()
    assert [g["key"] for g in one["by_service"]] == [stack.held]
    assert stack.client.get("/api/v1/supervision/statistics", headers=auth(token)).status_code == 403
    metrics = stack.client.get("/metrics", headers={"Authorization": f"Bearer {stack.app.extensions['govlink'].settings.metrics_token}"}).get_data(as_text=True)
    assert f'govlink_supervision_overdue_ratio{{dimension="system",key="{stack.held}"}} 1.0' in metrics
    assert "govlink_supervision_up 1.0" in metrics and "govlink_http_requests_total" in metrics


def test_the_check_is_a_scheduled_job_every_minute():
    job = process_table().jobs["supervision.check"]
    assert job.every_seconds == 60 and job.period(datetime(2026, 5, 11, 8, 0, 30, tzinfo=timezone.utc)) == "2026-05-11T08:00:00Z"
