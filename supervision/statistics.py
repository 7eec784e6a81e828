"""Performance statistics (统计分析、绩效评估) per service and per department system.

From the supervised steps of a period: how many, how many still open, median and p95 duration of
the finished ones, the overdue rate (steps past their deadline, open or not, of all steps), the
failure rate (failed of finished) and the applicants' satisfaction with the cases involved.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from datetime import time as dtime

from sqlalchemy import and_, case, func, or_, select

from kernel.clock import BEIJING
from store.models.supervision import (CaseSatisfaction, SatisfactionRollup, SupervisionAlert, SupervisionRollup,
                                      SupervisionStep)
from supervision.feedback import complaint_counts
from supervision.rollups import RATED, Histogram, beijing_day, group_keys, histogram_percentile, spans

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


EXACT_LIMIT = 20_000  # periods with at most this many steps are computed exactly from the raw steps


def day_aligned(moment: datetime) -> bool:
    local = moment.astimezone(BEIJING)
    return (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)


def last_days(days: int = 30, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[since, until) of the last `days` Beijing days, today included (what the API and /metrics show)."""
    today = (now or datetime.now(timezone.utc)).astimezone(BEIJING).date()
    until = datetime.combine(today + timedelta(days=1), dtime(0), tzinfo=BEIJING)
    return until - timedelta(days=days), until


def statistics(session, *, since: datetime | None = None, until: datetime | None = None,
               service: str | None = None, exact_limit: int = EXACT_LIMIT) -> dict:
    """The statistics of steps started in [since, until) (default: the last 30 Beijing days).

    Cost depends on the answer, not the history: finished steps come from the day rollups
    (supervision/rollups.py), open steps from a live count over the open-step partial index. A period
    with at most `exact_limit` steps, or whose ends are not Beijing midnights, is computed exactly
    from its raw steps with `summarise` (today's definitions; no `IN` list of case ids).
    """
    if since is None or until is None:
        default_since, default_until = last_days(30)
        since, until = since or default_since, until or default_until
    all_ratings = None
    if not (day_aligned(since) and day_aligned(until)):
        groups = _exact_groups(session, since, until, service)
    else:
        finished = _finished_rollups(session, since, until, service)
        opened = _open_counts(session, since, until, service)
        total = sum(r["finished"] for r in finished.values()) + sum(r[0] for r in opened.values())
        if total <= exact_limit:
            groups = _exact_groups(session, since, until, service)
        else:
            rollup_ratings = _satisfaction_rollups(session, since, until)
            ratings = rollup_ratings if service is None else _satisfaction_exact(session, since, until, service)
            groups = _rollup_groups(finished, opened, ratings)
            n, total = rollup_ratings.get(RATED, (0, 0))
            all_ratings = (n, total / n if n else None)
    if all_ratings is None:  # the exact path: the ratings given in the period, counted
        all_ratings = session.execute(select(func.count(), func.avg(CaseSatisfaction.rating))
                                      .where(CaseSatisfaction.rated_at >= since, CaseSatisfaction.rated_at < until)).one()
    totals = groups["all"]
    return {
        "since": since, "until": until,
        "totals": (totals[0] if totals else _empty("all")).as_dict(),
        "by_service": [g.as_dict() for g in groups["service"]],
        "by_system": [g.as_dict() for g in groups["system"]],
        "by_step": [g.as_dict() for g in groups["step"]],
        "satisfaction": {"ratings": all_ratings[0], "average": round(float(all_ratings[1]), 2) if all_ratings[1] else None},
        "complaints": complaint_counts(session, since=since, until=until),
        "open_warnings": open_alert_count(session),
    }


def _window(query, since, until, service):
    query = query.where(SupervisionStep.started_at >= since, SupervisionStep.started_at < until)
    return query.where(SupervisionStep.service == service) if service else query


def _exact_groups(session, since, until, service) -> dict[str, list[GroupStats]]:
    """Today's definitions over the raw steps of the period; the ratings come by a join, not an IN list."""
    query = _window(select(SupervisionStep.step, SupervisionStep.case_id, SupervisionStep.service, SupervisionStep.system,
                           SupervisionStep.duration_ms, SupervisionStep.ended_at.is_not(None), SupervisionStep.overdue,
                           SupervisionStep.outcome, CaseSatisfaction.rating)
                    .outerjoin(CaseSatisfaction, CaseSatisfaction.case_id == SupervisionStep.case_id), since, until, service)
    rows, ratings = [], {}
    for step, case_id, service_, system, duration_ms, ended, overdue, outcome, rating in session.execute(query):
        rows.append(StepRow(step=step, case_id=case_id, service=service_, system=system, duration_ms=duration_ms,
                            ended=bool(ended), overdue=bool(overdue), failed=outcome == "failed"))
        if rating is not None:
            ratings[case_id] = rating
    return {"all": summarise([StepRow(**{**asdict(r), "step": "all"}) for r in rows], ratings, "step"),
            **{d: summarise(rows, ratings, d) for d in DIMENSIONS}}


def _finished_rollups(session, since, until, service) -> dict[tuple, dict]:
    """The finished steps of the period's days per (step, service, system), histograms merged."""
    r = SupervisionRollup
    weeks, days = spans(beijing_day(since), beijing_day(until))
    query = select(r.step, r.service, r.system, r.finished, r.overdue, r.failed, r.histogram).where(or_(
        and_(r.span == "W", r.day >= weeks[0], r.day < weeks[1]),
        and_(r.span == "D", or_(*(and_(r.day >= a, r.day < b) for a, b in days)))))
    if service:
        query = query.where(r.service == service)
    merged: dict[tuple, dict] = {}
    for step, service_, system, finished, overdue, failed, histogram in session.execute(query):
        key = (step, service_ or None, system or None)
        acc = merged.get(key)
        if acc is None:
            acc = merged[key] = {"finished": 0, "overdue": 0, "failed": 0, "histogram": Histogram()}
        acc["finished"] += finished
        acc["overdue"] += overdue
        acc["failed"] += failed
        acc["histogram"].add(Histogram.decode(histogram))
    return merged


def _open_counts(session, since, until, service) -> dict[tuple, tuple[int, int]]:
    """Open steps of the period per (step, service, system): (count, overdue). Reads the open-step
    partial index only: its cost follows the work still open, not the history."""
    query = _window(select(SupervisionStep.step, SupervisionStep.service, SupervisionStep.system, func.count(),
                           func.sum(case((SupervisionStep.overdue.is_(True), 1), else_=0)))
                    .where(SupervisionStep.ended_at.is_(None)), since, until, service)
    query = query.group_by(SupervisionStep.step, SupervisionStep.service, SupervisionStep.system)
    return {(step, service_, system): (int(n), int(overdue or 0))
            for step, service_, system, n, overdue in session.execute(query)}


def _satisfaction_rollups(session, since, until) -> dict[tuple[str, str], tuple[int, int]]:
    query = (select(SatisfactionRollup.dimension, SatisfactionRollup.key, func.sum(SatisfactionRollup.ratings),
                    func.sum(SatisfactionRollup.rating_sum))
             .where(SatisfactionRollup.day >= beijing_day(since), SatisfactionRollup.day < beijing_day(until))
             .group_by(SatisfactionRollup.dimension, SatisfactionRollup.key))
    return {(d, k): (int(n), int(total)) for d, k, n, total in session.execute(query)}


def _satisfaction_exact(session, since, until, service) -> dict[tuple[str, str], tuple[int, int]]:
    """One service's groups: the rated cases among its steps of the period (a join; one service's steps)."""
    query = _window(select(SupervisionStep.case_id, SupervisionStep.step, SupervisionStep.system, CaseSatisfaction.rating)
                    .join(CaseSatisfaction, CaseSatisfaction.case_id == SupervisionStep.case_id), since, until, service)
    members: dict[tuple[str, str], dict[str, int]] = {}
    for case_id, step, system, rating in session.execute(query):
        for group in group_keys(step, service, system):
            members.setdefault(group, {})[case_id] = rating
    return {g: (len(cases), sum(cases.values())) for g, cases in members.items()}


def _rollup_groups(finished, opened, ratings) -> dict[str, list[GroupStats]]:
    """The groups from finished-step rollups, open counts and satisfaction sums (percentiles from the
    duration histograms: exact under 1,024 ms, else within rollups.MAX_RELATIVE_ERROR)."""
    acc: dict[tuple[str, str], dict] = {}
    for combo in set(finished) | set(opened):
        step, service, system = combo
        done = finished.get(combo, {"finished": 0, "overdue": 0, "failed": 0, "histogram": Histogram()})
        open_, open_overdue = opened.get(combo, (0, 0))
        for group in group_keys(step, service, system):
            a = acc.setdefault(group, {"finished": 0, "overdue": 0, "failed": 0, "open": 0, "histogram": Histogram()})
            a["finished"] += done["finished"]
            a["overdue"] += done["overdue"] + open_overdue
            a["failed"] += done["failed"]
            a["open"] += open_
            a["histogram"].add(done["histogram"])
    out: dict[str, list[GroupStats]] = {"all": [], **{d: [] for d in DIMENSIONS}}
    for (dimension, key) in sorted(acc):
        a = acc[(dimension, key)]
        steps = a["finished"] + a["open"]
        n, total = ratings.get((dimension, key), (0, 0))
        out[dimension].append(GroupStats(
            key=key, steps=steps, open=a["open"], finished=a["finished"], overdue=a["overdue"], failed=a["failed"],
            median_ms=histogram_percentile(a["histogram"], 50), p95_ms=histogram_percentile(a["histogram"], 95),
            overdue_rate=round(a["overdue"] / steps, 4) if steps else 0.0,
            failure_rate=round(a["failed"] / a["finished"], 4) if a["finished"] else 0.0,
            satisfaction=round(total / n, 2) if n else None, ratings=n))
    return out


def open_alert_count(session) -> int:
    """Steps warned about and still open (what the supervision page lists)."""
    return session.execute(select(func.count()).select_from(SupervisionStep)
                           .where(SupervisionStep.warned_at.is_not(None), SupervisionStep.ended_at.is_(None))).scalar_one()


def unpublished_alert_count(session) -> int:
    """Alerts raised and not yet confirmed by the broker: the check sends them again each minute, so a number
    that stays up means the bus keeps refusing them. Read by the unpublished alerts' index: it costs the
    backlog, not the history."""
    return session.execute(select(func.count()).select_from(SupervisionAlert)
                           .where(SupervisionAlert.published_at.is_(None))).scalar_one()


def open_warnings(session, limit: int = 200, service: str | None = None) -> list[dict]:
    """The open warnings, most overdue first (of one service if given): the step, its case, since when,
    escalated or not. The service is filtered before the limit: with more open warnings in the city than
    `limit`, a service's own would otherwise be cut off by the others'."""
    query = (select(SupervisionStep).where(SupervisionStep.warned_at.is_not(None), SupervisionStep.ended_at.is_(None))
             .order_by(SupervisionStep.due_at).limit(limit))
    if service is not None:
        query = query.where(SupervisionStep.service == service)
    steps = session.execute(query).scalars().all()
    alerts = {}
    if steps:
        for alert in session.execute(select(SupervisionAlert).where(SupervisionAlert.step_id.in_([s.id for s in steps]))).scalars():
            alerts.setdefault(alert.step_id, {})[alert.kind] = alert.message_id
    return [{"step_id": s.id, "step": s.step, "case_id": s.case_id, "service": s.service, "system": s.system,
             "started_at": s.started_at, "due_at": s.due_at, "escalate_at": s.escalate_at, "warned_at": s.warned_at,
             "escalated_at": s.escalated_at, "level": "escalation" if s.escalated_at else "warning",
             "warning_message_id": alerts.get(s.id, {}).get("warning"),
             "escalation_message_id": alerts.get(s.id, {}).get("escalation")} for s in steps]
