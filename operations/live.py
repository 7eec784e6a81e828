"""Per service, the last hour: calls, errors, error rate and p95 latency, aggregated by the database.

Reads only the hour's rows through `ix_service_calls_service_created_at`; nothing but the aggregates
comes back to Python. PostgreSQL computes the p95 with `percentile_cont`; other databases (the
embedded default of `make run`) pick the row at the 95th percentile with ORDER BY ... OFFSET.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import case, func, select

from store.models.bus import ServiceCall

WINDOW = timedelta(hours=1)


def error_rate(succeeded: int, failed: int) -> float | None:
    """(pure) Failed calls among the finished ones; None when none finished."""
    done = succeeded + failed
    return round(failed / done, 4) if done else None


def hour_figures(session, services: list[str], now: datetime) -> dict[str, dict]:
    """service -> {calls, succeeded, errors, error_rate, p95_ms} over the hour before `now`."""
    since = now - WINDOW
    window = (ServiceCall.service.in_(services), ServiceCall.created_at >= since, ServiceCall.created_at <= now)
    postgres = session.get_bind().dialect.name == "postgresql"
    columns = [ServiceCall.service, func.count(),
               func.sum(case((ServiceCall.status == "succeeded", 1), else_=0)),
               func.sum(case((ServiceCall.status == "failed", 1), else_=0))]
    if postgres:
        columns.append(func.percentile_cont(0.95).within_group(ServiceCall.duration_ms))
    rows = session.execute(select(*columns).where(*window).group_by(ServiceCall.service)).all() if services else []
    out = {s: {"calls": 0, "succeeded": 0, "errors": 0, "error_rate": None, "p95_ms": None} for s in services}
    for row in rows:
        service, calls, ok, failed = row[0], row[1], int(row[2] or 0), int(row[3] or 0)
        p95 = row[4] if postgres else _p95_elsewhere(session, service, since, now)
        out[service] = {"calls": calls, "succeeded": ok, "errors": failed, "error_rate": error_rate(ok, failed),
                        "p95_ms": round(float(p95)) if p95 is not None else None}
    return out


def _p95_elsewhere(session, service: str, since: datetime, now: datetime):
    timed = (ServiceCall.service == service, ServiceCall.created_at >= since, ServiceCall.created_at <= now,
             ServiceCall.duration_ms.is_not(None))
    n = session.execute(select(func.count()).where(*timed)).scalar() or 0
    if not n:
        return None
    return session.execute(select(ServiceCall.duration_ms).where(*timed).order_by(ServiceCall.duration_ms)
                           .offset(max(math.ceil(0.95 * n) - 1, 0)).limit(1)).scalar()
