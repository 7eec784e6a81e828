"""Finding 7 (issue 15): forged CIBA prompts.

`POST /idp/ciba/auth-channel` is called by Keycloak only, with a bearer token Keycloak signs with
the realm's key (HttpAuthenticationChannelProvider: issuer = audience = the realm, `azp` = the CIBA
client, `sub` = the person). Anything else must be refused before a prompt reaches anybody's app,
and the answer must not tell whether an ID number has an account.
"""
from __future__ import annotations

import base64
import json
import time

from config.realm import derived_secret
from kernel.http import http_session
from kernel.identifiers import make_resident_id
from tests.integration.idp.conftest import channels, people  # noqa: F401
from tests.security.conftest import assert_error


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _pending(client, tokens):
    return client.get("/api/v1/identity/ciba/requests", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json


def test_a_forged_bearer_pushes_no_prompt_to_a_citizen(client, settings, people, channels):  # noqa: F811
    person = people.create("许", "伪造")
    mobile = channels.sign_in("mobile-app", person)
    forged = {"login_hint": person["resident_id"], "scope": "openid", "binding_message": "转账验证码 请回复"}
    for bearer in ("a.b.c", f"{_b64({'alg': 'none'})}.{_b64({'sub': person['id']})}.",
                   # a real, signed access token of the person is not Keycloak's channel token either
                   mobile["access_token"]):
        r = client.post("/idp/ciba/auth-channel", json=forged, headers={"Authorization": f"Bearer {bearer}"})
        assert_error(r, 401, "invalid_token")
    assert _pending(client, mobile) == []


def test_the_answer_does_not_tell_whether_an_id_number_has_an_account(client, people):  # noqa: F811
    person = people.create("吕", "存在")
    nobody = make_resident_id("340104", __import__("datetime").date(1990, 1, 2), int(time.time()) % 900)
    answers = []
    for resident_id in (person["resident_id"], nobody):
        r = client.post("/idp/ciba/auth-channel", json={"login_hint": resident_id, "scope": "openid"},
                        headers={"Authorization": "Bearer a.b.c"})
        body = r.get_json(silent=True) or {}
        answers.append((r.status_code, body.get("code"), body.get("message")))
    assert answers[0] == answers[1] and answers[0][0] == 401


def test_keycloaks_own_request_still_reaches_the_app(client, settings, gateway, people, channels):  # noqa: F811
    person = people.create("施", "真实")
    mobile = channels.sign_in("mobile-app", person)
    r = http_session(10).post(f"{settings.issuer}/protocol/openid-connect/ext/ciba/auth", data={
        "client_id": "hotline", "client_secret": derived_secret(settings, "hotline"), "scope": "openid",
        "login_hint": person["resident_id"], "binding_message": "HOTLINE-REAL-1"})
    assert r.status_code == 200, r.text
    pending = _pending(client, mobile)
    assert [p["binding_message"] for p in pending] == ["HOTLINE-REAL-1"]
