"""Importing a platform's daily statement / bill: kept unchanged with its SHA-256, its lines stored."""
from __future__ import annotations

import hashlib
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from kernel.clock import utcnow
from store.models.payment import PaymentStatement, PaymentStatementLine


class ImportStatement:
    def __init__(self, db, platforms: dict):
        self.db = db
        self.platforms = platforms

    def import_statement(self, platform_name: str, day: date) -> tuple[PaymentStatement, bool]:
        """Download the day's statement / bill and store it. Returns (statement, created); the same file
        twice is imported once."""
        downloaded = self.platforms[platform_name].download_statement(day)
        digest = hashlib.sha256(downloaded.raw).hexdigest()
        try:
            with self.db.unit_of_work() as session:
                existing = self._by_digest(session, platform_name, digest)
                if existing is not None:
                    return existing, False
                statement = PaymentStatement(platform=platform_name, statement_date=downloaded.statement_date,
                                             sha256=digest, raw=downloaded.raw, line_count=len(downloaded.lines),
                                             imported_at=utcnow())
                session.add(statement)
                session.flush()
                session.add_all(PaymentStatementLine(
                    statement_id=statement.id, line_no=line.line_no, order_ref=line.order_ref,
                    transaction_id=line.transaction_id, refund_ref=line.refund_ref, amount_fen=line.amount_fen,
                    fee_fen=line.fee_fen, status=line.status, paid_at=line.paid_at) for line in downloaded.lines)
        except IntegrityError:
            with self.db.unit_of_work() as session:
                return self._by_digest(session, platform_name, digest), False
        return statement, True

    @staticmethod
    def _by_digest(session, platform_name: str, digest: str) -> PaymentStatement | None:
        return session.execute(select(PaymentStatement).where(
            PaymentStatement.platform == platform_name, PaymentStatement.sha256 == digest)).scalar_one_or_none()
