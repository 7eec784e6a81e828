"""Tables of the message bus: the tamper-evident message log and the idempotent receiver's record."""
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kernel.clock import utcnow
from store.base import Base, UtcDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys


class MessageLogRecord(Base):
    """One envelope that went in or out, chained to the previous record by hash (R10).

    Readable columns hold masked values only; `body` keeps the envelope as sent, so that the
    chain can be recomputed and a message replayed.
    """

    __tablename__ = "message_log"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    message_id: Mapped[str] = mapped_column(String(36))
    direction: Mapped[str] = mapped_column(String(8))  # in | out | dead
    type: Mapped[str] = mapped_column(String(120))
    service: Mapped[str | None] = mapped_column(String(200))
    client: Mapped[str | None] = mapped_column(String(200))
    user_masked: Mapped[str | None] = mapped_column(String(200))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(64))
    logged_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    body: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # How record_hash was computed (bus/message_log/chain.py): 1 before migration 0022, 2 since.
    chain_format: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")

    __table_args__ = (
        Index("ix_message_log_case_id", "case_id"),
        Index("ix_message_log_message_id", "message_id"),
        Index("ix_message_log_correlation_id", "correlation_id"),
    )


class MessageLogHead(Base):
    """The one row that says where the chain ends; updating it serialises writers on every backend."""

    __tablename__ = "message_log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class MessageLogCheckpoint(Base):
    """Where a passed verification of the chain ended, sealed by HMAC (bus/message_log/checkpoint.py)."""

    __tablename__ = "message_log_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    record_hash: Mapped[str] = mapped_column(String(64))
    verified: Mapped[int] = mapped_column(BigInteger)  # records the verification checked
    incremental: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    mac: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_message_log_checkpoints_seq", "seq"),)


class MessageLogSpool(Base):
    """How far each local spool file of the message log has been written into the chain.

    The offset moves in the same transaction as the records it covers, so a spool replayed after
    a crash resumes exactly where the database stopped: nothing twice, nothing missed.
    """

    __tablename__ = "message_log_spools"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class ServiceCall(Base):
    """One department call through the bus: its status for async callers, its result once done."""

    __tablename__ = "service_calls"

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    service: Mapped[str] = mapped_column(String(100))
    operation: Mapped[str] = mapped_column(String(100))
    client: Mapped[str] = mapped_column(String(200))
    user_masked: Mapped[str | None] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(200))  # who may read the status (token subject or client)
    case_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # accepted | succeeded | failed
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (Index("ix_service_calls_case_id", "case_id"),
                      Index("ix_service_calls_service_created_at", "service", "created_at"))


class ProcessedMessage(Base):
    """A message whose effect has happened, written in the same transaction as the effect."""

    __tablename__ = "processed_messages"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
