"""The hotline's CIBA round trip: Keycloak -> govlink's authentication channel -> mobile app approves."""
from __future__ import annotations

import time

from config.realm import derived_secret
from kernel.http import http_session

CIBA_GRANT = "urn:openid:params:grant-type:ciba"


def _ask(settings, resident_id, message="HOTLINE-12345-A7"):
    r = http_session(10).post(f"{settings.issuer}/protocol/openid-connect/ext/ciba/auth", data={
        "client_id": "hotline", "client_secret": derived_secret(settings, "hotline"), "scope": "openid",
        "login_hint": resident_id, "binding_message": message})
    assert r.status_code == 200, r.text
    return r.json()["auth_req_id"]


def _poll(settings, auth_req_id):
    return http_session(10).post(f"{settings.issuer}/protocol/openid-connect/token", data={
        "grant_type": CIBA_GRANT, "auth_req_id": auth_req_id, "client_id": "hotline",
        "client_secret": derived_secret(settings, "hotline")})


def _pending(client, tokens):
    return client.get("/api/v1/identity/ciba/requests", headers={"Authorization": f"Bearer {tokens['access_token']}"})


def test_ciba_round_trip_approved_in_the_mobile_app(client, settings, gateway, people, channels):
    person = people.create("陈", "热线")
    mobile = channels.sign_in("mobile-app", person)
    auth_req_id = _ask(settings, person["resident_id"])
    assert _poll(settings, auth_req_id).json()["error"] == "authorization_pending"

    pending = _pending(client, mobile).json
    assert len(pending) == 1 and pending[0]["binding_message"] == "HOTLINE-12345-A7"
    decided = client.post(f"/api/v1/identity/ciba/requests/{pending[0]['id']}", json={"decision": "approve"},
                          headers={"Authorization": f"Bearer {mobile['access_token']}"})
    assert decided.status_code == 200, decided.json
    assert decided.json["status"] == "approved"

    deadline = time.monotonic() + 10
    while (r := _poll(settings, auth_req_id)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert r.status_code == 200, r.text
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json
    assert me["caller"] == "channel/hotline" and me["subject"] == person["id"]
    assert _pending(client, mobile).json == []


def test_ciba_denied_gives_the_hotline_access_denied(client, settings, gateway, people, channels):
    person = people.create("褚", "拒绝")
    mobile = channels.sign_in("mobile-app", person)
    auth_req_id = _ask(settings, person["resident_id"])
    request_id = _pending(client, mobile).json[0]["id"]
    headers = {"Authorization": f"Bearer {mobile['access_token']}"}
    assert client.post(f"/api/v1/identity/ciba/requests/{request_id}", json={"decision": "deny"}, headers=headers).status_code == 200
    assert _poll(settings, auth_req_id).json()["error"] == "access_denied"
    again = client.post(f"/api/v1/identity/ciba/requests/{request_id}", json={"decision": "approve"}, headers=headers)
    assert again.status_code == 409


def test_only_the_person_in_the_mobile_app_can_approve(client, settings, gateway, people, channels):
    person, other = people.create("卫", "本人"), people.create("蒋", "他人")
    _ask(settings, person["resident_id"])
    request_id = _pending(client, channels.sign_in("mobile-app", person)).json[0]["id"]
    for tokens in (channels.sign_in("mobile-app", other), channels.sign_in("web-portal", person)):
        r = client.post(f"/api/v1/identity/ciba/requests/{request_id}", json={"decision": "approve"},
                        headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert r.status_code in (403, 404)


def test_auth_channel_refuses_calls_without_keycloaks_token(client):
    r = client.post("/idp/ciba/auth-channel", json={"login_hint": "340104198506150213", "scope": "openid"})
    assert r.status_code == 401
