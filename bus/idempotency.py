"""The idempotent receiver: a message's effect happens once, however often it is delivered.

The processed-message record is written in the same database transaction as the effect, so either
both are there or neither is; a concurrent duplicate loses on the primary key and rolls back.
"""
from __future__ import annotations

from typing import Callable, TypeVar

from sqlalchemy.exc import IntegrityError

from store.models.bus import ProcessedMessage

T = TypeVar("T")


def handle_once(db, consumer: str, message_id: str, effect: Callable[..., T]) -> tuple[bool, T | None]:
    """Run `effect(session)` unless `consumer` already processed `message_id`.

    Returns (True, result) the first time, (False, None) for a duplicate.
    """
    try:
        with db.unit_of_work() as session:
            if session.get(ProcessedMessage, (consumer, str(message_id))) is not None:
                return False, None
            result = effect(session)
            session.add(ProcessedMessage(consumer=consumer, message_id=str(message_id)))
            session.flush()
            return True, result
    except IntegrityError:
        return False, None
