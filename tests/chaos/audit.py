"""Shared helpers of the message-log chaos scenarios: which envelopes are in the log, and `govlink audit verify`."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from store.models.bus import MessageLogRecord


def logged_directions(db, message_ids: list[str]) -> dict[str, set[str]]:
    """{message id: the directions it was logged in} for `message_ids`."""
    found: dict[str, set[str]] = {}
    with db.unit_of_work() as session:
        for i in range(0, len(message_ids), 5000):
            chunk = message_ids[i:i + 5000]
            for mid, direction in session.execute(select(MessageLogRecord.message_id, MessageLogRecord.direction)
                                                  .where(MessageLogRecord.message_id.in_(chunk))):
                found.setdefault(mid, set()).add(direction)
    return found


def audit_verify(database_url: str) -> tuple[bool, str]:
    """Run `govlink audit verify` against `database_url`; (passed, its output)."""
    govlink = Path(sys.executable).with_name("govlink")
    proc = subprocess.run([str(govlink), "audit", "verify"], env=dict(os.environ, GOVLINK_DATABASE_URL=database_url),
                          capture_output=True, text=True, timeout=120)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()[-2000:]
