"""Closing a payment notice (关闭缴款通知书): an unpaid notice is withdrawn so that it is no longer payable.

`CloseNotice.close` moves a created, registered or expired notice to `cancelled` (event `payment.cancelled`,
with the actor, the reason and whether the platform withdrew it too). It is idempotent: a notice closed
before is returned as it is. A notice that is already paid is refused with `NoticePaid` (409
`notice_paid`): money was taken, so the caller refunds instead. A notice the platform never accepted
(`failed`) has nothing payable and is returned as it is.

Where the platform can withdraw a notice, it is withdrawn there first (WeChat Pay closes the order, so
the payer's attempt is refused by WeChat itself). If WeChat answers that the order is already paid, the
payment is read back with a query and applied, and the close is refused with `notice_paid`.

Why the provincial non-tax platform is closed on our side only: its message set (DOMAIN.md section 3:
8994 notice, 8997 status query, 8998 refund, 8999 e-receipt, 5996 confirmation) has no withdrawal
message, and a notice it holds carries no deadline of ours, so the platform keeps accepting payment
for it. Inventing a message number the platform does not publish would only move the problem into the
adapter. So govlink closes the notice locally and makes sure that a payer who still pays it there is
neither lost nor mistaken for a normal payment:
- the platform's 5996 confirmation is refused by govlink: the 8001 answer carries `notice_closed`, and
  so does every resend of the same transaction;
- it is recorded all the same, once per transaction id: the confirmation row (outcome
  `paid_after_close`), the notice's move to `paid_after_close` with the amount paid, the event
  `payment.paid_after_close` on govlink.events (not `payment.paid`, so no leg is booked on it), and a
  warning in the log. The only way out of that state is a refund, through the ordinary refund API;
- the poller keeps asking the platform about such closed notices (as it does about registered ones
  until 30 days after their due date), so a confirmation that never arrived is found the same way.
The daily statement lists the payment like any other, so reconciliation has it as well.
"""
from __future__ import annotations

import logging

from payment_bridge.domain import CLOSED_STATES, decide_close, notice_paid
from payment_bridge.errors import ChannelError, IllegalTransition, InvalidMessage, Refused
from payment_bridge.platforms.base import PlatformUnavailable
from payment_bridge.states import Event, State

log = logging.getLogger("govlink.payments")


class CloseNotice:
    def __init__(self, platforms: dict, ledger, reads, confirm):
        self.platforms = platforms
        self.ledger = ledger
        self.reads = reads
        self.confirm = confirm

    @property
    def closed_here_only(self) -> list[str]:
        """Platforms that cannot withdraw a notice: a notice closed on them stays payable there."""
        return sorted(name for name, platform in self.platforms.items()
                      if not getattr(platform, "closes_at_platform", False))

    def close(self, notice_id: str, *, actor: str, reason: str | None = None):
        """Close an unpaid notice so it can no longer be paid (see the module doc); returns the notice.

        Raises `NoticePaid` for a paid notice (refund it instead), `Refused` 404 for an unknown one,
        `PlatformUnavailable` (503) when the platform that must withdraw it is not answering (the notice
        stays open), `Refused` 502 when it refuses to.
        """
        notice = self.reads.get(notice_id)
        if notice is None:
            raise Refused(404, "unknown_notice", "No such payment notice.")
        if not decide_close(notice):
            return notice
        platform = self.platforms[notice.platform]
        closes_there = getattr(platform, "closes_at_platform", False)
        if closes_there:
            self._close_at_platform(platform, notice)
        details = {"source": "close", "closed_at_platform": closes_there}
        if reason:
            details["reason"] = reason[:80]
        try:
            closed = self.ledger.move(notice.id, Event.CANCELLED, details=details, actor=actor)
        except IllegalTransition:  # paid or closed by someone else meanwhile
            current = self.reads.get(notice.id)
            if current.status in CLOSED_STATES:
                return current
            raise notice_paid(current) from None
        log.info("notice %s closed (%s)", notice.id, "at the platform too" if closes_there else "here only")
        return closed

    def _close_at_platform(self, platform, notice) -> None:
        """Withdraw the notice at a platform that can; find out why when it will not."""
        try:
            platform.close(notice)
            return
        except (ChannelError, InvalidMessage) as exc:
            refusal = exc
        try:
            result = platform.query(notice)
        except ChannelError:
            return  # the platform does not know the notice (never registered there): nothing is payable
        except (PlatformUnavailable, InvalidMessage):
            result = None
        if result is not None and result.payment is not None:  # paid a moment ago
            self.confirm.apply(notice.platform, result.payment, source="close")
            raise notice_paid(self.reads.get(notice.id))
        if result is not None and result.state == State.CANCELLED:
            return  # closed there already
        raise Refused(502, "close_refused", f"The payment platform did not close the notice: {refusal.message}",
                      {"status": notice.status})
