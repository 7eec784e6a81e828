"""The real Keycloak: a service-account token for the gateway client, verified with the realm's JWKS."""
from joserfc import jwt
from joserfc.jwk import KeySet

from kernel.http import http_session


def test_service_account_token_verifies_against_jwks(settings):
    http = http_session(10)
    discovery = http.get(f"{settings.issuer}/.well-known/openid-configuration").json()
    assert discovery["issuer"] == settings.issuer
    token = http.post(discovery["token_endpoint"], data={
        "grant_type": "client_credentials",
        "client_id": settings.gateway_client_id,
        "client_secret": settings.gateway_client_secret,
    })
    assert token.status_code == 200, token.text
    access_token = token.json()["access_token"]
    jwks = http.get(discovery["jwks_uri"]).json()
    assert any(k["kty"] == "RSA" and k.get("use") == "sig" for k in jwks["keys"])
    decoded = jwt.decode(access_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    assert decoded.claims["iss"] == settings.issuer
    assert "govlink" in decoded.claims["aud"] if isinstance(decoded.claims["aud"], list) else decoded.claims["aud"] == "govlink"
    assert decoded.claims["azp"] == settings.gateway_client_id


def test_wrong_client_secret_is_refused(settings):
    r = http_session(10).post(f"{settings.issuer}/protocol/openid-connect/token", data={
        "grant_type": "client_credentials", "client_id": settings.gateway_client_id, "client_secret": "wrong"})
    assert r.status_code == 401


def test_realm_as_code_is_applied(settings):
    from idp.keycloak import admin_client

    admin = admin_client(settings, settings.realm)
    realm = admin.get_realm(settings.realm)
    assert realm["defaultLocale"] == "zh-CN" and realm["bruteForceProtected"] is True
    roles = {r["name"] for r in admin.get_realm_roles()}
    assert {"citizen", "clerk", "finance", "supervisor"} <= roles


def test_flow_executions_keep_the_configured_order(settings):
    """Keycloak orders a flow's executions by priority; the API gives new ones priority 0 and equal
    priorities come back in an arbitrary order, so a fresh realm could open with the SMS form instead
    of the password form (seen on the cluster of `make cluster`). Each execution gets its position."""
    from config.realm_signin import FLOWS
    from idp.keycloak import admin_client

    admin = admin_client(settings, settings.realm)

    def check(alias, items):
        executions = [e for e in admin.get_authentication_flow_executions(alias) if e.get("level") == 0]
        names = [e.get("displayName") if e.get("authenticationFlow") else e.get("providerId") for e in executions]
        assert names == [item[0] for item in items], alias
        priorities = [e.get("priority") for e in executions]
        assert priorities == sorted(set(priorities)) and priorities[0] > 0, (alias, priorities)
        for item in items:
            if len(item) == 3 and isinstance(item[2], list):  # a sub-flow (a step's third item may be its config)
                check(item[0], item[2])

    for alias, items in FLOWS.items():
        check(alias, items)
