"""The parking lots, for the console: counts (sampled, to tell a lot that grows), list, inspect with
identifiers masked, replay and purge. Every replay and purge is recorded twice in one transaction
before any message moves: in the hash-chained message log (`bus.parking`) and in the operators'
trail (`operations.audit`); if that fails nothing moves."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta

from bus.message_log.operator import OperatorActionRefused
from bus.parking import ParkingLot
from bus.topology import service_queue
from kernel.errors import Refused
from operations import audit
from store.models.operations import ParkingSample

SAMPLE_EVERY = timedelta(minutes=5)  # a count is compared with the one kept at least this long before
MAX_LIST = 200


def _lot(runtime) -> ParkingLot:
    return ParkingLot(runtime.settings.amqp_url, runtime.db)


def counts(runtime, services: list[str]) -> dict[str, int | None]:
    """service -> parked messages (None: its parking queue is not declared yet)."""
    if not services:
        return {}
    with _lot(runtime) as lot:
        found = lot.counts([service_queue(s).parking for s in services])
    return {s: found[service_queue(s).parking] for s in services}


def next_sample(previous: dict | None, count: int, now: datetime) -> dict:
    """(pure) The sample to keep after seeing `count` now: the last one moves to `previous_*` once it is
    `SAMPLE_EVERY` old, so `previous_count` is always a count from at least five minutes before."""
    if previous is None:
        return {"count": count, "sampled_at": now, "previous_count": None, "previous_at": None}
    if now - previous["sampled_at"] >= SAMPLE_EVERY:
        return {"count": count, "sampled_at": now, "previous_count": previous["count"],
                "previous_at": previous["sampled_at"]}
    return {**previous, "count": count}


def growing(sample: dict) -> bool:
    """(pure) More parked now than at the earlier sample."""
    return sample.get("previous_count") is not None and sample["count"] > sample["previous_count"]


def observe(session, found: dict[str, int | None], now: datetime) -> dict[str, dict]:
    """Keep each lot's sample (the caller commits); service -> the sample now."""
    out = {}
    for service, count in found.items():
        if count is None:
            continue
        row = session.get(ParkingSample, service)
        before = None if row is None else {"count": row.count, "sampled_at": row.sampled_at,
                                           "previous_count": row.previous_count, "previous_at": row.previous_at}
        sample = next_sample(before, count, now)
        if row is None:
            session.add(ParkingSample(service=service, **sample))
        else:
            for key, value in sample.items():
                setattr(row, key, value)
        out[service] = sample
    return out


def listing(runtime, service: str, limit: int = 50) -> dict:
    """The first `limit` parked messages of `service` (left in place), with the count."""
    parking = service_queue(service).parking
    with _lot(runtime) as lot:
        count = lot.counts([parking])[parking]
        messages = [asdict(p) for p in lot.show(parking, min(limit, MAX_LIST))] if count else []
    return {"service": service, "count": count or 0, "messages": messages}


def inspect(runtime, service: str, message_id: str) -> dict:
    """One parked message with its whole envelope, personal identifiers masked; 404 if it is not parked."""
    parking = service_queue(service).parking
    with _lot(runtime) as lot:
        found = lot.inspect(parking, message_id) if lot.counts([parking])[parking] else None
    if found is None:
        raise Refused(404, "not_parked", f"No message {message_id} is parked for {service}; it may have been "
                      "replayed or purged (see the audit trail).")
    parked, body = found
    return {**asdict(parked), "payload": body}


def _refusal(exc: OperatorActionRefused) -> Refused:
    return Refused(422, exc.code, exc.message.replace("(--reason)", "(`reason`)").replace("(--operator)", ""))


def replay(runtime, service: str, *, actor: str, message_id: str | None = None, reason: str | None = None) -> int:
    """Send parked messages (one, or all) back to the service's queue; audited; how many moved."""
    q = service_queue(service)
    reason = (reason or "").strip() or None

    def trail(session, count, seq):
        audit.record(session, actor=actor, action="dlq.replay", target=service, reason=reason, count=count,
                     message_id=message_id, log_seq=seq)

    try:
        with _lot(runtime) as lot:
            if lot.counts([q.parking])[q.parking] is None:
                return 0
            return lot.replay(q.parking, q.name, message_id, operator=actor, reason=reason, service=service,
                              os_user=None, audit=trail)
    except OperatorActionRefused as exc:
        raise _refusal(exc) from None


def purge(runtime, service: str, *, actor: str, reason: str | None, message_id: str | None = None) -> int:
    """Remove parked messages (one, or all) for good: only with a reason; audited; how many went."""
    reason = (reason or "").strip()
    if not reason:
        raise Refused(422, "reason_required", "A purge cannot be undone: say why in `reason` (it is kept in the "
                      "audit trail with your name).")
    q = service_queue(service)

    def trail(session, count, seq):
        audit.record(session, actor=actor, action="dlq.purge", target=service, reason=reason, count=count,
                     message_id=message_id, log_seq=seq)

    try:
        with _lot(runtime) as lot:
            if lot.counts([q.parking])[q.parking] is None:
                return 0
            return lot.purge(q.parking, message_id, operator=actor, reason=reason, service=service, os_user=None,
                             audit=trail)
    except OperatorActionRefused as exc:
        raise _refusal(exc) from None
