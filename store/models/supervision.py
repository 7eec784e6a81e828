"""Tables of electronic supervision (电子监察, R10): supervised steps, their alerts, the check's
cursor over the message log, satisfaction ratings and complaints. Times are aware UTC."""
from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, LargeBinary, String,
                        Text, UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.clock import utcnow
from store.base import Base, UtcDateTime


class SupervisionStep(Base):
    """One supervised step (a department reply, a payment, a dispatch ...) with its deadline.

    Started and ended by envelopes of the message log (config/supervision.yaml says which); the
    scheduled check keeps `overdue` and the alerts up to date.
    """

    __tablename__ = "supervision_steps"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    step: Mapped[str] = mapped_column(String(60))  # the rule: department-reply, payment, results-dispatch ...
    case_id: Mapped[str | None] = mapped_column(String(64))
    service: Mapped[str | None] = mapped_column(String(100))  # department service, agency or 事项 code
    system: Mapped[str | None] = mapped_column(String(200))  # department service, payment/<platform>, courier/<carrier>
    thread: Mapped[str] = mapped_column(String(64))  # what an end must point to (message or correlation id)
    start_message_id: Mapped[str] = mapped_column(String(36))
    start_type: Mapped[str] = mapped_column(String(120))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    escalate_at: Mapped[datetime] = mapped_column(UtcDateTime)
    end_message_id: Mapped[str | None] = mapped_column(String(36))
    end_type: Mapped[str | None] = mapped_column(String(120))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    outcome: Mapped[str | None] = mapped_column(String(16))  # ok | failed, once ended
    overdue: Mapped[bool] = mapped_column(Boolean, default=False)
    warned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("step", "start_message_id", name="uq_supervision_steps_step_start_message_id"),
        Index("ix_supervision_steps_case_id", "case_id"),
        Index("ix_supervision_steps_thread", "thread"),
        # The check's due work (issue 18): the open steps still to warn, and still to escalate.
        Index("ix_supervision_steps_to_warn", "due_at", postgresql_where=text("ended_at IS NULL AND warned_at IS NULL"),
              sqlite_where=text("ended_at IS NULL AND warned_at IS NULL")),
        Index("ix_supervision_steps_to_escalate", "escalate_at",
              postgresql_where=text("ended_at IS NULL AND escalated_at IS NULL"),
              sqlite_where=text("ended_at IS NULL AND escalated_at IS NULL")),
        Index("ix_supervision_steps_started_at", "started_at"),
        # Open steps only (issue 18): the live part of the statistics and the check's due work.
        Index("ix_supervision_steps_open_started_at", "started_at", postgresql_where=text("ended_at IS NULL"),
              sqlite_where=text("ended_at IS NULL"),
              postgresql_include=["step", "service", "system", "overdue", "warned_at"]),
        Index("ix_supervision_steps_service_started_at", "service", "started_at"),
    )


class SupervisionAlert(Base):
    """A warning or escalation of a step: at most one of each kind (the unique key), kept as the
    outbox row of its `supervision.*` envelope until the broker confirmed it."""

    __tablename__ = "supervision_alerts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    step_id: Mapped[str] = mapped_column(ForeignKey("supervision_steps.id"))
    kind: Mapped[str] = mapped_column(String(12))  # warning | escalation
    case_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    envelope: Mapped[str] = mapped_column(Text)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the check's clock
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("step_id", "kind", name="uq_supervision_alerts_step_id_kind"),
        Index("ix_supervision_alerts_unpublished", "published_at"),
    )


class SupervisionCursor(Base):
    """How far the check has read the message log (one row)."""

    __tablename__ = "supervision_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class CaseSatisfaction(Base):
    """The applicant's rating of a finished case (满意度评价): once per case."""

    __tablename__ = "supervision_satisfaction"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rating: Mapped[int] = mapped_column(Integer)  # 1..5
    comment: Mapped[str | None] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(200))  # the applicant's Keycloak subject
    rated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
                      Index("ix_supervision_satisfaction_rated_at", "rated_at", postgresql_include=["rating"]))


class Complaint(Base):
    """A complaint (投诉) about a case: filed by the applicant, handled by supervisors."""

    __tablename__ = "supervision_complaints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))  # the filer's Keycloak subject
    filer_masked: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))  # filed | assigned | replied | closed
    assignee: Mapped[str | None] = mapped_column(String(200))
    reply: Mapped[str | None] = mapped_column(Text)
    replied_by: Mapped[str | None] = mapped_column(String(200))
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    history: Mapped[list] = mapped_column(JSON)  # [{at, action, by, status}]
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_supervision_complaints_case_id", "case_id"),
        Index("ix_supervision_complaints_status", "status"),
        Index("ix_supervision_complaints_created_at_status", "created_at", "status"),
        Index("ix_supervision_complaints_subject", "subject"),
    )


class SupervisionRollup(Base):
    """The finished steps of one Beijing day (or week), per step, service and system (issue 18): counts and a
    duration histogram, added to by the check as it closes steps. A finished step never changes
    again, so a day's row only grows; open steps are counted live (see supervision/statistics.py).
    `service` and `system` are "" where the step has none. `histogram` holds the durations per bucket
    (supervision.rollups.bucket), encoded by supervision.rollups.Histogram."""

    __tablename__ = "supervision_rollups"

    span: Mapped[str] = mapped_column(String(1), primary_key=True)  # D: the day; W: the week starting on `day` (Monday)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    step: Mapped[str] = mapped_column(String(60), primary_key=True)
    service: Mapped[str] = mapped_column(String(100), primary_key=True)
    system: Mapped[str] = mapped_column(String(200), primary_key=True)
    finished: Mapped[int] = mapped_column(BigInteger, default=0)
    overdue: Mapped[int] = mapped_column(BigInteger, default=0)
    failed: Mapped[int] = mapped_column(BigInteger, default=0)
    histogram: Mapped[bytes] = mapped_column(LargeBinary)


class SatisfactionRollup(Base):
    """Ratings of the cases involved per Beijing day and group (dimension all/service/system/step):
    a rated case counts once per group, on the day of its first step in that group."""

    __tablename__ = "supervision_satisfaction_rollups"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    dimension: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    ratings: Mapped[int] = mapped_column(BigInteger, default=0)
    rating_sum: Mapped[int] = mapped_column(BigInteger, default=0)


class RatedGroup(Base):
    """Which groups a rated case was already counted in (so it is counted once per group, however
    the rating and its steps' ingestion interleave)."""

    __tablename__ = "supervision_rated_groups"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    rating: Mapped[int] = mapped_column(Integer)
