"""A department call as the bus carries it: the `service.call` envelope type and the call's row.

The gateway (or identity verification) records a call `accepted` before publishing it; the
connector worker (`connectors/worker.py`) moves the same row to `succeeded` or `failed`; an async
caller polls it.
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import insert

from config.logging import mask_identifiers
from store.models.bus import ServiceCall

REQUEST_TYPE = "service.call"


_INSERT = insert(ServiceCall.__table__)  # built once; each call only binds its values


def record_accepted(session, envelope: dict, owner: str | None, **outcome) -> None:
    """The gateway's record of a call it is about to publish (status `accepted`), in the caller's
    transaction (an ORM session or a Core connection); `outcome` (status, error, ...) when a worker
    records a call it never saw recorded."""
    session.execute(_INSERT, {
        "message_id": envelope["message_id"], "service": envelope["service"], "operation": envelope["operation"],
        "client": envelope["client"], "user_masked": mask_identifiers(envelope.get("user") or "") or None,
        "owner": owner, "case_id": envelope.get("case_id"), "status": "accepted",
        "created_at": datetime.now(timezone.utc), **outcome})
