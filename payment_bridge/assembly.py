"""How the payment bridge is put together: its profiles, platforms and handlers, from what a process shares.

The process's runtime calls `build_payments` once and keeps the result (`runtime.payments`): a
`PaymentBridge`, whose attributes are the use-case handlers (routes, the CLI and the scheduler use
them) and whose methods are what other areas call (`payment_bridge.api.Payments`, plus the poller and
the statement import).
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from payment_bridge.handlers.close import CloseNotice
from payment_bridge.handlers.confirm import ConfirmPayment
from payment_bridge.handlers.create import CreateNotice
from payment_bridge.handlers.ledger import NoticeLedger
from payment_bridge.handlers.poll import Poller, PollReport
from payment_bridge.handlers.reads import Reads
from payment_bridge.handlers.refund import Refunds
from payment_bridge.handlers.statements import ImportStatement
from payment_bridge.requests import NoticeRequest


def build_payments(settings, db, publisher, message_log) -> "PaymentBridge":
    """The payment bridge on `db`, publishing through `publisher`, with the configured platforms."""
    from payment_bridge.platforms import build_platforms
    from payment_bridge.profiles import load_profiles

    profiles = load_profiles(settings)
    return PaymentBridge(db, profiles, build_platforms(profiles), publisher=publisher, message_log=message_log)


class PaymentBridge:
    """The handlers, wired once; satisfies `payment_bridge.api.Payments`."""

    def __init__(self, db, profiles, platforms: dict, *, publisher=None, message_log=None):
        self.profiles = profiles
        self.platforms = platforms
        self.ledger = NoticeLedger(db, publisher, message_log, settle=timedelta(seconds=profiles.poll_after_seconds))
        self.reads = Reads(db, platforms)
        self.refunds = Refunds(db, platforms, self.ledger)
        self.confirming = ConfirmPayment(db, platforms, self.ledger, self.refunds)
        self.creating = CreateNotice(db, profiles, platforms, self.ledger, self.reads)
        self.closing = CloseNotice(platforms, self.ledger, self.reads, self.confirming)
        self.poller = Poller(db, profiles, platforms, self.ledger, create=self.creating, confirm=self.confirming,
                             refunds=self.refunds, reads=self.reads, close=self.closing)
        self.statements = ImportStatement(db, platforms)

    # ------------------------------------------------------------------ payment_bridge.api.Payments
    def create_notice(self, request: NoticeRequest, *, caller: str, actor: str | None, idempotency_key: str,
                      body_hash: str):
        return self.creating.create(request, caller=caller, actor=actor, idempotency_key=idempotency_key,
                                    body_hash=body_hash)

    def close_notice(self, notice_id: str, *, actor: str, reason: str | None = None):
        return self.closing.close(notice_id, actor=actor, reason=reason)

    def get(self, notice_id: str):
        return self.reads.get(notice_id)

    def refund(self, notice_id: str, *, refund_request_id: str, amount_fen: int, reason: str | None, actor: str):
        return self.refunds.refund(notice_id, refund_request_id=refund_request_id, amount_fen=amount_fen,
                                   reason=reason, actor=actor)

    def notice_states(self, notice_ids: list[str]) -> dict[str, str]:
        return self.reads.notice_states(notice_ids)

    def history(self, notice_id: str):
        return self.reads.history(notice_id)

    def refunds_of(self, notice_id: str):
        return self.reads.refunds_of(notice_id)

    # ------------------------------------------------------------------ the scheduler, the CLI, reconciliation
    def poll(self, *, now: datetime | None = None, limit: int = 200) -> PollReport:
        return self.poller.poll(now=now, limit=limit)

    def import_statement(self, platform_name: str, day: date):
        return self.statements.import_statement(platform_name, day)
