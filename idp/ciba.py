"""The hotline's CIBA flow: govlink is Keycloak's HTTP authentication channel (R2, R3).

1. The hotline agent's system asks Keycloak (`/protocol/openid-connect/ext/ciba/auth`) for the
   caller's consent, naming them by resident ID number (`login_hint`).
2. Keycloak posts the request here (`POST /idp/ciba/auth-channel`) with a bearer token that only
   Keycloak can read (a JWE); `receive` keeps it as a pending request for that person.
3. The person sees it in the mobile app and approves or denies (`decide`): govlink answers
   Keycloak's callback endpoint with that bearer token, and the hotline's poll gets its tokens.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from connectors.http import http_session
from idp.directory import directory_for
from idp.identifiers import InvalidIdentifier, mask, validate_resident_id
from store.models.identity import CibaRequest

log = logging.getLogger(__name__)

DECISIONS = {"approve": "SUCCEED", "deny": "UNAUTHORIZED", "cancel": "CANCELLED"}
LIFETIME = timedelta(seconds=120)  # the realm's cibaExpiresIn


class CibaError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _now() -> datetime:
    return datetime.now(timezone.utc)


def receive(runtime, bearer: str, body: dict) -> CibaRequest:
    """Keep Keycloak's authentication-channel request for the person its login hint names."""
    if not bearer or bearer.count(".") not in (2, 4):
        raise CibaError(401, "invalid_token", "The authentication channel needs Keycloak's bearer token.")
    hint = str(body.get("login_hint") or "")
    try:
        resident_id = validate_resident_id(hint)
    except InvalidIdentifier as exc:
        raise CibaError(400, "invalid_login_hint", f"login_hint must be a resident ID number ({exc.code}).") from None
    if hint not in (resident_id, resident_id.lower()):  # never normalised into someone's number (issue 15)
        raise CibaError(400, "invalid_login_hint", "login_hint must be a resident ID number written canonically.")
    person = directory_for(runtime.settings).find_person(resident_id)
    if person is None:
        raise CibaError(404, "unknown_person", f"No account for {mask(resident_id)}.")
    request = CibaRequest(id=str(uuid.uuid4()), subject=person["id"], client_id=str(body.get("client_id") or "hotline"),
                          scope=str(body.get("scope") or "openid")[:500],
                          binding_message=(str(body["binding_message"])[:200] if body.get("binding_message") else None),
                          callback_token=bearer, status="pending", created_at=_now(), expires_at=_now() + LIFETIME)
    with runtime.db.unit_of_work() as session:
        session.add(request)
        session.flush()
        session.expunge(request)
    log.info("CIBA request %s for %s pending", request.id, mask(resident_id))
    return request


def pending_for(runtime, subject: str) -> list[dict]:
    """The person's requests still waiting for a decision (newest first)."""
    with runtime.db.unit_of_work() as session:
        rows = session.scalars(select(CibaRequest).where(
            CibaRequest.subject == subject, CibaRequest.status == "pending", CibaRequest.expires_at > _now())
            .order_by(CibaRequest.created_at.desc())).all()
        return [view(r) for r in rows]


def decide(runtime, subject: str, request_id: str, decision: str) -> dict:
    """The person approves or denies: answer Keycloak's callback, then record the decision."""
    with runtime.db.unit_of_work() as session:
        row = session.get(CibaRequest, request_id[:36])
        if row is None or row.subject != subject:
            raise CibaError(404, "not_found", "No such sign-in request for you.")
        if row.status != "pending":
            raise CibaError(409, "already_decided", f"This request is already {row.status}.")
        if row.expires_at <= _now():
            row.status, row.callback_token = "expired", None
            raise CibaError(410, "expired", "This sign-in request has expired; ask the hotline to send it again.")
        token = row.callback_token
    response = http_session(runtime.settings.http_timeout_seconds).post(
        f"{runtime.settings.issuer}/protocol/openid-connect/ext/ciba/auth/callback",
        json={"status": DECISIONS[decision]}, headers={"Authorization": f"Bearer {token}"})
    if response.status_code >= 300:
        log.warning("Keycloak refused the CIBA callback: HTTP %s", response.status_code)
        raise CibaError(502, "keycloak_refused", "Keycloak did not take the decision; the request may have expired.")
    with runtime.db.unit_of_work() as session:
        row = session.get(CibaRequest, request_id[:36])
        row.status = "approved" if decision == "approve" else "denied"
        row.decided_at, row.callback_token = _now(), None
        return view(row)


def view(row: CibaRequest) -> dict:
    return {"id": row.id, "client_id": row.client_id, "scope": row.scope, "binding_message": row.binding_message,
            "status": row.status, "created_at": row.created_at, "expires_at": row.expires_at}
