"""Single logout (R3): sessions ended by Keycloak's back-channel logout, refused by the gateway.

Keycloak posts a signed logout token naming the session (`sid`) when a person logs out in any
channel. govlink records the session as ended; access tokens of that session are then refused
until they would have expired anyway. Each process keeps the ended sessions in memory and
re-reads them from the database at most every `refresh_seconds`, so the request path costs no
query and another gateway process learns of a logout within that time.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select

from config.realm import ACCESS_TOKEN_LIFESPAN, SSO_SESSION_MAX_LIFESPAN
from store.models.identity import ConsoleSession, EndedSession

log = logging.getLogger(__name__)

# As long as any token of the session can be valid: a refresh token works until the session's
# maximum lifespan (no client of the realm may get offline tokens, config/realm.py), and the last
# access token refreshed then lives one more access-token lifetime, plus the verifier's leeway.
FORGET_AFTER = timedelta(seconds=SSO_SESSION_MAX_LIFESPAN + ACCESS_TOKEN_LIFESPAN + 60)


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


class ConsoleSessions:
    """The staff consoles' sign-ins, server-side: the browser holds only a random id.

    Tokens are stored encrypted (Fernet, key derived from the gateway secret), and a session ends
    with its row: at logout (`close`), when Keycloak's back-channel logout names its Keycloak
    session (`close_sid`), or at the realm's maximum session lifespan.
    """

    def __init__(self, db, secret: str):
        self.db = db
        key = hmac.new(secret.encode(), b"govlink-console-session-tokens", hashlib.sha256).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def open(self, tokens: dict, *, sid: str | None, subject: str) -> str:
        """Keep the tokens of a new sign-in; returns the id for the cookie."""
        session_id = secrets.token_urlsafe(32)
        now = datetime.now(timezone.utc)
        with self.db.unit_of_work() as session:
            session.add(ConsoleSession(id=session_id, sid=sid, subject=subject, tokens=self._seal(tokens),
                                       created_at=now, expires_at=now + timedelta(seconds=SSO_SESSION_MAX_LIFESPAN)))
        return session_id

    def tokens(self, session_id: str | None) -> dict | None:
        """The tokens of a live console session, or None (unknown, ended or expired)."""
        if not session_id:
            return None
        with self.db.unit_of_work() as session:
            row = session.get(ConsoleSession, str(session_id)[:64])
            if row is None or row.expires_at <= datetime.now(timezone.utc):
                return None
            try:
                return json.loads(self._fernet.decrypt(row.tokens.encode()))
            except InvalidToken:  # sealed with another gateway secret: sign in again
                return None

    def update(self, session_id: str, tokens: dict) -> None:
        with self.db.unit_of_work() as session:
            row = session.get(ConsoleSession, session_id)
            if row is not None:
                row.tokens = self._seal(tokens)

    def close(self, session_id: str | None) -> dict | None:
        """End one console session; returns its tokens (for the logout at Keycloak) or None."""
        tokens = self.tokens(session_id)
        if session_id:
            with self.db.unit_of_work() as session:
                session.execute(delete(ConsoleSession).where(ConsoleSession.id == str(session_id)[:64]))
        return tokens

    def close_sid(self, sid: str) -> int:
        """End every console session of the Keycloak session `sid` (back-channel logout); and expired ones."""
        with self.db.unit_of_work() as session:
            gone = session.execute(delete(ConsoleSession).where(ConsoleSession.sid == sid)).rowcount
            session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= datetime.now(timezone.utc)))
            return gone

    def _seal(self, tokens: dict) -> str:
        return self._fernet.encrypt(json.dumps(tokens).encode()).decode()


def disable_account(directory, ended: EndedSessions, consoles: ConsoleSessions | None, user_id: str) -> int:
    """Disable a Keycloak account and end all it could still do: its sessions at Keycloak (refresh
    tokens die, clients get back-channel logout), its access tokens here (the sessions are recorded
    as ended, which also voids every cached principal of them), its console sign-ins.
    Returns how many sessions ended."""
    sids = directory.disable(user_id)
    for sid in sids:
        ended.end(sid, user_id, None)
        if consoles is not None:
            consoles.close_sid(sid)
    log.info("account %s disabled, %d session(s) ended", user_id, len(sids))
    return len(sids)


def console_sessions_for(app) -> ConsoleSessions:
    """The app's console-session store (kept in `app.extensions`)."""
    with _lock:
        if "govlink_console_sessions" not in app.extensions:
            runtime = app.extensions["govlink"]
            app.extensions["govlink_console_sessions"] = ConsoleSessions(runtime.db,
                                                                         runtime.settings.gateway_client_secret)
        return app.extensions["govlink_console_sessions"]


def ended_sessions_for(app) -> EndedSessions:
    """The process's ended-session set for this app's database (kept in `app.extensions`)."""
    with _lock:
        if "govlink_ended_sessions" not in app.extensions:
            app.extensions["govlink_ended_sessions"] = EndedSessions(app.extensions["govlink"].db)
        return app.extensions["govlink_ended_sessions"]


_lock = threading.Lock()
