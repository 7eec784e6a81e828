"""A scripted person at Keycloak's login page: authorization code + PKCE without a browser.

Used by integration tests and the benchmark to get real tokens for a channel client exactly as a
browser would (the login form, the SSO cookie, the code exchange); browser tests use Chromium.
"""
from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

from kernel.http import http_session

_FORM_ACTION = re.compile(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', re.S)
# Keycloak's required action UPDATE_PASSWORD (after a temporary password, e.g. one issued at a counter).
_UPDATE_PASSWORD_ACTION = re.compile(r'<form[^>]*id="kc-passwd-update-form"[^>]*action="([^"]+)"', re.S)


class SignInError(RuntimeError):
    """Keycloak did not end the flow with a code (wrong password, refused client, ...)."""


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Browserless:
    """One user agent (one cookie jar = one Keycloak SSO session) signing in to channel clients."""

    def __init__(self, issuer: str, timeout: float = 10.0):
        self.issuer = issuer.rstrip("/")
        self.http = http_session(timeout)

    def _insecure_ok(self) -> None:
        # Keycloak marks its cookies Secure; browsers still send them to http://127.0.0.1 (a secure
        # context), requests does not: do as the browser does, for loopback development only.
        for cookie in self.http.cookies:
            if cookie.domain in ("127.0.0.1", "localhost", "localhost.local"):
                cookie.secure = False

    def sign_in(self, client_id: str, redirect_uri: str, *, username: str | None = None, password: str | None = None,
                client_secret: str | None = None, scope: str = "openid", extra: dict | None = None,
                new_password: str | None = None) -> dict:
        """Run the authorization-code flow; log in with the form if there is no SSO session yet. Returns tokens.

        If Keycloak then asks for a new password (a temporary one was used), `new_password` is set;
        without it the sign-in fails with SignInError.
        """
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        params = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": scope,
                  "state": state, "code_challenge": challenge, "code_challenge_method": "S256", **(extra or {})}
        response = self.http.get(f"{self.issuer}/protocol/openid-connect/auth?{urlencode(params)}", allow_redirects=False)
        self._insecure_ok()
        # The login page (no SSO session yet). With organizations enabled Keycloak asks for the
        # username first and the password on a second page (identity-first login): fill what is asked.
        posted: set[str] = set()
        for _step in range(6):
            location = response.headers.get("Location", "")
            if response.status_code in (302, 303) and location.startswith(self.issuer + "/login-actions/"):
                # Keycloak moving on to its next step (e.g. after a required action): follow it.
                response = self.http.get(location, allow_redirects=False)
                self._insecure_ok()
                continue
            if response.status_code != 200:
                break
            update = _UPDATE_PASSWORD_ACTION.search(response.text)
            if update:
                if new_password is None:
                    raise SignInError("Keycloak asks for a new password (the password was temporary)")
                response = self.http.post(html.unescape(update.group(1)), allow_redirects=False,
                                          data={"password-new": new_password, "password-confirm": new_password})
                self._insecure_ok()
                continue
            if username is None:
                raise SignInError("no SSO session and no credentials given")
            match = _FORM_ACTION.search(response.text)
            if not match:
                raise SignInError("Keycloak's page has no login form")
            fields = {}
            if 'name="username"' in response.text:
                fields["username"] = username
            if 'name="password"' in response.text:
                if "password" in posted:  # the form again: the password was refused (don't retry into a lockout)
                    raise SignInError("Keycloak refused the credentials")
                posted.add("password")
                fields["password"] = password
                fields["credentialId"] = ""
            if not fields:
                raise SignInError("Keycloak's login form asks for something else")
            response = self.http.post(html.unescape(match.group(1)), data=fields, allow_redirects=False)
            self._insecure_ok()
        location = response.headers.get("Location", "")
        if response.status_code not in (302, 303) or not location.startswith(redirect_uri.split("?")[0]):
            raise SignInError(f"sign-in did not redirect back (HTTP {response.status_code})")
        query = parse_qs(urlsplit(location).query)
        if query.get("state") != [state] or "code" not in query:
            raise SignInError(f"no code in the redirect ({query.get('error', ['?'])[0]})")
        data = {"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect_uri,
                "client_id": client_id, "code_verifier": verifier}
        if client_secret:
            data["client_secret"] = client_secret
        tokens = self.http.post(f"{self.issuer}/protocol/openid-connect/token", data=data)
        if tokens.status_code != 200:
            raise SignInError(f"code exchange refused: {tokens.json().get('error')}")
        return tokens.json()

    def refresh(self, client_id: str, refresh_token: str, client_secret: str | None = None) -> dict:
        """A new token set from a refresh token (e.g. after a verification raised the level)."""
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
        if client_secret:
            data["client_secret"] = client_secret
        response = self.http.post(f"{self.issuer}/protocol/openid-connect/token", data=data)
        if response.status_code != 200:
            raise SignInError(f"refresh refused: {response.json().get('error')}")
        return response.json()

    def approve_device(self, verification_uri_complete: str) -> None:
        """The signed-in person opens a kiosk's verification link and grants it access (device flow)."""
        response = self.http.get(verification_uri_complete, allow_redirects=False)
        for _hop in range(5):
            self._insecure_ok()
            if response.status_code not in (302, 303):
                break
            response = self.http.get(response.headers["Location"], allow_redirects=False)
        match = re.search(r'<form[^>]*action="([^"]*login-actions/consent[^"]*)"', response.text)
        code = re.search(r'name="code" value="([^"]+)"', response.text)
        if not match or not code:
            raise SignInError("no consent page for the device (not signed in, or the code expired)")
        action = html.unescape(match.group(1))
        if action.startswith("/"):
            action = self.issuer.split("/realms/")[0] + action
        done = self.http.post(action, data={"code": code.group(1), "accept": "yes"}, allow_redirects=False)
        self._insecure_ok()
        if done.status_code >= 400:
            raise SignInError(f"the device grant was refused (HTTP {done.status_code})")

    def logout(self, id_token: str, post_logout_redirect_uri: str | None = None) -> int:
        """RP-initiated logout at Keycloak with the id token as hint; returns the HTTP status."""
        params = {"id_token_hint": id_token}
        if post_logout_redirect_uri:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        response = self.http.get(f"{self.issuer}/protocol/openid-connect/logout", params=params, allow_redirects=False)
        self._insecure_ok()
        return response.status_code
