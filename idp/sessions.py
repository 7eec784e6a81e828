"""Single logout (R3): sessions ended by Keycloak's back-channel logout, refused by the gateway.

Keycloak posts a signed logout token naming the session (`sid`) when a person logs out in any
channel. govlink records the session as ended; access tokens of that session are then refused
until they would have expired anyway. Each process keeps the ended sessions in memory and
re-reads them from the database at most every `refresh_seconds`, so the request path costs no
query and another gateway process learns of a logout within that time.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from store.models.identity import EndedSession

log = logging.getLogger(__name__)

# Longer than any access token lives (realm accessTokenLifespan 300 s plus the verifier's leeway).
FORGET_AFTER = timedelta(minutes=15)


class EndedSessions:
    """The set of ended Keycloak sessions, shared by every request of one process."""

    def __init__(self, db, refresh_seconds: float = 1.0):
        self.db = db
        self.refresh_seconds = refresh_seconds
        self._sids: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def is_ended(self, sid: str | None) -> bool:
        """True if the session `sid` was logged out (None: a token without a session, e.g. a service account)."""
        if not sid:
            return False
        if time.monotonic() - self._loaded_at >= self.refresh_seconds:
            self._reload()
        return sid in self._sids

    def end(self, sid: str, subject: str | None, client_id: str | None) -> None:
        """Record that `sid` ended (idempotent: Keycloak may send the same logout to several clients)."""
        now = datetime.now(timezone.utc)
        with self.db.unit_of_work() as session:
            row = session.get(EndedSession, sid)
            if row is None:
                session.add(EndedSession(sid=sid, subject=subject, client_id=client_id, ended_at=now,
                                         forget_after=now + FORGET_AFTER))
        with self._lock:
            self._sids = self._sids | {sid}

    def _reload(self) -> None:
        # One thread reads; the others go on with the set they have instead of queueing behind a
        # query (a slow database must not stall every request of the process).
        if not self._lock.acquire(blocking=self._loaded_at == float("-inf")):  # the first read: wait for it
            return
        try:
            if time.monotonic() - self._loaded_at < self.refresh_seconds:
                return
            now = datetime.now(timezone.utc)
            try:
                with self.db.unit_of_work() as session:
                    self._sids = frozenset(session.scalars(
                        select(EndedSession.sid).where(EndedSession.forget_after > now)))
            except Exception as exc:  # keep what we knew; try again on the next request after the interval
                log.warning("could not read ended sessions: %s", exc.__class__.__name__)
            self._loaded_at = time.monotonic()
        finally:
            self._lock.release()


def ended_sessions_for(app) -> EndedSessions:
    """The process's ended-session set for this app's database (kept in `app.extensions`)."""
    with _lock:
        if "govlink_ended_sessions" not in app.extensions:
            app.extensions["govlink_ended_sessions"] = EndedSessions(app.extensions["govlink"].db)
        return app.extensions["govlink_ended_sessions"]


_lock = threading.Lock()
