"""Re-chaining a test's message log after editing its records, as a deployment or an attacker would."""
from __future__ import annotations

from datetime import timezone

from sqlalchemy import update

from bus.message_log.chain import GENESIS, HASHED_COLUMNS, record_hash
from store.models.bus import MessageLogHead, MessageLogRecord


def rehash_from(database, seq: int) -> None:
    """Hash records `seq`.. again, each by its own `chain_format`, linked to the record before, and move the head."""
    with database.unit_of_work() as s:
        before = s.get(MessageLogRecord, seq - 1)
        prev = before.record_hash if before else GENESIS
        for rec in s.query(MessageLogRecord).filter(MessageLogRecord.seq >= seq).order_by(MessageLogRecord.seq):
            row = {c: getattr(rec, c) for c in HASHED_COLUMNS}
            if rec.chain_format == 1:
                row["logged_at"] = rec.logged_at.astimezone(timezone.utc).isoformat()
            rec.prev_hash, rec.record_hash = prev, record_hash(prev, row, rec.chain_format)
            prev = rec.record_hash
        s.execute(update(MessageLogHead).values(last_hash=prev))


def older_records_in_format_1(database, upto: int) -> None:
    """Records 1..upto as a deployment before migration 0023 wrote them (format 1), the rest re-chained after
    them in format 2."""
    with database.unit_of_work() as s:
        s.execute(update(MessageLogRecord).values(chain_format=2))
        s.execute(update(MessageLogRecord).where(MessageLogRecord.seq <= upto).values(chain_format=1))
    rehash_from(database, 1)
