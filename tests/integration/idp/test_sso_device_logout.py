"""Sign in once (SSO across channels), the kiosk's device grant, and single logout (R3)."""
from __future__ import annotations

import time

from kernel.http import http_session

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _me(client, tokens):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})


def test_second_channel_signs_in_through_the_sso_session_without_a_password(client, people, channels):
    person = people.create("韩", "单点")
    agent = channels.agent()
    portal = channels.sign_in("web-portal", person, agent=agent)
    mobile = channels.sign_in("mobile-app", agent=agent)  # no credentials: the SSO session answers
    assert _me(client, mobile).json["subject"] == _me(client, portal).json["subject"] == person["id"]


def test_kiosk_device_grant_approved_from_the_signed_in_browser(client, settings, people, channels):
    person = people.create("杨", "终端")
    agent = channels.agent()
    channels.sign_in("web-portal", person, agent=agent)
    http = http_session(10)
    device = http.post(f"{settings.issuer}/protocol/openid-connect/auth/device",
                       data={"client_id": "kiosk", "scope": "openid"}).json()
    poll = {"grant_type": DEVICE_GRANT, "device_code": device["device_code"], "client_id": "kiosk"}
    assert http.post(f"{settings.issuer}/protocol/openid-connect/token", data=poll).json()["error"] == "authorization_pending"
    agent.approve_device(device["verification_uri_complete"])
    deadline = time.monotonic() + 10
    while True:
        time.sleep(device["interval"] + 0.1)  # polling faster than the interval gets slow_down
        tokens = http.post(f"{settings.issuer}/protocol/openid-connect/token", data=poll)
        if tokens.status_code == 200 or time.monotonic() > deadline:
            break
    assert tokens.status_code == 200, tokens.text
    me = _me(client, tokens.json()).json
    assert me["caller"] == "channel/kiosk" and me["subject"] == person["id"]


def test_logout_on_the_portal_ends_the_mobile_app_session_through_backchannel_logout(client, gateway, people, channels):
    person = people.create("朱", "登出")
    agent = channels.agent()
    portal = channels.sign_in("web-portal", person, agent=agent)
    mobile = channels.sign_in("mobile-app", agent=agent)
    assert _me(client, mobile).status_code == 200

    assert agent.logout(portal["id_token"]) in (200, 302)
    deadline = time.monotonic() + 5
    while (refused := _me(client, mobile)).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert refused.status_code == 401 and "ended" in refused.json["message"]
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]


def test_forged_logout_token_is_refused(client):
    r = client.post("/idp/backchannel-logout", data={"logout_token": "eyJhbGciOiJub25lIn0.eyJzaWQiOiJ4In0."})
    assert r.status_code == 400
