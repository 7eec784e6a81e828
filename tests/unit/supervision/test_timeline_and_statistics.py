"""The pure parts of the timeline, the statistics, complaints and the page's helpers."""
from datetime import datetime, timedelta, timezone

import pytest
from werkzeug.datastructures import LanguageAccept

from routes.console_i18n import pick_language, translator
from supervision.console import bar_chart
from supervision.feedback import FeedbackError, next_status
from supervision.statistics import StepRow, percentile, summarise
from supervision.timeline import assemble, mask_actor

T0 = datetime(2026, 5, 11, 2, 0, tzinfo=timezone.utc)
SUBJECT = "5b0c6a4e-2f3d-4c1b-9a8e-1234567890ab"


def env(type_, mid, seconds, **extra):
    return {"message_id": mid, "type": type_, "issued_at": (T0 + timedelta(seconds=seconds)).isoformat(),
            "client": "channel/mobile-app", "payload": {}, "correlation_id": extra.pop("correlation_id", "c"), **extra}


def test_request_and_reply_fold_into_one_entry_with_the_department_duration():
    call = env("service.call", "m1", 0, service="population-registry", operation="verify-identity", user=SUBJECT)
    reply = env("service.result", "r1", 2, causation_id="m1", request_hash="0" * 64, service="population-registry")
    paid = env("payment.paid", "p2", 70, correlation_id="notice-1", payload={"status": "paid", "platform": "nontax"})
    registered = env("payment.registered", "p1", 10, correlation_id="notice-1", payload={"status": "registered", "platform": "nontax"})
    entries = assemble([(call, "bus"), (call, "bus"), (reply, "bus"), (registered, "payment"), (paid, "payment")],
                       calls={"m1": {"status": "succeeded", "duration_ms": 1234}},
                       steps=[{"start_message_id": "p1", "step": "payment", "due_at": T0 + timedelta(days=7),
                               "ended_at": T0 + timedelta(seconds=70), "overdue": False}])
    assert [e.type for e in entries] == ["service.call", "payment.registered", "payment.paid"]
    first = entries[0]
    assert first.outcome == "ok" and first.duration_ms == 1234 and first.system == "population-registry"
    assert first.actor == "5b0c6a4e…" and SUBJECT not in str(first)
    assert entries[1].deadline["state"] == "done" and entries[1].system == "payment/nontax"
    assert entries[2].duration_ms == 60_000 and entries[2].status == "paid"


def test_failed_reply_unanswered_call_and_tracking_scans():
    call = env("service.call", "m1", 0, service="e-licence")
    failed = env("service.call.failed", "f1", 5, causation_id="m1", request_hash="1" * 64,
                 payload={"error": {"code": "timeout", "message": "x"}})
    waiting = env("service.call", "m2", 6, service="e-licence")
    scans = [{"leg_id": "L", "status": "picked_up", "occurred_at": T0 + timedelta(hours=1), "source": "sf"},
             {"leg_id": "L", "status": "delivered", "occurred_at": T0 + timedelta(hours=3), "source": "sf",
              "location": "合肥市"}]
    entries = assemble([(call, "bus"), (failed, "bus"), (waiting, "bus")], tracking=scans)
    assert entries[0].outcome == "failed" and entries[0].details == {"error": "timeout"} and entries[0].duration_ms == 5000
    assert entries[1].outcome == "pending"
    assert [e.type for e in entries[2:]] == ["tracking.picked_up", "tracking.delivered"]
    assert entries[3].duration_ms == 2 * 3600 * 1000 and entries[3].system == "courier/sf"


def test_mask_actor_masks_identifiers():
    assert "**" in mask_actor("340104198506150215") and "0215" in mask_actor("340104198506150215")
    assert mask_actor(None) is None


def test_percentiles_and_groups():
    assert percentile([], 50) is None
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    rows = [StepRow("department-reply", "A", "svc-1", "svc-1", 100, True, False, False),
            StepRow("department-reply", "A", "svc-1", "svc-1", 300, True, True, True),
            StepRow("department-reply", "B", "svc-1", "svc-1", None, False, True, False),
            StepRow("payment", "B", "340100-GA-JJ", "payment/nontax", 5000, True, False, False)]
    groups = {g.key: g for g in summarise(rows, {"A": 5, "B": 3}, "service")}
    svc = groups["svc-1"]
    assert (svc.steps, svc.open, svc.finished, svc.overdue, svc.failed) == (3, 1, 2, 2, 1)
    assert svc.median_ms == 200 and svc.overdue_rate == pytest.approx(0.6667) and svc.failure_rate == 0.5
    assert svc.satisfaction == 4.0 and svc.ratings == 2
    assert groups["340100-GA-JJ"].satisfaction == 3.0


def test_complaint_transitions():
    assert next_status("filed", "assign") == "assigned"
    assert next_status("assigned", "reply") == "replied"
    assert next_status("replied", "close") == "closed"
    with pytest.raises(FeedbackError) as refused:
        next_status("filed", "close")
    assert refused.value.status == 409
    with pytest.raises(FeedbackError):
        next_status("closed", "reply")


def test_language_choice_and_charts():
    assert pick_language(None, None, LanguageAccept([("en-US", 1), ("zh-CN", 0.5)])) == "en"
    assert pick_language(None, None, LanguageAccept([])) == "zh"
    assert pick_language("en", "zh", None) == "en" and pick_language("xx", "en", None) == "en"
    assert translator("zh", "supervision")("warnings") == "预警" and translator("en", "supervision")("warnings") == "Warnings"
    chart = bar_chart("p95", [("a", 2.0), ("b", 1.0)], width=400, label_width=100)
    assert chart.bars[0].width == 2 * chart.bars[1].width and chart.height > 0
    assert bar_chart("empty", []).bars == []
