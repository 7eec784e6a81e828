"""Sign a person in on the real Keycloak as a channel does (authorization code + PKCE), for tests."""
from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs, urlsplit

from connectors.http import http_session

CLIENT_ID = "mobile-app"  # a public channel client (R2): no secret in the test
REDIRECT_URI = "http://127.0.0.1/mobile/callback"


def login(settings, username: str, password: str) -> str:
    """The access token of `username` for the mobile-app channel, through Keycloak's login form."""
    http = http_session(15)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    page = http.get(f"{settings.issuer}/protocol/openid-connect/auth", params={
        "client_id": CLIENT_ID, "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": secrets.token_hex(8), "code_challenge": challenge, "code_challenge_method": "S256"})
    assert page.status_code == 200, page.text[:500]
    answer = page
    for _step in range(4):  # username first, then the password page (the realm's browser flow)
        for cookie in http.cookies:  # Keycloak marks them Secure; the dev server is plain http on loopback
            cookie.secure = False
        action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', answer.text)
        assert action, "no Keycloak login form"
        fields = {"username": username} if 'name="username"' in answer.text else {}
        if 'name="password"' in answer.text:
            fields["password"] = password
        answer = http.post(html.unescape(action.group(1)), data=fields, allow_redirects=False)
        if answer.status_code in (302, 303):
            break
    assert answer.status_code in (302, 303), f"login failed: HTTP {answer.status_code}"
    location = answer.headers["Location"]
    code = parse_qs(urlsplit(location).query).get("code")
    assert code, f"no code in the redirect ({urlsplit(location).path})"
    token = http.post(f"{settings.issuer}/protocol/openid-connect/token", data={
        "grant_type": "authorization_code", "code": code[0], "redirect_uri": REDIRECT_URI, "client_id": CLIENT_ID,
        "code_verifier": verifier})
    assert token.status_code == 200, token.text
    return token.json()["access_token"]


def ensure_person(settings, username: str, password: str, *, roles=("citizen",), first="测试", last="王") -> None:
    """Create a Keycloak user with these realm roles if missing (tests only)."""
    from idp.keycloak import admin_client

    admin = admin_client(settings, settings.realm)
    if admin.get_user_id(username) is None:
        user_id = admin.create_user({"username": username, "enabled": True, "firstName": first, "lastName": last,
                                     "attributes": {"assurance_level": ["2"]},
                                     "credentials": [{"type": "password", "value": password, "temporary": False}]},
                                    exist_ok=True)
        admin.assign_realm_roles(user_id, [admin.get_realm_role(name) for name in roles])
