"""Creating a notice once per (caller, Idempotency-Key), and registering it with its platform."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from kernel.clock import to_beijing, utcnow
from kernel.identifiers import mask
from payment_bridge import states
from payment_bridge.errors import ChannelError, InvalidMessage, Refused
from payment_bridge.payment_code import format_payment_code
from payment_bridge.platforms.base import PlatformUnavailable
from payment_bridge.requests import NoticeRequest, check_notice_request
from payment_bridge.states import Event, State
from store.models.payment import PaymentCodeCounter, PaymentIdempotencyKey, PaymentNotice

log = logging.getLogger("govlink.payments")


class CreateNotice:
    def __init__(self, db, profiles, platforms: dict, ledger, reads):
        self.db = db
        self.profiles = profiles
        self.platforms = platforms
        self.ledger = ledger
        self.reads = reads

    def create(self, request: NoticeRequest, *, caller: str, actor: str | None, idempotency_key: str,
               body_hash: str) -> tuple[PaymentNotice, dict | None, bool]:
        """Create and register a notice once per (caller, Idempotency-Key).

        Returns (notice, stored response or None, replayed). Same key with another body: `Refused(409)`.
        """
        payer_key, payer_kind = check_notice_request(request, agencies=self.profiles.agencies,
                                                     platforms=self.platforms, now=utcnow())
        platform_name = request.platform or self.profiles.default_platform
        for _attempt in range(3):
            with self.db.unit_of_work() as session:
                existing = session.get(PaymentIdempotencyKey, (caller, idempotency_key))
                if existing is not None:
                    if existing.request_hash != body_hash:
                        raise Refused(409, "idempotency_key_reused",
                                      "This Idempotency-Key was used with a different request body; use a new key.")
                    return session.get(PaymentNotice, existing.notice_id), existing.response, True
            try:
                notice = self._insert(request, payer_key, payer_kind, platform_name, caller, actor,
                                      idempotency_key, body_hash)
                break
            except IntegrityError:
                continue  # a concurrent request with the same key won: read its result
        else:
            raise Refused(409, "idempotency_conflict", "Concurrent requests with this Idempotency-Key; retry.")
        return self.register(notice.id), None, False

    def store_response(self, caller: str, key: str, status_code: int, response: dict) -> None:
        """Keep the answer to the first request with this key, for replays."""
        with self.db.unit_of_work() as session:
            row = session.get(PaymentIdempotencyKey, (caller, key))
            if row is not None and row.response is None:
                row.status_code, row.response = status_code, response

    def register(self, notice_id: str) -> PaymentNotice:
        """Register a created notice with its platform; a silent platform leaves it for the poller."""
        notice = self.reads.get(notice_id)
        if notice.status != State.CREATED:
            return notice
        platform = self.platforms[notice.platform]
        try:
            registration = platform.register(notice)
        except PlatformUnavailable as exc:
            log.warning("notice %s not registered yet: %s", notice.id, exc.message)
            return notice
        except (ChannelError, InvalidMessage) as exc:
            return self.ledger.move(notice.id, Event.REGISTRATION_FAILED,
                                    details={"reason": exc.message[:200], "code": exc.code})
        return self.ledger.move(notice.id, Event.REGISTERED, details={"pay_url": registration.pay_url},
                                change=lambda n: (setattr(n, "platform_ref", registration.platform_ref),
                                                  setattr(n, "pay_url", registration.pay_url)))

    def _insert(self, request, payer_key, payer_kind, platform_name, caller, actor, key, body_hash):
        now = utcnow()
        with self.db.unit_of_work() as session:
            code = self._next_payment_code(session, now)
            notice = PaymentNotice(
                id=str(uuid.uuid4()), agency_code=request.agency_code,
                agency_name=self.profiles.agencies[request.agency_code], adm_div_code=self.profiles.division,
                payer_key=payer_key, payer_kind=payer_kind, payer_name=request.payer_name,
                items=[{"code": i.code, "name": i.name, "unit": i.unit, "unit_price_fen": i.unit_price_fen,
                        "quantity": i.quantity, "amount_fen": i.amount_fen} for i in request.items],
                total_fen=sum(i.amount_fen for i in request.items), paid_fen=0, refunded_fen=0,
                case_id=request.case_id,
                due_at=request.due_at or now + timedelta(days=self.profiles.due_days),
                status=str(states.INITIAL_STATE), payment_code=code, platform=platform_name,
                created_by=actor or caller, created_at=now, updated_at=now,
            )
            session.add(notice)
            session.flush()
            session.add(PaymentIdempotencyKey(caller=caller, key=key, request_hash=body_hash, notice_id=notice.id,
                                              created_at=now))
            session.flush()
        log.info("payment notice %s created (payer %s, %d fen)", notice.id, mask(payer_key), notice.total_fen)
        return notice

    def _next_payment_code(self, session, now: datetime) -> str:
        """The next 缴款码 of our division for this (Beijing) year; the counter row serialises issuers."""
        division, year = self.profiles.division, to_beijing(now).year
        for _ in range(5):
            seq = session.execute(
                update(PaymentCodeCounter)
                .where(PaymentCodeCounter.division == division, PaymentCodeCounter.year == year)
                .values(last_sequence=PaymentCodeCounter.last_sequence + 1)
                .returning(PaymentCodeCounter.last_sequence)
            ).scalar_one_or_none()
            if seq is not None:
                return format_payment_code(self.profiles.code_profile, division, year, seq)
            try:
                with session.begin_nested():
                    session.add(PaymentCodeCounter(division=division, year=year, last_sequence=0))
            except IntegrityError:
                pass  # another issuer created the row first; take the next number from it
        raise Refused(503, "payment_code_unavailable", "Could not issue a payment code; retry.")
