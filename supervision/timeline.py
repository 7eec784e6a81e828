"""A case's timeline (全流程): every envelope with the case id, in order, with what happened, which
system, who acted (masked), the outcome and how long it took.

Sources, joined on the case id:
- the message log (every envelope in and out; copies of one message count once);
- payment notice events and delivery leg events (their outbox rows, in case one is not logged yet);
- the carriers' tracking scans of the case's legs;
- the department calls' records (`service_calls`: the department's own duration and final status);
- the supervised steps (their deadlines), attached to the entry that started them.

A request and its reply (the reply's causation id is the request's message id) are one entry: the
outcome comes from the reply, the duration from the call record (time in the department) or else
from request to reply. Any other entry's duration is the time since the previous entry of the same
correlation (a notice's previous state, a leg's previous event).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select

from config.logging import mask_identifiers
from payment_bridge.api import SETTLED_STATES
from store.models.bus import MessageLogRecord, ServiceCall
from store.models.logistics import Shipment, ShipmentLeg, ShipmentLegEvent, ShipmentTrackingEvent
from store.models.payment import PaymentNotice, PaymentNoticeEvent
from store.models.supervision import SupervisionStep
from supervision.deadlines import issued_at, outcome_of, system_of

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
REPLY_SUFFIXES = (".result", ".reply", ".failed")
FAILED_TRACKING = {"delivery_failed", "refused", "return_to_sender"}


@dataclass
class Entry:
    at: datetime
    type: str
    system: str | None
    actor: str | None  # masked
    outcome: str  # ok | failed | pending
    duration_ms: int | None
    source: str  # bus | payment | logistics | tracking
    operation: str | None = None
    status: str | None = None  # the state the step left things in (paid, booked, delivered ...)
    message_id: str | None = None
    details: dict = field(default_factory=dict)
    deadline: dict | None = None


@dataclass
class Timeline:
    case_id: str
    entries: list[Entry]
    finished: bool

    @property
    def empty(self) -> bool:
        return not self.entries


def mask_actor(user: str | None) -> str | None:
    """Who acted, fit to show: identifiers masked, a Keycloak subject shortened."""
    if not user:
        return None
    if _UUID.match(user):
        return f"{user[:8]}…"
    return mask_identifiers(user)


def _is_reply(envelope: dict) -> bool:
    return bool(envelope.get("causation_id")) and envelope.get("type", "").endswith(REPLY_SUFFIXES) \
        and envelope.get("request_hash") is not None


def _status(envelope: dict) -> str | None:
    payload = envelope.get("payload") or {}
    for key in ("status", "tracking_status", "state"):
        if isinstance(payload.get(key), str):
            return payload[key]
    return None


def _ms(later: datetime, earlier: datetime) -> int:
    return max(0, int((later - earlier).total_seconds() * 1000))


def assemble(envelopes: list[tuple[dict, str]], calls: dict[str, dict] | None = None,
             tracking: list[dict] | None = None, steps: list[dict] | None = None) -> list[Entry]:
    """The entries of a timeline (pure).

    `envelopes`: (envelope, source) in log order, copies allowed; `calls`: message id ->
    {"status", "duration_ms", "error"} of department calls; `tracking`: scans as dicts with leg_id,
    status, occurred_at, source, location, description; `steps`: supervised steps as dicts with
    start_message_id, step, due_at, ended_at, overdue, warned, escalated.
    """
    calls = calls or {}
    seen: dict[str, tuple[dict, str]] = {}
    for envelope, source in envelopes:
        seen.setdefault(str(envelope["message_id"]), (envelope, source))
    replies: dict[str, dict] = {}
    for envelope, _source in seen.values():
        if _is_reply(envelope) and envelope["causation_id"] in seen:
            replies.setdefault(envelope["causation_id"], envelope)
    folded = {str(r["message_id"]) for r in replies.values()}
    by_start = {s["start_message_id"]: s for s in steps or ()}

    entries: list[Entry] = []
    previous_in_thread: dict[str, datetime] = {}
    ordered = sorted(seen.values(), key=lambda pair: issued_at(pair[0]))
    for envelope, source in ordered:
        mid = str(envelope["message_id"])
        if mid in folded:
            continue
        at = issued_at(envelope)
        reply = replies.get(mid)
        call = calls.get(mid)
        if reply is not None:
            outcome = outcome_of(reply)
            duration = call["duration_ms"] if call and call.get("duration_ms") is not None else _ms(issued_at(reply), at)
            status = "failed" if outcome == "failed" else "succeeded"
            error = (reply.get("payload") or {}).get("error")
            details = {"error": error.get("code")} if isinstance(error, dict) else {}
        elif call is not None:
            outcome = {"succeeded": "ok", "failed": "failed"}.get(call["status"], "pending")
            duration, status, details = call.get("duration_ms"), call["status"], {}
        else:
            thread = envelope.get("correlation_id")
            before = previous_in_thread.get(thread) if thread else None
            duration = _ms(at, before) if before is not None else None
            outcome, status, details = outcome_of(envelope), _status(envelope), {}
            if envelope.get("type") == "service.call":
                outcome = "pending"
        if envelope.get("correlation_id"):
            previous_in_thread[envelope["correlation_id"]] = at
        entry = Entry(at=at, type=envelope["type"], system=system_of(envelope), actor=mask_actor(envelope.get("user")),
                      outcome=outcome, duration_ms=duration, source=source, operation=envelope.get("operation"),
                      status=status, message_id=mid, details=details)
        step = by_start.get(mid)
        if step is not None:
            entry.deadline = _deadline(step)
        entries.append(entry)

    last_scan: dict[str, datetime] = {}
    for scan in sorted(tracking or (), key=lambda s: s["occurred_at"]):
        before = last_scan.get(scan["leg_id"])
        entries.append(Entry(at=scan["occurred_at"], type=f"tracking.{scan['status']}", system=f"courier/{scan['source']}",
                             actor=None, outcome="failed" if scan["status"] in FAILED_TRACKING else "ok",
                             duration_ms=_ms(scan["occurred_at"], before) if before else None, source="tracking",
                             status=scan["status"],
                             details={"location": scan.get("location") or "", "description": scan.get("description") or ""}))
        last_scan[scan["leg_id"]] = scan["occurred_at"]
    entries.sort(key=lambda e: e.at)
    return entries


def _deadline(step: dict) -> dict:
    state = "escalated" if step.get("escalated") else "warned" if step.get("warned") else \
        "overdue" if step.get("overdue") else "done" if step.get("ended_at") else "running"
    return {"step": step["step"], "due_at": step["due_at"], "ended_at": step.get("ended_at"),
            "overdue": bool(step.get("overdue")), "state": state}


def case_timeline(session, case_id: str) -> Timeline:
    """Read every source of case `case_id` and assemble its timeline."""
    envelopes: list[tuple[dict, str]] = []
    for body in session.execute(select(MessageLogRecord.body).where(MessageLogRecord.case_id == case_id)
                                .order_by(MessageLogRecord.seq)).scalars():
        envelope = _parse(body)
        if envelope is not None:
            envelopes.append((envelope, _source_of(envelope)))
    notices = session.execute(select(PaymentNotice).where(PaymentNotice.case_id == case_id)).scalars().all()
    if notices:
        for row in session.execute(select(PaymentNoticeEvent.envelope)
                                   .where(PaymentNoticeEvent.notice_id.in_([n.id for n in notices]))
                                   .order_by(PaymentNoticeEvent.id)).scalars():
            envelope = _parse(row)
            if envelope is not None:
                envelopes.append((envelope, "payment"))
    legs = session.execute(select(ShipmentLeg).join(Shipment, Shipment.id == ShipmentLeg.shipment_id)
                           .where(Shipment.case_id == case_id)).scalars().all()
    tracking = []
    if legs:
        leg_ids = [leg.id for leg in legs]
        for row in session.execute(select(ShipmentLegEvent.envelope).where(ShipmentLegEvent.leg_id.in_(leg_ids))
                                   .order_by(ShipmentLegEvent.id)).scalars():
            envelope = _parse(row)
            if envelope is not None:
                envelopes.append((envelope, "logistics"))
        for scan in session.execute(select(ShipmentTrackingEvent).where(ShipmentTrackingEvent.leg_id.in_(leg_ids))).scalars():
            tracking.append({"leg_id": scan.leg_id, "status": scan.status, "occurred_at": scan.occurred_at,
                             "source": scan.source, "location": scan.location, "description": scan.description})
    calls = {c.message_id: {"status": c.status, "duration_ms": c.duration_ms, "created_at": c.created_at,
                            "service": c.service, "operation": c.operation, "client": c.client, "user": c.user_masked}
             for c in session.execute(select(ServiceCall).where(ServiceCall.case_id == case_id)).scalars()}
    logged = {str(e["message_id"]) for e, _ in envelopes}
    for mid, call in calls.items():  # a call whose log record is not written yet still shows
        if mid not in logged:
            envelopes.append(({"message_id": mid, "type": "service.call", "service": call["service"],
                               "operation": call["operation"], "client": call["client"], "user": call["user"],
                               "issued_at": call["created_at"], "correlation_id": None, "payload": {}}, "bus"))
    steps = [{"start_message_id": s.start_message_id, "step": s.step, "due_at": s.due_at, "ended_at": s.ended_at,
              "overdue": s.overdue, "warned": s.warned_at is not None, "escalated": s.escalated_at is not None}
             for s in session.execute(select(SupervisionStep).where(SupervisionStep.case_id == case_id)).scalars()]
    entries = assemble(envelopes, calls, tracking, steps)
    return Timeline(case_id, entries, finished=is_finished(calls.values(), notices, legs))


def is_finished(calls, notices, legs) -> bool:
    """A case is finished when something was done for it and nothing is still under way: every
    department call answered, every payment notice settled (paid, expired, cancelled or refunded),
    every delivery leg closed, cancelled or delivered."""
    calls, notices, legs = list(calls), list(notices), list(legs)
    if not (calls or notices or legs):
        return False
    return all(c["status"] != "accepted" for c in calls) \
        and all(n.status in SETTLED_STATES for n in notices) \
        and all(leg.state in ("closed", "cancelled") or leg.tracking_status == "delivered" for leg in legs)


def _parse(body: str) -> dict | None:
    try:
        envelope = json.loads(body)
    except ValueError:
        return None
    return envelope if isinstance(envelope, dict) and envelope.get("message_id") and envelope.get("type") else None


def _source_of(envelope: dict) -> str:
    prefix = envelope["type"].split(".", 1)[0]
    return {"payment": "payment", "shipment": "logistics", "supervision": "supervision"}.get(prefix, "bus")


def utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)
