"""The hotline's CIBA flow: govlink is Keycloak's HTTP authentication channel (R2, R3).

1. The hotline agent's system asks Keycloak (`/protocol/openid-connect/ext/ciba/auth`) for the
   caller's consent, naming them by resident ID number (`login_hint`).
2. Keycloak posts the request here (`POST /idp/ciba/auth-channel`) with a bearer token it signs
   with the realm's key (issuer = audience = the realm, `azp` the CIBA client, `sub` the person);
   `receive` verifies it (idp.tokens) and keeps a pending request for the token's `sub`. Nothing
   but that token decides who is prompted: a forged or missing token gets the same 401 whoever the
   login hint names, so the channel tells nobody whether an ID number has an account.
3. The person sees it in the mobile app and approves or denies (`decide`): govlink answers
   Keycloak's callback endpoint with that bearer token, and the hotline's poll gets its tokens.
"""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from kernel.errors import Refused
from kernel.http import http_session
from idp.tokens import TokenError, verifier_for
from store.models.identity import CibaRequest

log = logging.getLogger(__name__)

CIBA_CLIENTS = ("hotline",)  # the realm's clients with the CIBA grant (config/realm.py)
DECISIONS = {"approve": "SUCCEED", "deny": "UNAUTHORIZED", "cancel": "CANCELLED"}
LIFETIME = timedelta(seconds=120)  # the realm's cibaExpiresIn


class CibaError(Refused):
    """A refused CIBA request or decision, answered with its `status` and `code`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, code, message)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def receive(runtime, bearer: str, body: dict) -> CibaRequest:
    """Keep Keycloak's authentication-channel request for the person its signed bearer token names."""
    try:
        claims = verifier_for(runtime.settings).verify_auth_channel_token(bearer, CIBA_CLIENTS)
    except TokenError:
        raise CibaError(401, "invalid_token", "The authentication channel takes only Keycloak's signed bearer "
                        "token for a CIBA request.") from None
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{runtime.settings.issuer}#ciba/{claims['jti']}"))
    expires_at = min(datetime.fromtimestamp(int(claims["exp"]), timezone.utc), _now() + LIFETIME)
    with runtime.db.unit_of_work() as session:
        existing = session.get(CibaRequest, request_id)
        if existing is not None:  # the same request posted again (a retry or a replay): keep one prompt
            session.expunge(existing)
            return existing
        request = CibaRequest(id=request_id, subject=str(claims["sub"]), client_id=str(claims["azp"]),
                              scope=str(body.get("scope") or "openid")[:500],
                              binding_message=(str(body["binding_message"])[:200] if body.get("binding_message") else None),
                              callback_token=bearer, status="pending", created_at=_now(), expires_at=expires_at)
        session.add(request)
        session.flush()
        session.expunge(request)
    log.info("CIBA request %s pending", request.id)
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
