"""Forged and wrong tokens against a protected endpoint (`GET /api/v1/me`): each gets 401 `invalid_token`.

- `alg: none` and HS256 signed with the realm's real public key (from Keycloak's JWKS) go to the
  main realm's gateway.
- Another realm's token: a throwaway realm `hostile-<random>` on the same Keycloak, with a client
  that even adds the audience `govlink`; its real token is refused by the main realm's gateway.
- Expired, not yet valid, wrong audience: signed with a key the throwaway realm really publishes
  (an `rsa` key provider we give Keycloak), sent to a gateway that trusts that realm, so only the
  claim makes the difference (a valid token from the same key is accepted as the control).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from kernel.http import http_session
from idp.keycloak import admin_client
from bootstrap.gateway import create_app
from tests.security.conftest import assert_error


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _refused(client, token: str, reason: str | None = None):
    r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    body = assert_error(r, 401, "invalid_token")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    print(f"-> 401 {body['message']}")
    if reason:
        assert reason in body["message"], body
    return body


@pytest.fixture(scope="module")
def realm_public_jwk(settings):
    keys = http_session(10).get(f"{settings.issuer}/protocol/openid-connect/certs").json()["keys"]
    return next(k for k in keys if k.get("alg") == "RS256" and k.get("use", "sig") == "sig")


def _claims(issuer, **overrides):
    now = int(time.time())
    claims = {"iss": issuer, "sub": "00000000-0000-0000-0000-000000000001", "aud": "govlink", "azp": "case-system",
              "iat": now, "exp": now + 300, "realm_access": {"roles": ["clerk", "finance"]}}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_alg_none_is_refused(client, settings, realm_public_jwk):
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": realm_public_jwk["kid"]}).encode())
    payload = _b64(json.dumps(_claims(settings.issuer)).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert_error(r, 401, "invalid_token")


def test_hs256_signed_with_the_realms_public_key_is_refused(client, settings, realm_public_jwk):
    """The classic key-confusion attack: the RSA public key (PEM, as published) used as an HMAC secret."""
    pem = RSAKey.import_key(realm_public_jwk).as_pem(private=False)
    for secret in (pem, pem.strip(), json.dumps(realm_public_jwk).encode()):
        # joserfc refuses to build this token, so it is signed by hand
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": realm_public_jwk["kid"]}).encode())
        signing_input = f"{header}.{_b64(json.dumps(_claims(settings.issuer)).encode())}"
        signature = _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())
        _refused(client, f"{signing_input}.{signature}", "algorithm")


def test_garbage_and_tampered_tokens_are_refused(client, settings):
    from tests.conftest import client_credentials_token

    real = client_credentials_token(settings, "case-system")
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {real}"}).status_code == 200
    header, payload, signature = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["realm_access"] = {"roles": ["finance", "supervisor"]}
    _refused(client, f"{header}.{_b64(json.dumps(claims).encode())}.{signature}", "signature")
    for token in ("x", "a.b.c", real + "x", "Bearer " + real, real.replace(".", "..", 1)):
        _refused(client, token)
    r = client.get("/api/v1/me", headers={"Authorization": f"Basic {real}"})
    assert_error(r, 401, "invalid_token")


@pytest.fixture(scope="module")
def hostile_realm(settings):
    """A throwaway realm with our own RSA signing key and a client-credentials client; deleted afterwards."""
    name = f"hostile-{secrets.token_hex(4)}"
    master = admin_client(settings)
    master.create_realm({"realm": name, "enabled": True}, skip_exists=False)
    try:
        admin = admin_client(settings, name)
        key = RSAKey.generate_key(2048, private=True)
        pem = key.as_pem(private=True).decode()
        realm_id = master.get_realm(name)["id"]
        admin.create_component({"name": "govlink-test-rsa", "providerId": "rsa",
                                "providerType": "org.keycloak.keys.KeyProvider", "parentId": realm_id,
                                "config": {"priority": ["1000"], "enabled": ["true"], "active": ["true"],
                                           "algorithm": ["RS256"], "privateKey": [pem]}})
        secret = secrets.token_urlsafe(24)
        client_uuid = admin.create_client({"clientId": "hostile-app", "enabled": True, "publicClient": False,
                                           "secret": secret, "serviceAccountsEnabled": True,
                                           "standardFlowEnabled": False, "directAccessGrantsEnabled": False,
                                           "protocolMappers": [{"name": "aud-govlink", "protocol": "openid-connect",
                                                                "protocolMapper": "oidc-audience-mapper",
                                                                "config": {"included.custom.audience": "govlink",
                                                                           "access.token.claim": "true"}}]})
        assert client_uuid
        issuer = f"{settings.keycloak_url.rstrip('/')}/realms/{name}"
        jwks = http_session(10).get(f"{issuer}/protocol/openid-connect/certs").json()["keys"]
        public = RSAKey.import_key(key.as_dict(private=False))
        kid = next(k["kid"] for k in jwks if k.get("n") == public.as_dict()["n"])
        token = http_session(10).post(f"{issuer}/protocol/openid-connect/token", data={
            "grant_type": "client_credentials", "client_id": "hostile-app", "client_secret": secret})
        assert token.status_code == 200, token.text
        yield {"name": name, "issuer": issuer, "key": key, "kid": kid, "token": token.json()["access_token"]}
    finally:
        master.delete_realm(name)


def test_another_realms_token_is_refused(client, hostile_realm):
    claims = json.loads(base64.urlsafe_b64decode(hostile_realm["token"].split(".")[1] + "=="))
    assert claims["iss"] == hostile_realm["issuer"] and "govlink" in claims.get("aud", [])
    _refused(client, hostile_realm["token"])


@pytest.fixture(scope="module")
def hostile_gateway(settings, hostile_realm):
    """A gateway that trusts the throwaway realm (same code, another issuer)."""
    app = create_app(settings.replace(realm=hostile_realm["name"]))
    yield app.test_client()
    app.extensions["govlink"].close()


def _signed(realm, **overrides) -> str:
    return jwt.encode({"alg": "RS256", "typ": "JWT", "kid": realm["kid"]}, _claims(realm["issuer"], **overrides),
                      realm["key"], algorithms=["RS256"])


def test_control_a_valid_token_of_that_realm_is_accepted(hostile_gateway, hostile_realm):
    r = hostile_gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {_signed(hostile_realm)}"})
    assert r.status_code == 200, r.get_data(as_text=True)


def at_now(overrides: dict) -> dict:
    now = int(time.time())
    return {k: (v(now) if callable(v) else v) for k, v in overrides.items()}


@pytest.mark.parametrize("overrides,reason", [
    ({"exp": lambda now: now - 120, "iat": lambda now: now - 420}, "expired"),
    ({"nbf": lambda now: now + 600}, "not valid yet"),
    ({"aud": "account"}, "audience"),
    ({"aud": None}, "audience"),
    ({"iss": "http://127.0.0.1:8080/realms/hefei"}, "issued"),
    ({"exp": None}, "exp"),
], ids=["expired", "not-yet-valid", "wrong-audience", "no-audience", "wrong-issuer", "no-expiry"])
def test_bad_claims_are_refused(hostile_gateway, hostile_realm, overrides, reason):
    # Times are offsets from the moment the test runs, not from collection (a long suite would age them).
    _refused(hostile_gateway, _signed(hostile_realm, **at_now(overrides)), reason)
