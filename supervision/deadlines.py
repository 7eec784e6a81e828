"""The deadline engine: which envelope starts a supervised step, which ends it, when it is due.

Pure: no I/O, and the time comes from an injectable `Clock`, so a test can hold a step back past
its deadline by moving the clock instead of waiting. `supervision.check` feeds it envelopes from
the message log and stores what it decides.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol

from supervision.calendar import WorkingCalendar

ANY_SERVICE = "*"
PAIRINGS = ("causation", "correlation")


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real time (UTC)."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@dataclass
class FixedClock:
    """A clock that says what it is told (tests, replays); `advance` moves it forward."""

    at: datetime

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta) -> datetime:
        self.at = self.at + timedelta(**delta)
        return self.at


@dataclass(frozen=True)
class Limit:
    """A time limit measured from a step's start: seconds, calendar days or working days."""

    seconds: int = 0
    days: int = 0
    working_days: int = 0

    def __post_init__(self):
        if sum(1 for v in (self.seconds, self.days, self.working_days) if v) != 1 or \
                min(self.seconds, self.days, self.working_days) < 0:
            raise ValueError("a limit is exactly one positive value of seconds, days or working_days")

    def due(self, start: datetime, calendar: WorkingCalendar) -> datetime:
        if self.working_days:
            return calendar.add_working_days(start, self.working_days).astimezone(timezone.utc)
        return start + timedelta(seconds=self.seconds, days=self.days)

    def describe(self) -> dict:
        return {k: v for k, v in (("seconds", self.seconds), ("days", self.days), ("working_days", self.working_days)) if v}


@dataclass(frozen=True)
class Rule:
    """One supervised step (config/supervision.yaml `rules`)."""

    step: str
    start: str  # envelope type that starts the step
    end: tuple[str, ...]  # envelope types that end it
    pair: str  # causation | correlation
    limit: Limit
    escalate: Limit
    services: tuple[str, ...] = (ANY_SERVICE,)
    when: dict = field(default_factory=dict)  # payload fields the start must have
    title: dict = field(default_factory=dict)  # {"zh": ..., "en": ...}

    def __post_init__(self):
        if self.pair not in PAIRINGS:
            raise ValueError(f"rule {self.step}: pair must be one of {PAIRINGS}")

    def applies_to(self, service: str | None) -> bool:
        return ANY_SERVICE in self.services or (service is not None and service in self.services)

    def specificity(self, service: str | None) -> int:
        return 1 if service is not None and service in self.services else 0


def service_of(envelope: dict) -> str | None:
    """What a step is for: a call's department service, a notice's agency, a delivery's 事项 code."""
    payload = envelope.get("payload") or {}
    return envelope.get("service") or payload.get("service_code") or payload.get("agency_code")


def system_of(envelope: dict) -> str | None:
    """Which system does the step: the department service, the payment platform or the carrier."""
    payload = envelope.get("payload") or {}
    if envelope.get("service"):
        return envelope["service"]
    if payload.get("platform"):
        return f"payment/{payload['platform']}"
    if payload.get("carrier"):
        return f"courier/{payload['carrier']}"
    return envelope.get("client")


def thread_of(rule: Rule, envelope: dict) -> str:
    """The key an end must share with the start: the start's message id or its correlation id."""
    return str(envelope["message_id"]) if rule.pair == "causation" else str(envelope.get("correlation_id"))


def end_key(rule: Rule, envelope: dict) -> str | None:
    """The thread key an end envelope points to (see `thread_of`)."""
    return envelope.get("causation_id") if rule.pair == "causation" else envelope.get("correlation_id")


@dataclass(frozen=True)
class StepStart:
    """What the engine decided when a start envelope arrived."""

    rule: Rule
    message_id: str
    thread: str
    case_id: str | None
    service: str | None
    system: str | None
    started_at: datetime
    due_at: datetime
    escalate_at: datetime


@dataclass(frozen=True)
class Assessment:
    """Where a step stands at `now`: the actions a check must take (each at most once)."""

    overdue: bool  # past due (still open, or ended late)
    warn: bool  # publish the warning now (open, past due, not yet warned)
    escalate: bool  # publish the escalation now (open, past the second limit, not yet escalated)


class DeadlineEngine:
    def __init__(self, rules: list[Rule], calendar: WorkingCalendar, clock: Clock | None = None):
        self.rules = list(rules)
        self.calendar = calendar
        self.clock = clock or SystemClock()
        self._end_types = {t for r in self.rules for t in r.end}

    def now(self) -> datetime:
        return self.clock.now()

    def rule_for_start(self, envelope: dict) -> Rule | None:
        """The rule an envelope starts, the one naming its service winning over "*"; None if none."""
        service = service_of(envelope)
        payload = envelope.get("payload") or {}
        candidates = [r for r in self.rules if r.start == envelope.get("type") and r.applies_to(service)
                      and all(payload.get(k) == v for k, v in r.when.items())]
        if not candidates:
            return None
        return max(candidates, key=lambda r: r.specificity(service))

    def start(self, envelope: dict) -> StepStart | None:
        rule = self.rule_for_start(envelope)
        if rule is None:
            return None
        started = _issued_at(envelope)
        return StepStart(rule=rule, message_id=str(envelope["message_id"]), thread=thread_of(rule, envelope),
                         case_id=envelope.get("case_id"), service=service_of(envelope), system=system_of(envelope),
                         started_at=started, due_at=rule.limit.due(started, self.calendar),
                         escalate_at=max(rule.escalate.due(started, self.calendar), rule.limit.due(started, self.calendar)))

    def is_end_type(self, type_: str) -> bool:
        return type_ in self._end_types

    def ends(self, rule: Rule, thread: str, envelope: dict) -> bool:
        """Does `envelope` end the step of `rule` on `thread`?"""
        return envelope.get("type") in rule.end and end_key(rule, envelope) == thread

    def rule(self, step: str) -> Rule | None:
        return next((r for r in self.rules if r.step == step), None)

    def assess(self, *, due_at: datetime, escalate_at: datetime, ended_at: datetime | None,
               warned: bool, escalated: bool) -> Assessment:
        """The state of a step at the clock's now."""
        now = self.now()
        if ended_at is not None:
            return Assessment(overdue=ended_at > due_at, warn=False, escalate=False)
        overdue = now > due_at
        return Assessment(overdue=overdue, warn=overdue and not warned, escalate=now > escalate_at and not escalated)


def outcome_of(envelope: dict) -> str:
    """ok or failed, from an ending envelope (a `.failed` type or an error in the payload)."""
    payload = envelope.get("payload") or {}
    type_ = envelope.get("type") or ""
    if type_.endswith("failed") or "error" in payload or type_ in ("shipment.refused", "shipment.return_to_sender",
                                                                 "shipment.delivery_failed"):
        return "failed"
    return "ok"


def _issued_at(envelope: dict) -> datetime:
    value = envelope.get("issued_at")
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return datetime.fromisoformat(str(value)).astimezone(timezone.utc)


issued_at = _issued_at
