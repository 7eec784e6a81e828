"""Bearer-token protection for the gateway's views: `require_token` and `current_principal`.

authlib's resource protector takes the Bearer token from the request (RFC 6750); it is verified
locally with joserfc (`idp.tokens`: signature with the realm's cached JWKS, RS256 only,
issuer, audience `govlink`, expiry) and the principal kept for the next request with the same
token (`VerifiedTokenCache`: until the token expires, at most a minute); whether its session was
logged out is checked on every request. The view then finds the caller in `g.principal`. Errors are
`ApiError`s with the `WWW-Authenticate` header of RFC 6750 and, for a too-low assurance level,
RFC 9470 (`insufficient_user_authentication` with `acr_values`).
"""
from __future__ import annotations

import functools
import logging

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749 import MissingAuthorizationError, UnsupportedTokenTypeError
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from flask import current_app, g

from idp.levels import step_up_challenge
from idp.principal import Principal
from idp.sessions import ended_sessions_for
from idp.tokens import TokenError, VerifiedTokenCache, verifier_for
from routes.errors import ApiError

log = logging.getLogger(__name__)


def require_token(*, scopes: tuple[str, ...] = (), level: int | None = None, roles: tuple[str, ...] = (),
                  client: tuple[str, str] | None = None, person: str | None = None):
    """Decorate a view so it runs only for a valid Bearer token with these scopes, roles and level.

    `client=(client_id, refusal)`: only from that channel (403 `wrong_channel`, `refusal` as the message);
    `person=refusal`: only for a person signed in with a resident ID number (403 `not_a_person`).
    Put it below flask-smorest's decorators (closest to the function). Sets `g.principal`.
    """
    requirements = {"scopes": scopes, "level": level, "roles": roles, "client": client, "person": person}

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            check_requirements(authenticate(), **requirements)
            return view(*args, **kwargs)

        wrapper._govlink_auth = requirements  # read by the request hooks and by routes.call_path
        return wrapper

    return decorator


def check_requirements(principal: Principal, *, scopes: tuple[str, ...] = (), level: int | None = None,
                       roles: tuple[str, ...] = (), client: tuple[str, str] | None = None, person: str | None = None) -> None:
    """`require_token`'s checks of a verified principal (ApiError 401/403 if one fails)."""
    missing_scopes = [s for s in scopes if s not in principal.scopes]
    if missing_scopes:
        raise ApiError(403, "insufficient_scope", "The token lacks a scope this request needs.",
                       {"required_scopes": list(scopes)},
                       {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{" ".join(scopes)}"'})
    if roles and not principal.roles.intersection(roles):
        raise ApiError(403, "forbidden", "Your account does not have a role this request needs.",
                       {"required_roles": list(roles)})
    if level is not None and principal.assurance_level < level:
        raise ApiError(401, "insufficient_user_authentication",
                       f"This request needs assurance level L{level}; yours is L{principal.assurance_level}.",
                       {"required_level": level, "current_level": principal.assurance_level},
                       {"WWW-Authenticate": step_up_challenge(level)})
    if client is not None and principal.client_id != client[0]:
        raise ApiError(403, "wrong_channel", client[1])
    if person is not None and principal.resident_id is None:
        raise ApiError(403, "not_a_person", person)


def authenticate() -> Principal:
    """Verify the request's Bearer token (once per request) and return its principal."""
    if "principal" in g:
        return g.principal
    try:
        principal = _protector.acquire_token()
    except (MissingAuthorizationError, UnsupportedTokenTypeError):
        raise ApiError(401, "invalid_token", "Send an access token: Authorization: Bearer <token>.",
                       headers={"WWW-Authenticate": 'Bearer realm="govlink"'}) from None
    except InvalidTokenError as exc:
        raise ApiError(401, "invalid_token", f"The access token was refused: {exc.description}.",
                       headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.description}"'}) from None
    g.principal = principal
    return principal


class _RealmTokenValidator(BearerTokenValidator):
    """authlib's Bearer validator over the realm's JWTs: the token is the caller's `Principal`."""

    def authenticate_token(self, token_string):
        try:
            return principal_of(token_string.strip())
        except TokenError as exc:
            raise InvalidTokenError(description=exc.description) from None

    def validate_token(self, token, scopes, request):
        pass  # expiry and logout are checked by principal_of; scopes, roles and level by require_token


# authlib's resource protector: finds the Bearer token in the request (RFC 6750) and hands it to
# the validator; joserfc checks it (idp.tokens).
_protector = ResourceProtector()
_protector.register_token_validator(_RealmTokenValidator())


class SessionEnded(TokenError):
    """The token verifies, but its sign-in session was logged out."""


def principal_of(token: str, app=None, *, verify: bool = True) -> Principal | None:
    """The principal of an access token: verified (or found in the `VerifiedTokenCache` of ``app``,
    the current one by default), its session not logged out. Raises `TokenError` (`SessionEnded`
    for a logged-out session). With ``verify=False`` only the cache is asked: None for a token
    not verified before (`routes.token_reads`, which leaves those to Flask)."""
    app = app or current_app
    cache = verified_tokens(app)
    principal = cache.get(token)
    if principal is None:
        if not verify:
            return None
        verifier = verifier_for(app.extensions["govlink"].settings)
        claims = verifier.verify(token)
        principal = Principal.from_claims(claims)
        cache.put(token, principal, claims["exp"] + verifier.leeway)
    if ended_sessions_for(app).is_ended(principal.claims.get("sid")):
        raise SessionEnded("the sign-in session has ended (logged out)")
    return principal


def known_bearer(environ, app) -> tuple[str | None, Principal | None]:
    """(token, principal) of a request's bearer token that was verified before, for the WSGI layers below
    Flask (routes.token_reads, routes.call_path); else (None, None), and Flask answers the request. Only
    the cache is asked, never a verification; a request with a cookie (a signed-in console) or a token
    whose session was logged out is always Flask's."""
    if environ.get("HTTP_COOKIE"):
        return None, None
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None, None
    try:
        principal = principal_of(token, app, verify=False)
    except TokenError:  # e.g. logged out: Flask refuses it
        return None, None
    return (token, principal) if principal is not None else (None, None)


def verified_tokens(app) -> VerifiedTokenCache:
    """The app's cache of recently verified tokens (see `VerifiedTokenCache`), made on first use."""
    cache = app.extensions.get("govlink_verified_tokens")
    if cache is None:
        ttl = app.extensions["govlink"].settings.token_cache_seconds
        cache = app.extensions.setdefault("govlink_verified_tokens", VerifiedTokenCache(ttl_seconds=ttl))
    return cache


def current_principal() -> Principal:
    """The principal of the current request; only inside a view protected by `require_token`."""
    principal = g.get("principal")
    if principal is None:
        raise RuntimeError("current_principal() outside a view protected by require_token")
    return principal
