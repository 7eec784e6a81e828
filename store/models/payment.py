"""Tables of the payment bridge (R5, R7, R13): notices, their events, payments, refunds, receipts, statements.

Money is integer fen (BigInteger), times are aware UTC. A notice's `status` is only ever changed
through `payment_bridge.states` and every change writes a `PaymentNoticeEvent` in the same
transaction (the event doubles as the outbox row of the bus message that announces it).
"""
from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, Date, ForeignKey, Index, Integer, LargeBinary, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column

from kernel.clock import utcnow
from store.base import Base, UtcDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only INTEGER keys


class PaymentNotice(Base):
    """A payment notice (缴款通知书): who pays what to which collecting agency (执收单位)."""

    __tablename__ = "payment_notices"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # UUID: not guessable, used in URLs
    agency_code: Mapped[str] = mapped_column(String(32))  # 执收单位编码 ChgAgenCode
    agency_name: Mapped[str] = mapped_column(String(100))
    adm_div_code: Mapped[str] = mapped_column(String(6))  # 行政区划 of the payment code
    payer_key: Mapped[str] = mapped_column(String(18))  # resident ID number or USCC, validated
    payer_kind: Mapped[str] = mapped_column(String(12))  # resident | enterprise
    payer_name: Mapped[str] = mapped_column(String(100))
    items: Mapped[list] = mapped_column(JSON)  # [{code, name, unit, unit_price_fen, quantity, amount_fen}]
    total_fen: Mapped[int] = mapped_column(BigInteger)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    case_id: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(20))
    payment_code: Mapped[str] = mapped_column(String(32), unique=True)  # 缴款码
    platform: Mapped[str] = mapped_column(String(16))  # nontax | wechatpay
    platform_ref: Mapped[str | None] = mapped_column(String(64))  # the platform's own key (out_trade_no, ...)
    pay_url: Mapped[str | None] = mapped_column(String(1024))
    created_by: Mapped[str] = mapped_column(String(200))  # token subject or client of the creator
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # when the poller next asks the platform about it, while a payment may reach it unseen (registered, expired,
    # cancelled); None: nothing to ask. Only these rows are in ix_payment_notices_platform_check_at.
    platform_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # when the poller next looks for its e-receipt (set as a non-tax notice is paid or moves on while paid);
    # None: nothing to look for. Only these rows are in ix_payment_notices_receipt_check_at.
    receipt_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # when the poller stopped searching its missing e-receipt (logged once, counted once); None: searched or found
    receipt_search_abandoned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic concurrency (refunds, SQLite)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_payment_notices_payer_key", "payer_key"),
        Index("ix_payment_notices_status", "status"),
        Index("ix_payment_notices_case_id", "case_id"),
        Index("ix_payment_notices_platform_check_at", "platform_check_at",  # the poller's due platform checks
              postgresql_where=text("platform_check_at IS NOT NULL"), sqlite_where=text("platform_check_at IS NOT NULL")),
        Index("ix_payment_notices_receipt_check_at", "receipt_check_at",  # the poller's due e-receipt checks
              postgresql_where=text("receipt_check_at IS NOT NULL"), sqlite_where=text("receipt_check_at IS NOT NULL")),
    )


class PaymentIdempotencyKey(Base):
    """An `Idempotency-Key` a caller used to create a notice, with the request's hash and the answer."""

    __tablename__ = "payment_idempotency_keys"

    caller: Mapped[str] = mapped_column(String(200), primary_key=True)  # keys are scoped per caller
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    notice_id: Mapped[str] = mapped_column(ForeignKey("payment_notices.id"))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PaymentNoticeEvent(Base):
    """One state transition of a notice, kept for audit; also the outbox row of its bus message."""

    __tablename__ = "payment_notice_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("payment_notices.id"))
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, ... per notice
    event_type: Mapped[str] = mapped_column(String(40))  # payment.paid ...
    from_state: Mapped[str] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    message_id: Mapped[str] = mapped_column(String(36), unique=True)
    envelope: Mapped[str] = mapped_column(Text)  # the envelope as published (UTF-8 JSON)
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("notice_id", "seq", name="uq_payment_notice_events_notice_id_seq"),
        Index("ix_payment_notice_events_unpublished", "published_at"),
    )


class PaymentConfirmation(Base):
    """A payment the platform confirmed (callback or query); the transaction id makes callbacks idempotent."""

    __tablename__ = "payment_confirmations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("payment_notices.id"))
    platform: Mapped[str] = mapped_column(String(16))
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)  # TraNoBus / WeChat transaction_id
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    paid_at: Mapped[datetime] = mapped_column(UtcDateTime)
    pay_mode: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # callback | poll
    outcome: Mapped[str] = mapped_column(String(16))  # applied | duplicate_payment (a second payment: reconciliation)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_payment_confirmations_notice_id", "notice_id"),)


class PaymentRefund(Base):
    """A refund of (part of) a paid notice; the refund request id makes the request idempotent."""

    __tablename__ = "payment_refunds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notice_id: Mapped[str] = mapped_column(ForeignKey("payment_notices.id"))
    refund_request_id: Mapped[str] = mapped_column(String(64), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # pending | succeeded | failed
    platform_refund_id: Mapped[str | None] = mapped_column(String(64))
    failure: Mapped[str | None] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_payment_refunds_notice_id", "notice_id"),
        Index("ix_payment_refunds_pending", "created_at",  # the poller's refunds to send again: the pending only
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
    )


class PaymentReceipt(Base):
    """The fiscal e-receipt (财政电子票据) of a paid notice."""

    __tablename__ = "payment_receipts"

    notice_id: Mapped[str] = mapped_column(ForeignKey("payment_notices.id"), primary_key=True)
    ebill_code: Mapped[str] = mapped_column(String(32))  # 票据代码
    ebill_no: Mapped[str] = mapped_column(String(32))  # 票据号码
    check_code: Mapped[str] = mapped_column(String(32))  # 校验码
    issue_date: Mapped[date] = mapped_column(Date)
    download_url: Mapped[str] = mapped_column(String(1024))
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PaymentCodeCounter(Base):
    """The last payment-code sequence issued per division and year; its row lock serialises issuers."""

    __tablename__ = "payment_code_counters"

    division: Mapped[str] = mapped_column(String(12), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger)


class PaymentStatement(Base):
    """A statement or bill file exactly as downloaded, with its SHA-256 (imported once)."""

    __tablename__ = "payment_statements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    statement_date: Mapped[date] = mapped_column(Date)
    sha256: Mapped[str] = mapped_column(String(64))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    line_count: Mapped[int] = mapped_column(Integer)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("platform", "sha256", name="uq_payment_statements_platform_sha256"),)


class PaymentStatementLine(Base):
    """One normalised line of an imported statement (payment_bridge.statements.StatementLine)."""

    __tablename__ = "payment_statement_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("payment_statements.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    order_ref: Mapped[str] = mapped_column(String(64))  # payment code / out_trade_no
    transaction_id: Mapped[str] = mapped_column(String(64))
    refund_ref: Mapped[str | None] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # paid | refund
    paid_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_payment_statement_lines_statement_id", "statement_id"),
        Index("ix_payment_statement_lines_order_ref", "order_ref"),
    )
