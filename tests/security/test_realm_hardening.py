"""Finding 12 (issue 15), the realm's part: replayed against the real Keycloak and gateway.

- a disabled account's access token kept working until it expired;
- refresh tokens were not rotated (an old one could be used again);
- offline sessions lived 30 days idle with no maximum;
- `admin-cli` took passwords (direct access grant) in the realm;
- the gateway's service account held `manage-realm`.
"""
from __future__ import annotations

import time

import pytest

from config.realm import GATEWAY_REALM_MANAGEMENT_ROLES
from kernel.http import http_session
from idp.directory import directory_for
from idp.keycloak import admin_client
from simulators.channels.signin import SignInError
from tests.conftest import client_credentials_token
from tests.integration.idp.conftest import channels, people  # noqa: F401


# realm-management roles that change the realm itself, its clients, flows or who may administer it
REALM_CHANGING_ROLES = {"manage-realm", "realm-admin", "manage-clients", "create-client", "manage-authorization",
                        "manage-events", "manage-identity-providers", "impersonation"}


def _me(client, tokens):
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})


def test_disabling_an_account_ends_its_tokens_at_once(app, client, settings, people, channels):  # noqa: F811
    from idp.sessions import console_sessions_for, disable_account, ended_sessions_for

    person = people.create("冯", "停用")
    agent = channels.agent()
    mobile = channels.sign_in("mobile-app", person, agent=agent)
    portal = channels.sign_in("web-portal", agent=agent)
    assert _me(client, mobile).status_code == 200  # verified and cached by this gateway
    ended = disable_account(directory_for(settings), ended_sessions_for(app), console_sessions_for(app), person["id"])
    assert ended >= 1
    for tokens in (mobile, portal):
        refused = _me(client, tokens)
        assert refused.status_code == 401 and "ended" in refused.json["message"], refused.json
    with pytest.raises(SignInError):
        channels.refresh("mobile-app", mobile)


def test_a_refresh_token_works_once(people, channels):  # noqa: F811
    person = people.create("陈", "轮换")
    first = channels.sign_in("mobile-app", person)
    second = channels.refresh("mobile-app", first)
    assert second["refresh_token"] != first["refresh_token"]
    with pytest.raises(SignInError):  # the stolen copy of the first one is refused...
        channels.refresh("mobile-app", first)


def test_offline_sessions_have_a_maximum(settings):
    realm = admin_client(settings, settings.realm).get_realm(settings.realm)
    assert realm["offlineSessionMaxLifespanEnabled"] is True
    assert 0 < realm["offlineSessionMaxLifespan"] <= 30 * 24 * 3600
    assert realm["revokeRefreshToken"] is True and realm["refreshTokenMaxReuse"] == 0


def test_admin_cli_takes_no_password_in_the_realm(settings, people):  # noqa: F811
    person = people.create("褚", "密码")
    r = http_session(10).post(f"{settings.issuer}/protocol/openid-connect/token", data={
        "grant_type": "password", "client_id": "admin-cli", "username": person["resident_id"],
        "password": person["password"]})
    assert r.status_code in (400, 401) and "access_token" not in r.json(), r.status_code  # never print a token


def test_the_gateway_service_account_cannot_change_the_realm(settings):
    token = client_credentials_token(settings, settings.gateway_client_id)
    import base64
    import json

    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    roles = set(claims.get("resource_access", {}).get("realm-management", {}).get("roles", []))
    assert roles >= set(GATEWAY_REALM_MANAGEMENT_ROLES), roles  # effective roles: composites add query-groups
    assert not roles & REALM_CHANGING_ROLES, roles
    admin_url = f"{settings.keycloak_url.rstrip('/')}/admin/realms/{settings.realm}"
    r = http_session(10).put(admin_url, json={"registrationAllowed": False}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403, r.status_code
