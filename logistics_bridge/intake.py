"""Tracking intake: carrier pushes and queried routes, folded into legs once and forward only.

Part of `LogisticsService` (a mixin over its database, carriers, trackers and outbox). Every event
is stored once per leg (`dedup_key` = source and the carrier's event id, unique per leg); a leg's
status moves by `logistics_bridge.tracking.apply_events` only (forward, never out of a final
status), keeping the raw carrier code; each status change writes a `shipment.<status>` event.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from logistics_bridge.errors import CarrierError
from kernel.clock import utcnow
from logistics_bridge.outbox import leg_event
from logistics_bridge.tracking import FINAL, Status, TrackingEvent, apply_events
from store.models.logistics import ShipmentLeg, ShipmentLegEvent, ShipmentTrackingEvent


@dataclass
class TrackingReport:
    stored: int = 0  # new events kept (moved or history)
    moved: int = 0  # events that moved a leg's status
    duplicates: int = 0
    unknown_waybills: list[str] = field(default_factory=list)


class TrackingIntake:
    def handle_push(self, source: str, body: bytes, content_type: str = "") -> tuple[bytes, str, TrackingReport]:
        """Verify and apply a carrier push; returns (the carrier's reply, its content type, what changed).

        Raises `SignatureError` / `CarrierError` for pushes we refuse (the caller answers the carrier).
        Unsigned pushes (SF, EMS) only tell us a waybill has news: events we already hold are dropped
        by their ids and, if anything is left, the carrier is asked for the waybill's routes and its
        answer is applied; a signed push (Kuaidi100) is applied as it is.
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
                self._merge(report, self.apply_tracking(queried, via="push"))
            else:
                report.unknown_waybills.append(waybill)
        return result.reply, result.reply_content_type, report

    def _unseen(self, events: Iterable[TrackingEvent], report: TrackingReport) -> list[TrackingEvent]:
        events = list(events)
        keys = {_dedup_key(event) for event in events}
        with self.db.unit_of_work() as session:
            stored = set(session.execute(select(ShipmentTrackingEvent.dedup_key).where(
                ShipmentTrackingEvent.dedup_key.in_(keys))).scalars()) if keys else set()
        report.duplicates += sum(1 for event in events if _dedup_key(event) in stored)
        return [event for event in events if _dedup_key(event) not in stored]

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
            key = _dedup_key(event)
            if key in seen:
                report.duplicates += 1
                continue
            seen.add(key)
            fresh.append(event)
        if not fresh:
            return []
        before = leg.tracking_status or str(Status.CREATED)
        status, accepted = apply_events(before, fresh, recipient_name=leg.recipient.get("name"))
        moving = {event.event_id: event for event in accepted if event.status is not Status.UNKNOWN}
        now = utcnow()
        for event in fresh:
            kept = moving.get(event.event_id, event)
            session.add(ShipmentTrackingEvent(
                leg_id=leg.id, dedup_key=_dedup_key(event), source=event.carrier, waybill_no=waybill,
                status=str(event.status), raw_code=event.raw_code[:32], occurred_at=event.occurred_at,
                location=event.location[:200], description=event.description[:500],
                signed_by_other=kept.signed_by_other, moved_status=event.event_id in moving, received_via=via,
                received_at=now))
        report.stored += len(fresh)
        report.moved += len(moving)
        rows = []
        previous = before
        for event in accepted:
            if event.status is Status.UNKNOWN:
                continue
            leg.last_raw_code = event.raw_code[:32]
            if event.status is Status.DELIVERED and event.signed_by_other:
                leg.signed_by_other = True
            if str(event.status) != previous:
                leg.tracking_status = previous = str(event.status)
                if event.status in FINAL and leg.state == "booked":
                    leg.state, leg.closed_at = "closed", now
                rows.append(leg_event(session, leg, f"shipment.{event.status}", {
                    "raw_code": event.raw_code, "event_at": event.occurred_at.isoformat(), "via": via}))
        leg.tracking_status = str(status)
        leg.last_event_at = leg.updated_at = now
        session.flush()
        return rows

    @staticmethod
    def _merge(report: TrackingReport, other: TrackingReport) -> None:
        report.stored += other.stored
        report.moved += other.moved
        report.duplicates += other.duplicates
        report.unknown_waybills += other.unknown_waybills


def _dedup_key(event: TrackingEvent) -> str:
    return f"{event.carrier}:{event.event_id}"[:80]
