"""A staff member signing in to the consoles (routes/console_auth.py) without a browser.

The gateway is a Flask test client (or any client with the same `get` signature) served as
``http://127.0.0.1:8000`` (a redirect URI the realm allows for `staff-console`); Keycloak is the real
one, reached over HTTP by a :class:`simulators.channels.signin.Browserless` user agent.
"""
from __future__ import annotations

import html
from urllib.parse import urlsplit

from simulators.channels.signin import _FORM_ACTION, Browserless, SignInError

BASE = "http://127.0.0.1:8000"
STAFF_PASSWORD = "Hefei-Demo-2026"


def keycloak_login(agent: Browserless, url: str, username: str, password: str = STAFF_PASSWORD) -> str:
    """Follow Keycloak's login pages from `url` (the authorization request) and return the Location
    Keycloak sends the browser back to (the client's redirect URI with code and state)."""
    response = agent.http.get(url, allow_redirects=False)
    agent._insecure_ok()
    for _step in range(4):
        if response.status_code != 200:
            break
        match = _FORM_ACTION.search(response.text)
        if not match:
            raise SignInError("Keycloak's page has no login form")
        fields = {}
        if 'name="username"' in response.text:
            fields["username"] = username
        if 'name="password"' in response.text:
            fields.update(password=password, credentialId="")
        if not fields:
            raise SignInError("Keycloak's login form asks for something else")
        response = agent.http.post(html.unescape(match.group(1)), data=fields, allow_redirects=False)
        agent._insecure_ok()
    if response.status_code not in (302, 303):
        raise SignInError(f"Keycloak did not redirect back (HTTP {response.status_code})")
    return response.headers["Location"]


def console_sign_in(client, agent: Browserless, username: str, next_path: str = "/console/finance/") -> object:
    """Sign `username` in to the consoles through `client`; returns the callback's response."""
    start = client.get("/console/auth/login", query_string={"next": next_path}, base_url=BASE)
    assert start.status_code == 302, start.status_code
    back = keycloak_login(agent, start.headers["Location"], username)
    parts = urlsplit(back)
    assert f"{parts.scheme}://{parts.netloc}" == BASE and parts.path == "/console/auth/callback", back
    return client.get(f"{parts.path}?{parts.query}", base_url=BASE)
