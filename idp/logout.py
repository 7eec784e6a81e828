"""OIDC back-channel logout: Keycloak's logout token, verified, ends the session everywhere."""
from __future__ import annotations

import logging

from idp.principal import CHANNEL_CLIENTS
from idp.tokens import TokenError, verifier_for
from kernel.errors import Refused

log = logging.getLogger(__name__)

# Whose back-channel logout tokens are taken: the channels' and the staff consoles' (routes.console_auth).
LOGOUT_AUDIENCES = (*CHANNEL_CLIENTS, "staff-console")


def end_session(settings, token: str, ended_sessions, console_sessions) -> None:
    """Verify `token` and end its `sid` for every channel and the staff consoles' server-side sign-ins
    (400 `invalid_request` if the token is refused or names no sid)."""
    try:
        claims = verifier_for(settings).verify_logout_token(token, LOGOUT_AUDIENCES)
    except TokenError as exc:
        raise Refused(400, "invalid_request", f"The logout token was refused: {exc.description}.") from None
    sid = claims.get("sid")
    if not sid:
        raise Refused(400, "invalid_request", "govlink ends sessions by sid; the logout token has none.")
    ended_sessions.end(sid, claims.get("sub"), claims.get("aud") if isinstance(claims.get("aud"), str) else None)
    console_sessions.close_sid(sid)
    log.info("session ended by back-channel logout from Keycloak")
