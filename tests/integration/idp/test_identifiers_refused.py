"""Bad identifiers are refused by govlink's API and by Keycloak itself (admin API, registration page)."""
from __future__ import annotations

import html
import re

import pytest
from keycloak.exceptions import KeycloakError

from kernel.identifiers import make_resident_id
from idp.keycloak import admin_client
from simulators.channels.signin import Browserless, pkce_pair


def _bad_checksum(resident_id: str) -> str:
    last = resident_id[-1]
    return resident_id[:-1] + ("0" if last != "0" else "1")


def test_govlink_registration_refuses_a_bad_checksum(client):
    bad = _bad_checksum(make_resident_id("340104"))
    r = client.post("/api/v1/identity/registrations", json={
        "resident_id": bad, "family_name": "钱", "given_name": "错号", "password": "Hefei-Test-2026x"})
    assert r.status_code == 422 and r.json["code"] == "invalid_identifier"
    assert r.json["details"] == {"field": "resident_id", "rule": "checksum"}
    assert bad not in r.get_data(as_text=True)


def test_govlink_registration_creates_an_l1_person_who_can_sign_in(client, settings, channels, people, workers):
    resident_id = people.new_resident_id()
    r = client.post("/api/v1/identity/registrations", json={
        "resident_id": resident_id, "family_name": "孙", "given_name": "注册", "phone": "13900001234",
        "password": "Hefei-Test-2026x"})
    assert r.status_code == 201, r.json
    people.created.append(r.json["subject"])
    assert r.json["assurance_level"] == 1 and resident_id not in r.get_data(as_text=True)
    again = client.post("/api/v1/identity/registrations", json={
        "resident_id": resident_id, "family_name": "孙", "given_name": "注册", "password": "Hefei-Test-2026x"})
    assert again.status_code == 409  # an L1 account is reclaimed only with the registry's name for the number
    tokens = channels.sign_in("mobile-app", username=resident_id, password="Hefei-Test-2026x")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json["assurance_level"] == 1


def test_keycloak_admin_api_refuses_a_bad_checksum(settings):
    admin = admin_client(settings, settings.realm)
    with pytest.raises(KeycloakError) as exc:
        admin.create_user({"username": _bad_checksum(make_resident_id("340104")), "enabled": True,
                           "firstName": "错", "lastName": "号"})
    assert exc.value.response_code == 400
    assert b"govlinkInvalidResidentId" in exc.value.response_body and b"checksum" in exc.value.response_body


def test_keycloak_admin_api_still_takes_staff_accounts(settings):
    admin = admin_client(settings, settings.realm)
    user_id = admin.create_user({"username": "clerk-test-tmp", "enabled": True, "firstName": "临", "lastName": "时"})
    admin.delete_user(user_id)


def test_keycloak_registration_page_refuses_a_bad_checksum_and_a_staff_name(settings):
    agent = Browserless(settings.issuer)
    for username in (_bad_checksum(make_resident_id("340104")), "clerk99"):
        page = agent.http.get(f"{settings.issuer}/protocol/openid-connect/registrations", params={
            "client_id": "web-portal", "response_type": "code", "scope": "openid",
            "redirect_uri": "http://127.0.0.1:8399/portal/cb", "code_challenge": pkce_pair()[1],
            "code_challenge_method": "S256"})
        agent._insecure_ok()
        action = html.unescape(re.search(r'<form[^>]*id="kc-register-form"[^>]*action="([^"]+)"', page.text, re.S).group(1))
        r = agent.http.post(action, data={"username": username, "lastName": "错", "firstName": "号",
                                          "password": "Hefei-Test-2026x", "password-confirm": "Hefei-Test-2026x"},
                            allow_redirects=False)
        agent._insecure_ok()
        assert r.status_code == 200  # the form again, with the error, and no account
        assert "居民身份证号码无效" in r.text or "Invalid resident ID number" in r.text
        assert admin_client(settings, settings.realm).get_user_id(username.lower()) is None
