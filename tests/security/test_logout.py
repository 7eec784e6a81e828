"""Finding 9 (issue 15): logout that did not log out.

Replayed against the real Keycloak with the gateway served on 127.0.0.1:8000 (where Keycloak
posts back-channel logout tokens): offline tokens on the channels, refresh tokens that outlive
the logout, ended sessions forgotten after 15 minutes, the staff console's logout without
`id_token_hint` and with a refused back-channel logout token, a copied console cookie that kept
working, and tokens readable in that cookie.
"""
from __future__ import annotations

import base64
import json
import re
import time
import zlib
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from idp.keycloak import admin_client
from simulators.channels.signin import Browserless, SignInError
from store.models.identity import EndedSession
from tests.integration.idp.conftest import channels, people  # noqa: F401
from tests.support.console_signin import BASE, console_sign_in

JWT = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")


def _claims(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _ended(db, subject: str, since: datetime) -> list[EndedSession]:
    with db.unit_of_work() as session:
        rows = session.scalars(select(EndedSession).where(EndedSession.subject == subject,
                                                          EndedSession.ended_at >= since)).all()
        for row in rows:
            session.expunge(row)
        return rows


def _wait_for(condition, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return result


def test_channels_hand_out_no_offline_tokens(people, channels):  # noqa: F811
    person = people.create("钱", "离线")
    for client_id in ("web-portal", "mobile-app", "service-hall"):
        try:
            tokens = channels.sign_in(client_id, person, scope="openid offline_access")
        except SignInError as exc:  # refused outright: the channel may not ask for offline access
            assert "invalid_scope" in str(exc), exc
            continue
        assert _claims(tokens["refresh_token"])["typ"] != "Offline", client_id
        assert "offline_access" not in tokens.get("scope", "").split(), client_id


def test_no_refresh_token_of_a_logged_out_session_works_again(client, gateway, people, channels):  # noqa: F811
    person = people.create("孙", "续期")
    agent = channels.agent()
    mobile = channels.sign_in("mobile-app", person, agent=agent)
    try:
        portal = channels.sign_in("web-portal", agent=agent, scope="openid offline_access")
    except SignInError:  # offline access refused (the fix): the portal's ordinary session then
        portal = channels.sign_in("web-portal", agent=agent)
    assert agent.logout(portal["id_token"]) in (200, 302)
    for client_id, tokens in (("web-portal", portal), ("mobile-app", mobile)):
        with pytest.raises(SignInError):  # Keycloak refuses: no session, online or offline, survived
            channels.refresh(client_id, tokens)
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 401


def test_ended_sessions_are_kept_as_long_as_a_session_can_live(db, settings, gateway, people, channels):  # noqa: F811
    person = people.create("李", "记住")
    agent = channels.agent()
    since = datetime.now(timezone.utc).replace(microsecond=0)
    portal = channels.sign_in("web-portal", person, agent=agent)
    agent.logout(portal["id_token"])
    rows = _wait_for(lambda: _ended(db, person["id"], since))
    assert rows, "the back-channel logout was not recorded"
    realm = admin_client(settings, settings.realm).get_realm(settings.realm)
    longest = max(realm["ssoSessionMaxLifespan"], realm.get("clientSessionMaxLifespan") or 0)
    kept = (rows[0].forget_after - rows[0].ended_at).total_seconds()
    assert kept >= longest + realm["accessTokenLifespan"], (kept, longest)


def _session_cookie(client) -> str:
    cookie = client.get_cookie("session", domain="127.0.0.1")
    return cookie.value if cookie else ""


def _cookie_text(value: str) -> str:
    """What anyone holding the cookie can read (Flask's cookie is signed, not encrypted)."""
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(raw) if value.startswith(".") else raw).decode("utf-8", "replace")


def test_console_logout_ends_the_session_everywhere(app, db, settings, gateway):
    staff = admin_client(settings, settings.realm).get_user_id("finance01")
    since = datetime.now(timezone.utc).replace(microsecond=0)
    client = app.test_client()
    agent = Browserless(settings.issuer)
    assert console_sign_in(client, agent, "finance01").status_code == 302
    assert client.get("/console/finance/", base_url=BASE).status_code == 200
    copied = _session_cookie(client)
    assert copied and not JWT.search(_cookie_text(copied)), "the console cookie carries readable tokens"

    out = client.get("/console/auth/logout", base_url=BASE)
    assert out.status_code == 302
    end = urlsplit(out.headers["Location"])
    assert parse_qs(end.query).get("id_token_hint"), "logout without id_token_hint asks the person to confirm"
    at_keycloak = agent.http.get(out.headers["Location"], allow_redirects=False)
    assert at_keycloak.status_code in (302, 303), at_keycloak.status_code  # ended, no confirmation page
    # Keycloak's back-channel logout token for staff-console is accepted, and the session recorded as ended
    assert _wait_for(lambda: [r for r in _ended(db, staff, since) if r.client_id == "staff-console"]), \
        "the staff console's back-channel logout was refused"

    thief = app.test_client()
    thief.set_cookie("session", copied, domain="127.0.0.1")
    r = thief.get("/console/finance/", base_url=BASE)
    assert r.status_code == 302 and "/console/auth/login" in r.headers["Location"], r.status_code


def test_logout_at_keycloak_signs_the_console_out(app, settings, gateway):
    """Back-channel logout (the person signed out in another tab or channel) ends the console session."""
    client = app.test_client()
    agent = Browserless(settings.issuer)
    assert console_sign_in(client, agent, "supervisor01", next_path="/console/supervision/").status_code == 302
    assert client.get("/console/supervision/", base_url=BASE).status_code == 200
    staff = admin_client(settings, settings.realm).get_user_id("supervisor01")
    admin_client(settings, settings.realm).user_logout(staff)  # an administrator ends the person's sessions
    assert _wait_for(lambda: client.get("/console/supervision/", base_url=BASE).status_code == 302), \
        "the console session survived the logout at Keycloak"
