"""City scale (issue 18): supervision rollups, open-step and ratings indexes, paging indexes.

Revision ID: 0010
Revises: 0009
"""
import math
import struct
from collections import Counter
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "supervision_rollups",
        sa.Column("span", sa.String(1), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("step", sa.String(60), nullable=False),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("finished", sa.BigInteger, nullable=False),
        sa.Column("overdue", sa.BigInteger, nullable=False),
        sa.Column("failed", sa.BigInteger, nullable=False),
        sa.Column("histogram", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("span", "day", "step", "service", "system", name="pk_supervision_rollups"),
    )
    op.create_table(
        "supervision_satisfaction_rollups",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("dimension", sa.String(8), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("ratings", sa.BigInteger, nullable=False),
        sa.Column("rating_sum", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("day", "dimension", "key", name="pk_supervision_satisfaction_rollups"),
    )
    op.create_table(
        "supervision_rated_groups",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("dimension", sa.String(8), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("case_id", "dimension", "key", name="pk_supervision_rated_groups"),
    )
    # Open steps only, covering what the live counts read (index-only scans on PostgreSQL).
    op.create_index("ix_supervision_steps_open_started_at", "supervision_steps", ["started_at"],
                    postgresql_where=sa.text("ended_at IS NULL"), sqlite_where=sa.text("ended_at IS NULL"),
                    postgresql_include=["step", "service", "system", "overdue", "warned_at"])
    op.create_index("ix_supervision_steps_service_started_at", "supervision_steps", ["service", "started_at"])
    op.create_index("ix_supervision_satisfaction_rated_at", "supervision_satisfaction", ["rated_at"],
                    postgresql_include=["rating"])  # the period's ratings counted from the index alone
    op.create_index("ix_reconciliation_discrepancies_run_status_seq", "reconciliation_discrepancies",
                    ["run_id", "status", "seq"])  # a run's discrepancies of one status, in order (keyset paging)
    # The steps already recorded: count them in the new rollups.
    _rebuild_rollups(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_reconciliation_discrepancies_run_status_seq", "reconciliation_discrepancies")
    op.drop_index("ix_supervision_satisfaction_rated_at", "supervision_satisfaction")
    op.drop_index("ix_supervision_steps_service_started_at", "supervision_steps")
    op.drop_index("ix_supervision_steps_open_started_at", "supervision_steps")
    op.drop_table("supervision_rated_groups")
    op.drop_table("supervision_satisfaction_rollups")
    op.drop_table("supervision_rollups")


# ----------------------------------------------------------------------------------------------
# A frozen copy of `supervision.rollups.rebuild` as it was at this revision: a migration is a
# snapshot and never imports an area (the store is below supervision). Durations: exact buckets
# under 1,024 ms, then 16 per doubling; a histogram is stored as little-endian uint32 words (the
# first bucket, then the counts). Days and weeks (Monday) are Beijing dates (UTC+8, no DST).
_BEIJING = timezone(timedelta(hours=8))
_T = {name: sa.table(name, *(sa.column(c) for c in cols)) for name, cols in {
    "supervision_steps": ("id", "case_id", "started_at", "ended_at", "step", "service", "system", "duration_ms",
                          "overdue", "outcome"),
    "supervision_satisfaction": ("case_id", "rating", "rated_at"),
    "supervision_rollups": ("span", "day", "step", "service", "system", "finished", "overdue", "failed", "histogram"),
    "supervision_satisfaction_rollups": ("day", "dimension", "key", "ratings", "rating_sum"),
    "supervision_rated_groups": ("case_id", "dimension", "key", "day", "rating"),
}.items()}


def _day(moment):
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:  # SQLite keeps UTC without its offset
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(_BEIJING).date()


def _bucket(ms) -> int:
    ms = max(0, int(ms))
    return ms if ms < 1024 else 1024 + int(math.floor(16 * math.log2(ms / 1024)))


def _histogram(counter: Counter) -> bytes:
    if not counter:
        return b""
    low, high = min(counter), max(counter)
    words = [low, *(counter.get(b, 0) for b in range(low, high + 1))]
    return struct.pack(f"<{len(words)}I", *words)


def _rebuild_rollups(bind) -> None:
    steps, rated, rollups = _T["supervision_steps"], _T["supervision_satisfaction"], {}
    for started_at, step, service, system, duration_ms, overdue, outcome in bind.execute(
            sa.select(steps.c.started_at, steps.c.step, steps.c.service, steps.c.system, steps.c.duration_ms,
                      steps.c.overdue, steps.c.outcome).where(steps.c.ended_at.is_not(None))):
        day = _day(started_at)
        for key in (("D", day), ("W", day - timedelta(days=day.weekday()))):
            row = rollups.setdefault(key + (step, service or "", system or ""),
                                     {"finished": 0, "overdue": 0, "failed": 0, "histogram": Counter()})
            row["finished"] += 1
            row["overdue"] += 1 if overdue else 0
            row["failed"] += 1 if outcome == "failed" else 0
            if duration_ms is not None:
                row["histogram"][_bucket(duration_ms)] += 1
    for (span, day, step, service, system), row in rollups.items():
        bind.execute(_T["supervision_rollups"].insert().values(
            span=span, day=day, step=step, service=service, system=system, finished=row["finished"],
            overdue=row["overdue"], failed=row["failed"], histogram=_histogram(row["histogram"])))
    cases: dict[str, list] = {}
    for case_id, rating, rated_at, started_at, step, service, system in bind.execute(
            sa.select(rated.c.case_id, rated.c.rating, rated.c.rated_at, steps.c.started_at, steps.c.step,
                      steps.c.service, steps.c.system).select_from(
                rated.outerjoin(steps, steps.c.case_id == rated.c.case_id))):
        entry = cases.setdefault(case_id, [rating, rated_at, {}])
        if started_at is not None:
            day = _day(started_at)
            for group in (("all", "all"), ("service", service or "-"), ("system", system or "-"), ("step", step)):
                if group not in entry[2] or day < entry[2][group]:
                    entry[2][group] = day
    totals, sums = Counter(), Counter()
    for case_id, (rating, rated_at, groups) in cases.items():
        groups[("rated", "all")] = _day(rated_at)
        for (dimension, key), day in groups.items():
            bind.execute(_T["supervision_rated_groups"].insert().values(
                case_id=case_id, dimension=dimension, key=key, day=day, rating=rating))
            totals[(day, dimension, key)] += 1
            sums[(day, dimension, key)] += rating
    for (day, dimension, key), n in totals.items():
        bind.execute(_T["supervision_satisfaction_rollups"].insert().values(
            day=day, dimension=dimension, key=key, ratings=n, rating_sum=sums[(day, dimension, key)]))
