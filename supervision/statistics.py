"""Performance statistics (统计分析、绩效评估) per service and per department system.

From the supervised steps of a period: how many, how many still open, median and p95 duration of
the finished ones, the overdue rate (steps past their deadline, open or not, of all steps), the
failure rate (failed of finished) and the applicants' satisfaction with the cases involved.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from store.models.supervision import CaseSatisfaction, SupervisionAlert, SupervisionStep
from supervision.feedback import complaint_counts

DIMENSIONS = ("service", "system", "step")


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    data = sorted(values)
    rank = (len(data) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return data[low] + (data[high] - data[low]) * (rank - low)


@dataclass(frozen=True)
class StepRow:
    step: str
    case_id: str | None
    service: str | None
    system: str | None
    duration_ms: int | None
    ended: bool
    overdue: bool
    failed: bool


@dataclass
class GroupStats:
    key: str
    steps: int
    open: int
    finished: int
    overdue: int
    failed: int
    median_ms: float | None
    p95_ms: float | None
    overdue_rate: float
    failure_rate: float
    satisfaction: float | None  # average rating of the cases involved
    ratings: int

    def as_dict(self) -> dict:
        return asdict(self)


def summarise(rows: list[StepRow], ratings: dict[str, int], by: str) -> list[GroupStats]:
    """Group `rows` by `by` (service, system or step) and compute each group's figures (pure)."""
    groups: dict[str, list[StepRow]] = {}
    for row in rows:
        groups.setdefault(getattr(row, by) or "-", []).append(row)
    out = []
    for key in sorted(groups):
        members = groups[key]
        durations = [r.duration_ms for r in members if r.ended and r.duration_ms is not None]
        finished = sum(1 for r in members if r.ended)
        overdue = sum(1 for r in members if r.overdue)
        failed = sum(1 for r in members if r.failed)
        case_ratings = [ratings[c] for c in {r.case_id for r in members if r.case_id} if c in ratings]
        out.append(GroupStats(
            key=key, steps=len(members), open=len(members) - finished, finished=finished, overdue=overdue, failed=failed,
            median_ms=percentile(durations, 50), p95_ms=percentile(durations, 95),
            overdue_rate=round(overdue / len(members), 4), failure_rate=round(failed / finished, 4) if finished else 0.0,
            satisfaction=round(sum(case_ratings) / len(case_ratings), 2) if case_ratings else None,
            ratings=len(case_ratings)))
    return out


def _empty(key: str) -> GroupStats:
    return GroupStats(key=key, steps=0, open=0, finished=0, overdue=0, failed=0, median_ms=None, p95_ms=None,
                      overdue_rate=0.0, failure_rate=0.0, satisfaction=None, ratings=0)


def statistics(session, *, since: datetime | None = None, until: datetime | None = None,
               service: str | None = None) -> dict:
    """The statistics of steps started in [since, until) (default: the last 30 days)."""
    until = until or datetime.now(timezone.utc)
    since = since or until - timedelta(days=30)
    query = select(SupervisionStep).where(SupervisionStep.started_at >= since, SupervisionStep.started_at < until)
    if service:
        query = query.where(SupervisionStep.service == service)
    rows = [StepRow(step=s.step, case_id=s.case_id, service=s.service, system=s.system, duration_ms=s.duration_ms,
                    ended=s.ended_at is not None, overdue=s.overdue, failed=s.outcome == "failed")
            for s in session.execute(query).scalars()]
    cases = {r.case_id for r in rows if r.case_id}
    ratings = {}
    if cases:
        ratings = dict(session.execute(select(CaseSatisfaction.case_id, CaseSatisfaction.rating)
                                       .where(CaseSatisfaction.case_id.in_(cases))).all())
    all_ratings = session.execute(select(func.count(), func.avg(CaseSatisfaction.rating))
                                  .where(CaseSatisfaction.rated_at >= since, CaseSatisfaction.rated_at < until)).one()
    totals = summarise([StepRow(**{**asdict(r), "step": "all"}) for r in rows], ratings, "step")
    return {
        "since": since, "until": until,
        "totals": (totals[0] if totals else _empty("all")).as_dict(),
        "by_service": [g.as_dict() for g in summarise(rows, ratings, "service")],
        "by_system": [g.as_dict() for g in summarise(rows, ratings, "system")],
        "by_step": [g.as_dict() for g in summarise(rows, ratings, "step")],
        "satisfaction": {"ratings": all_ratings[0], "average": round(float(all_ratings[1]), 2) if all_ratings[1] else None},
        "complaints": complaint_counts(session),
        "open_warnings": open_alert_count(session),
    }


def open_alert_count(session) -> int:
    """Steps warned about and still open (what the supervision page lists)."""
    return session.execute(select(func.count()).select_from(SupervisionStep)
                           .where(SupervisionStep.warned_at.is_not(None), SupervisionStep.ended_at.is_(None))).scalar_one()


def open_warnings(session, limit: int = 200) -> list[dict]:
    """The open warnings, most overdue first: the step, its case, since when, escalated or not."""
    steps = session.execute(select(SupervisionStep).where(SupervisionStep.warned_at.is_not(None),
                                                          SupervisionStep.ended_at.is_(None))
                            .order_by(SupervisionStep.due_at).limit(limit)).scalars().all()
    alerts = {}
    if steps:
        for alert in session.execute(select(SupervisionAlert).where(SupervisionAlert.step_id.in_([s.id for s in steps]))).scalars():
            alerts.setdefault(alert.step_id, {})[alert.kind] = alert.message_id
    return [{"step_id": s.id, "step": s.step, "case_id": s.case_id, "service": s.service, "system": s.system,
             "started_at": s.started_at, "due_at": s.due_at, "escalate_at": s.escalate_at, "warned_at": s.warned_at,
             "escalated_at": s.escalated_at, "level": "escalation" if s.escalated_at else "warning",
             "warning_message_id": alerts.get(s.id, {}).get("warning"),
             "escalation_message_id": alerts.get(s.id, {}).get("escalation")} for s in steps]
