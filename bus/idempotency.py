"""The idempotent receiver: a message's effect happens once, however often it is delivered.

The processed-message record is written in the same database transaction as the effect, so either
both are there or neither is; a concurrent duplicate loses on the primary key and rolls back.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from kernel.clock import utcnow
from store.models.bus import ProcessedMessage

T = TypeVar("T")


def handle_once(db, consumer: str, message_id: str, effect: Callable[..., T]) -> tuple[bool, T | None]:
    """Run `effect(session)` unless `consumer` already processed `message_id`.

    Returns (True, result) the first time, (False, None) for a duplicate.
    """
    table, key = ProcessedMessage.__table__, str(message_id)
    try:
        with db.unit_of_work() as session:
            seen = session.execute(select(table.c.message_id).where(table.c.consumer == consumer,
                                                                    table.c.message_id == key)).first()
            if seen is not None:
                return False, None
            result = effect(session)
            session.execute(insert(table).values(consumer=consumer, message_id=key, processed_at=utcnow()))
            session.flush()  # the effect's own objects: a conflict there is also a duplicate's
            return True, result
    except IntegrityError:
        return False, None
