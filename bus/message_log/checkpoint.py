"""Checkpoints of the verified chain, so that the next verification starts where this one ended.

A checkpoint is (record `seq`, that record's hash): the hash covers every record before it, so
a chain verified up to there and still ending in that hash at that record needs only the records
after it checked. Checkpoints are rows of `message_log_checkpoints`, each sealed with an
HMAC-SHA256 under a key that is not in the database (`GOVLINK_AUDIT_CHECKPOINT_KEY`, else derived
from the gateway's client secret): whoever can rewrite the log cannot forge a checkpoint, and a
checkpoint altered or made under another key is refused (`CheckpointRefused`; verify in full).
An incremental verification does not re-read the records before the checkpoint: `--full` does.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone

from sqlalchemy import select

from bus.message_log.verify import Anchor, VerifyReport, verify
from store.models.bus import MessageLogCheckpoint


class CheckpointRefused(ValueError):
    """The latest checkpoint's seal does not match: it was altered, forged or made under another key."""


def checkpoint_key(settings) -> bytes:
    secret = settings.audit_checkpoint_key or ("derived:" + settings.gateway_client_secret)
    return hashlib.sha256(b"govlink audit checkpoint\n" + secret.encode()).digest()


def seal(key: bytes, seq: int, record_hash: str, created_at: datetime) -> str:
    message = f"govlink-audit-checkpoint\n{seq}\n{record_hash}\n{created_at.astimezone(timezone.utc).isoformat()}"
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def latest(session, key: bytes) -> MessageLogCheckpoint | None:
    """The checkpoint furthest along the chain; raises CheckpointRefused when its seal does not match."""
    row = session.execute(select(MessageLogCheckpoint).order_by(MessageLogCheckpoint.seq.desc(),
                                                                MessageLogCheckpoint.id.desc()).limit(1)).scalar()
    if row is not None and not hmac.compare_digest(row.mac, seal(key, row.seq, row.record_hash, row.created_at)):
        raise CheckpointRefused(f"checkpoint {row.id} (at record {row.seq}) does not carry a valid seal: it was "
                                "altered or forged; verify in full (--full)")
    return row


def record(session, key: bytes, report: VerifyReport) -> MessageLogCheckpoint | None:
    """Keep where a passed verification ended (the caller commits); nothing for a failed one or an empty log."""
    if not report.ok or report.last_seq <= 0:
        return None
    now = datetime.now(timezone.utc).replace(microsecond=0)
    row = MessageLogCheckpoint(seq=report.last_seq, record_hash=report.last_hash, verified=report.checked,
                               incremental=report.since is not None, created_at=now,
                               mac=seal(key, report.last_seq, report.last_hash, now))
    session.add(row)
    return row


def verify_from_checkpoint(session, key: bytes, *, full: bool = False, method: str = "auto") -> VerifyReport:
    """Verify after the latest checkpoint (in full without one, or with `full`); raises CheckpointRefused.

    On PostgreSQL the whole verification reads one snapshot (REPEATABLE READ): records
    appended meanwhile are neither half seen nor taken for records removed from the end (the head
    moves in the same transaction as the records it covers). Call it on a session that has not
    run a statement yet.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    point = None if full else latest(session, key)
    since = Anchor(point.seq, point.record_hash) if point is not None else None
    return verify(session, since=since, method=method)
