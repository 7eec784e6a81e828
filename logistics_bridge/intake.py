"""Tracking intake: carrier pushes and queried routes, folded into legs once and forward only.

Every event is stored once per leg (`dedup_key` = source and the carrier's event id, unique per leg); a
leg's status moves by `domain.fold_tracking` only (forward, never out of a final status), keeping the raw
carrier code; each status change writes a `shipment.<status>` event. A push is answered in its carrier's
format (`PushAnswer`), also when it is refused, so the callback route only sends the answer.
"""
from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from kernel.clock import utcnow
from logistics_bridge import domain
from logistics_bridge.carriers.kuaidi100 import callback_reply
from logistics_bridge.carriers.sf import push_reply
from logistics_bridge.errors import CarrierError, LogisticsError, SignatureError
from logistics_bridge.outbox import leg_event
from logistics_bridge.tracking import Status, TrackingEvent
from store.models.logistics import ShipmentLeg, ShipmentLegEvent, ShipmentTrackingEvent

log = logging.getLogger("govlink.logistics.callbacks")

JSON = "application/json;charset=UTF-8"


@dataclass
class TrackingReport:
    stored: int = 0  # new events kept (moved or history)
    moved: int = 0  # events that moved a leg's status
    duplicates: int = 0
    unknown_waybills: list[str] = field(default_factory=list)

    def add(self, other: "TrackingReport") -> None:
        self.stored += other.stored
        self.moved += other.moved
        self.duplicates += other.duplicates
        self.unknown_waybills += other.unknown_waybills


@dataclass(frozen=True)
class PushAnswer:
    """What a carrier's push is answered: 200 with its carrier's success reply, or a failure it resends on."""

    status: int
    body: bytes
    content_type: str
    report: TrackingReport | None = None


def failure_reply(source: str, message: str) -> bytes:
    """A failure answer in the carrier's format (the carrier resends the push)."""
    if source == "sf":
        return push_reply(False)
    if source == "kuaidi100":
        return callback_reply(False)
    return json.dumps({"code": "S00001", "codeMessage": message[:100]}, ensure_ascii=False).encode("utf-8")


class TrackingIntake:
    """Applies carrier news to legs: pushes (`answer_push`, `handle_push`) and queried routes (`apply_tracking`)."""

    def __init__(self, db, carriers, trackers, outbox):
        self.db = db
        self.carriers = carriers  # sf, ems: booking and tracking
        self.trackers = trackers  # every push source: sf, ems, kuaidi100
        self.outbox = outbox

    def answer_push(self, source: str, body: bytes, content_type: str = "", remote_addr: str | None = None) \
            -> PushAnswer | None:
        """Verify and apply a push from `source`; None for a source we do not know (404)."""
        if source not in self.trackers:
            return None
        try:
            reply, reply_type, report = self.handle_push(source, body, content_type)
        except SignatureError as exc:
            log.warning("logistics push refused: %s", exc.code, extra={"source": source, "error_code": exc.code,
                                                                         "remote_addr": remote_addr})
            return PushAnswer(400, failure_reply(source, exc.message), JSON)
        except LogisticsError as exc:
            log.warning("logistics push not applied: %s (%s)", exc.code, exc.message,
                        extra={"source": source, "error_code": exc.code})
            status = 503 if getattr(exc, "retryable", False) else 400
            return PushAnswer(status, failure_reply(source, exc.message), JSON)
        log.info("logistics push %s: %d new, %d moved, %d duplicates", source, report.stored, report.moved,
                 report.duplicates, extra={"source": source, "unknown_waybills": len(report.unknown_waybills)})
        return PushAnswer(200, reply, reply_type, report)

    def handle_push(self, source: str, body: bytes, content_type: str = "") -> tuple[bytes, str, TrackingReport]:
        """Verify and apply a carrier push; returns (the carrier's reply, its content type, what changed).

        Raises `SignatureError` / `CarrierError` for pushes we refuse. Unsigned pushes (SF, EMS) only tell us
        a waybill has news: events we already hold are dropped by their ids and, if anything is left, the
        carrier is asked for the waybill's routes and its answer is applied; a signed push (Kuaidi100) is
        applied as it is.
        """
        tracker = self.trackers.get(source)
        if tracker is None:
            raise CarrierError("unknown_carrier", f"no push source {source!r}", source)
        result = tracker.parse_push(body, content_type)
        if result.trusted:
            return result.reply, result.reply_content_type, self.apply_tracking(result.events, via="push")
        report = TrackingReport()
        unseen = self._unseen(result.events, report)
        for waybill in sorted({event.waybill for event in unseen}):
            queried = self._track(source, waybill)
            if queried is not None:
                report.add(self.apply_tracking(queried, via="push"))
            else:
                report.unknown_waybills.append(waybill)
        return result.reply, result.reply_content_type, report

    def _unseen(self, events: Iterable[TrackingEvent], report: TrackingReport) -> list[TrackingEvent]:
        events = list(events)
        keys = {domain.dedup_key(event) for event in events}
        with self.db.unit_of_work() as session:
            stored = set(session.execute(select(ShipmentTrackingEvent.dedup_key).where(
                ShipmentTrackingEvent.dedup_key.in_(keys))).scalars()) if keys else set()
        report.duplicates += sum(1 for event in events if domain.dedup_key(event) in stored)
        return [event for event in events if domain.dedup_key(event) not in stored]

    def _track(self, carrier: str, waybill: str) -> list[TrackingEvent] | None:
        with self.db.unit_of_work() as session:
            leg = session.execute(select(ShipmentLeg).where(ShipmentLeg.carrier == carrier,
                                                            ShipmentLeg.waybill_no == waybill)).scalar_one_or_none()
        if leg is None:
            return None
        return self.carriers[carrier].track(waybill, phone=leg.recipient.get("phone"))

    def apply_tracking(self, events: Iterable[TrackingEvent], *, via: str) -> TrackingReport:
        """Store new events per leg (deduplicated), move statuses forward only, publish `shipment.<status>`."""
        report = TrackingReport()
        by_waybill: dict[str, list[TrackingEvent]] = defaultdict(list)
        for event in events:
            by_waybill[event.waybill].append(event)
        rows: list[ShipmentLegEvent] = []
        for waybill, batch in by_waybill.items():
            for attempt in range(3):
                try:
                    with self.db.unit_of_work() as session:
                        rows += self._apply_to_leg(session, waybill, batch, via, report)
                    break
                except (IntegrityError, StaleDataError):
                    if attempt == 2:
                        raise  # a concurrent copy kept colliding: the carrier resends, the poller re-asks
        self.outbox.publish(rows)
        return report

    def _apply_to_leg(self, session, waybill: str, batch: list[TrackingEvent], via: str,
                      report: TrackingReport) -> list[ShipmentLegEvent]:
        sources = {event.carrier for event in batch}
        query = select(ShipmentLeg).where(ShipmentLeg.waybill_no == waybill)
        if sources <= set(self.carriers):  # a carrier's own events name its waybills; aggregators any
            query = query.where(ShipmentLeg.carrier.in_(sources))
        leg = session.execute(query.with_for_update()).scalars().first()
        if leg is None:
            report.unknown_waybills.append(waybill)
            return []
        seen = set(session.execute(select(ShipmentTrackingEvent.dedup_key).where(
            ShipmentTrackingEvent.leg_id == leg.id)).scalars())
        fresh: list[TrackingEvent] = []
        for event in batch:
            key = domain.dedup_key(event)
            if key in seen:
                report.duplicates += 1
                continue
            seen.add(key)
            fresh.append(event)
        if not fresh:
            return []
        fold = domain.fold_tracking(leg.state, leg.tracking_status, fresh, recipient_name=leg.recipient.get("name"))
        judged = {move.event.event_id: move.event for move in fold.moves}
        now = utcnow()
        for event in fresh:
            kept = judged.get(event.event_id, event)
            session.add(ShipmentTrackingEvent(
                leg_id=leg.id, dedup_key=domain.dedup_key(event), source=event.carrier, waybill_no=waybill,
                status=str(event.status), raw_code=event.raw_code[:32], occurred_at=event.occurred_at,
                location=event.location[:200], description=event.description[:500],
                signed_by_other=kept.signed_by_other, moved_status=event.event_id in judged, received_via=via,
                received_at=now))
        report.stored += len(fresh)
        report.moved += len(judged)
        rows = []
        for move in fold.moves:
            leg.last_raw_code = move.event.raw_code[:32]
            if move.event.status is Status.DELIVERED and move.event.signed_by_other:
                leg.signed_by_other = True
            if not move.announce:
                continue
            leg.tracking_status = move.status
            if move.state != leg.state:
                leg.state, leg.closed_at = move.state, now
            rows.append(leg_event(session, leg, f"shipment.{move.status}", {
                "raw_code": move.event.raw_code, "event_at": move.event.occurred_at.isoformat(), "via": via}))
        leg.tracking_status = str(fold.status)
        leg.last_event_at = leg.updated_at = now
        session.flush()
        return rows
