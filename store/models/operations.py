"""Tables of the operations console: circuit states as each worker sees them, operators' actions,
and the parking lots' last sizes (to tell a lot that grows)."""
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kernel.clock import utcnow
from store.base import Base, UtcDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class ConnectorCircuit(Base):
    """One worker's circuit breaker of one service: written on each transition and by a heartbeat.

    A worker not seen for a while (``seen_at``) is shown as stale: its state is no longer known.
    """

    __tablename__ = "connector_circuits"

    worker_id: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid (or a name given)
    service: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # closed | open | half_open
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_connector_circuits_service", "service"),
                      Index("ix_connector_circuits_seen_at", "seen_at"))


class OperatorAudit(Base):
    """One operator's action from the console or the API: who, when, what, why, how many."""

    __tablename__ = "operator_audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))  # dlq.replay | dlq.purge | job.retry
    target: Mapped[str] = mapped_column(String(200))  # a service, or job/period
    message_id: Mapped[str | None] = mapped_column(String(64))  # one message, or every one (NULL)
    reason: Mapped[str | None] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=0)
    log_seq: Mapped[int | None] = mapped_column(BigInteger)  # its record in the message log, when it has one

    __table_args__ = (Index("ix_operator_audit_at", "at"), Index("ix_operator_audit_target", "target"))


class ParkingSample(Base):
    """A parking lot's size when last looked at, and the size before it (five minutes or more earlier)."""

    __tablename__ = "parking_samples"

    service: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    sampled_at: Mapped[datetime] = mapped_column(UtcDateTime)
    previous_count: Mapped[int | None] = mapped_column(Integer)
    previous_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
