"""A lean path for `GET /api/v1/me`: answered below Flask once the token is known good.

A channel asks "who am I" for every page it draws, with the same access token each time, and
the answer is a pure function of the verified token (`routes.api.identity.me_body`). The first
request with a token goes through Flask: `routes.auth` verifies it (signature, algorithm,
issuer, audience, expiry) and keeps its principal in the app's `VerifiedTokenCache`. This WSGI
middleware answers the later ones itself: it finds the principal for that exact token in the
cache, checks the session was not logged out (`idp.sessions`, as on every request), renders the
same body with the same schema and JSON provider, and the same headers, metrics and log line
(`kernel.telemetry`, as Flask's hooks in `routes.app`).

Anything else goes to Flask untouched: another method or path, a body, a cookie (a signed-in
console page), no or an unknown token, an expired one, a logged-out session. So every refusal
and error is Flask's, written in one place; this path only ever answers 200.
"""
from __future__ import annotations

import time

from idp.tokens import VerifiedTokenCache
from kernel.telemetry import correlated, record_request, response_headers

PATH = "/api/v1/me"


class TokenReads:
    """WSGI middleware: `app.wsgi_app = TokenReads(app, app.wsgi_app)`."""

    def __init__(self, app, wsgi_app):
        from routes.api.identity import MeSchema, me_body
        from routes.auth import known_bearer, verified_tokens

        self.app = app
        self.next = wsgi_app
        self.known_bearer = known_bearer
        tokens = verified_tokens(app)
        # The rendered body per token: looked up only after the token's principal was found
        # (and its session checked), so it never outlives the token's own entry.
        self.bodies = VerifiedTokenCache(ttl_seconds=tokens.ttl_seconds, max_entries=tokens.max_entries)
        self.schema = MeSchema()
        self.body_of = me_body

    def __call__(self, environ, start_response):
        token, principal = self._known_principal(environ)
        if principal is None:
            return self.next(environ, start_response)
        started = time.monotonic()
        with correlated(environ) as cid:
            body = self._body(token, principal)
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                      *response_headers(cid, "application/json")])
            record_request("GET", PATH, PATH, 200, time.monotonic() - started)
            return [body]

    def _known_principal(self, environ):
        """(token, its cached principal) if this is a plain token-only `GET /api/v1/me`, else (None, None)."""
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "GET":
            return None, None
        if environ.get("CONTENT_LENGTH") not in (None, "", "0") or environ.get("HTTP_TRANSFER_ENCODING"):
            return None, None
        return self.known_bearer(environ, self.app)

    def _body(self, token: str, principal) -> bytes:
        """The JSON body for a principal, as `jsonify` writes it; rendered once per token."""
        body = self.bodies.get(token)
        if body is None:
            json = self.app.json
            body = json.response(self.schema.dump(self.body_of(principal))).get_data()
            self.bodies.put(token, body, principal.claims["exp"])
        return body
