"""Real Keycloak tokens through `require_token`: accepted as they should be, refused when wrong."""
from __future__ import annotations

from kernel.http import http_session


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _client_credentials(settings, client_id, secret, realm_issuer=None):
    r = http_session(10).post(f"{realm_issuer or settings.issuer}/protocol/openid-connect/token", data={
        "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def test_gateway_service_account_is_accepted_as_govlink_gateway(client, settings):
    token = _client_credentials(settings, settings.gateway_client_id, settings.gateway_client_secret)
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200, me.json
    assert me.json["caller"] == "govlink/gateway" and me.json["assurance_level"] == 0
    assert me.json["client_id"] == "govlink-gateway"


def test_department_service_account_calls_as_its_xroad_client(client, settings):
    from config.realm import derived_secret

    token = _client_credentials(settings, "case-system", derived_secret(settings, "case-system"))
    assert client.get("/api/v1/me", headers=bearer(token)).json["caller"] == "GOV/11340100002987128A/case-system"


def test_citizen_token_from_the_portal_is_accepted(client, channels):
    from config.realm import demo_users

    citizen = demo_users()[0]
    tokens = channels.sign_in("web-portal", username=citizen["username"], password=citizen["password"])
    me = client.get("/api/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json["resident_id"] == "3401**********" + citizen["username"][-4:]
    assert "citizen" in me.json["roles"] and me.json["caller"] == "channel/web-portal"


def test_token_of_another_realm_is_refused(client, settings):
    r = http_session(10).post(f"{settings.keycloak_url}/realms/master/protocol/openid-connect/token", data={
        "grant_type": "password", "client_id": "admin-cli", "username": settings.keycloak_admin_user,
        "password": settings.keycloak_admin_password})
    refused = client.get("/api/v1/me", headers=bearer(r.json()["access_token"]))
    assert refused.status_code == 401 and refused.json["code"] == "invalid_token"
    assert refused.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_token_without_the_govlink_audience_is_refused(client, settings):
    from idp.keycloak import admin_client

    # The realm's own account-console client issues tokens that are not meant for govlink.
    admin = admin_client(settings, settings.realm)
    internal = admin.get_client_id("admin-cli")
    token = admin.connection.token  # a master-realm token: wrong issuer and audience
    assert internal and token
    refused = client.get("/api/v1/me", headers=bearer(token["access_token"]))
    assert refused.status_code == 401


def test_tampered_and_unsigned_keycloak_tokens_are_refused(client, settings):
    import base64
    import json

    token = _client_credentials(settings, settings.gateway_client_id, settings.gateway_client_secret)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["govlink_client"] = "GOV/11340100002987128A/case-system"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert client.get("/api/v1/me", headers=bearer(f"{header}.{forged}.{signature}")).status_code == 401
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    assert client.get("/api/v1/me", headers=bearer(f"{none_header}.{payload}.")).status_code == 401


def test_missing_scope_gives_403_insufficient_scope(app, settings):
    from flask import jsonify

    from routes.auth import require_token

    @app.get("/_test/scoped")
    @require_token(scopes=("payments:write",))
    def scoped():
        return jsonify(ok=True)

    token = _client_credentials(settings, settings.gateway_client_id, settings.gateway_client_secret)
    r = app.test_client().get("/_test/scoped", headers=bearer(token))
    assert r.status_code == 403 and r.json["code"] == "insufficient_scope"
    assert r.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
