"""Local verification of the realm's access tokens (JWT, RS256) against its cached JWKS.

The gateway never asks Keycloak about a token on the request path: it checks the signature with
the realm's public keys (fetched once, refreshed once when a token names an unknown key id, and
at most every `min_refresh_seconds`), then issuer, audience, expiry and not-before with a small
leeway. Only RS256 is accepted: `none`, HS256 signed with the public key as the secret, and every
other algorithm are refused before any key is used.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256",)
DEFAULT_AUDIENCE = "govlink"
BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


class TokenError(Exception):
    """The token is not acceptable; `description` is safe to show the caller (no token content)."""

    def __init__(self, description: str):
        super().__init__(description)
        self.description = description


class JwksCache:
    """The realm's signing keys, fetched lazily and refreshed when an unknown `kid` shows up.

    `fetch` returns the JWKS document (a dict); inject one in tests. Refreshes are rate-limited so
    a flood of tokens with made-up key ids cannot turn into a flood of requests to Keycloak.
    """

    def __init__(self, fetch: Callable[[], dict], *, min_refresh_seconds: float = 10.0):
        self._fetch = fetch
        self._min_refresh = min_refresh_seconds
        self._lock = threading.Lock()
        self._keys: dict[str, RSAKey] = {}
        self._fetched_at = float("-inf")

    @classmethod
    def from_url(cls, jwks_uri: str, *, timeout: float = 5.0, **kwargs) -> "JwksCache":
        """A cache that fetches `jwks_uri` through govlink's HTTP session factory."""
        from kernel.http import http_session

        session = http_session(timeout)

        def fetch() -> dict:
            response = session.get(jwks_uri)
            response.raise_for_status()
            return response.json()

        return cls(fetch, **kwargs)

    def key(self, kid: str | None) -> RSAKey:
        """The RSA signing key with this id; refresh once if unknown; TokenError if still unknown."""
        if not kid:
            raise TokenError("the token header has no key id")
        key = self._keys.get(kid)
        if key is None:
            self.refresh()
            key = self._keys.get(kid)
        if key is None:
            raise TokenError("the token is signed with an unknown key")
        return key

    def refresh(self, *, force: bool = False) -> None:
        """Fetch the JWKS again unless it was fetched less than `min_refresh_seconds` ago."""
        with self._lock:
            if not force and time.monotonic() - self._fetched_at < self._min_refresh:
                return
            self._fetched_at = time.monotonic()
            try:
                document = self._fetch()
            except Exception as exc:  # keep the old keys; the token is refused if its key is missing
                log.warning("could not fetch the realm's JWKS: %s", exc.__class__.__name__)
                return
            keys = {}
            for data in document.get("keys", []):
                if data.get("kty") == "RSA" and data.get("use", "sig") == "sig" and data.get("kid"):
                    keys[data["kid"]] = RSAKey.import_key(data)
            self._keys = keys


class TokenVerifier:
    """Verify a compact JWS access token and return its claims, or raise TokenError."""

    def __init__(self, issuer: str, jwks: JwksCache, *, audience: str = DEFAULT_AUDIENCE, leeway: int = 30,
                 now: Callable[[], int] | None = None):
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self.leeway = leeway
        self._now = now

    def verify(self, token: str) -> dict:
        """The token's claims if its signature, algorithm, issuer, audience and times are right."""
        claims = self._decode(token)
        self._validate(claims, aud={"essential": True, "value": self.audience}, sub={"essential": True})
        return claims

    def verify_logout_token(self, token: str, audiences: tuple[str, ...]) -> dict:
        """Claims of an OIDC back-channel logout token (§2.6) meant for one of `audiences`."""
        claims = self._decode(token)
        self._validate(claims, aud={"essential": True, "values": list(audiences)}, iat={"essential": True})
        events = claims.get("events")
        if not isinstance(events, dict) or BACKCHANNEL_LOGOUT_EVENT not in events:
            raise TokenError("the token is not a back-channel logout token")
        if "nonce" in claims:
            raise TokenError("a logout token must not carry a nonce")
        if not claims.get("sid") and not claims.get("sub"):
            raise TokenError("the logout token names neither a session nor a subject")
        return claims

    def verify_auth_channel_token(self, token: str, clients: tuple[str, ...]) -> dict:
        """Claims of the bearer token Keycloak's HTTP authentication channel (CIBA) sends.

        Keycloak 26 (HttpAuthenticationChannelProvider.createBearerToken) signs it with the realm's
        key like an access token: `typ` Bearer, issuer and audience both the realm's issuer URL,
        `azp` the CIBA client that asked, `sub` the person, `jti` the request's id, `exp` the
        request's expiry. A person's own access token has another audience and is refused.
        """
        claims = self._decode(token)
        self._validate(claims, aud={"essential": True, "value": self.issuer}, sub={"essential": True},
                       jti={"essential": True})
        if claims.get("typ") != "Bearer":
            raise TokenError("the token is not Keycloak's authentication-channel token")
        if claims.get("azp") not in clients:
            raise TokenError("the token was not issued for a CIBA client of this realm")
        return claims

    def _decode(self, token: str) -> dict:
        if not token or token.count(".") != 2:
            raise TokenError("the token is not a signed JWT")
        try:
            decoded = jwt.decode(token, self._resolve_key, algorithms=list(ALGORITHMS))
        except TokenError:
            raise
        except JoseError as exc:
            raise TokenError(_describe(exc)) from None
        except (ValueError, TypeError, KeyError):
            raise TokenError("the token is malformed") from None
        if decoded.header.get("alg") not in ALGORITHMS:  # belt and braces: decode already pins it
            raise TokenError("the token's algorithm is not allowed")
        return decoded.claims

    def _validate(self, claims: dict, **options) -> None:
        options.setdefault("exp", {"essential": True})
        registry = jwt.JWTClaimsRegistry(now=self._now, leeway=self.leeway,
                                         iss={"essential": True, "value": self.issuer}, **options)
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise TokenError(_describe(exc)) from None

    def _resolve_key(self, obj) -> RSAKey:
        headers = obj.headers()
        if headers.get("alg") not in ALGORITHMS:
            raise TokenError("the token's algorithm is not allowed")
        return self.jwks.key(headers.get("kid"))


def _describe(exc: JoseError) -> str:
    claim = getattr(exc, "claim", None)
    name = exc.__class__.__name__
    if name == "ExpiredTokenError":
        return "the token has expired"
    if claim == "nbf":
        return "the token is not valid yet"
    if claim == "aud":
        return "the token is not meant for govlink (audience)"
    if claim == "iss":
        return "the token was not issued by this realm"
    if claim:
        return f"the token has an invalid or missing claim ({claim})"
    if name == "BadSignatureError":
        return "the token's signature does not verify"
    if "Algorithm" in name:
        return "the token's algorithm is not allowed"
    return "the token is not valid"


class VerifiedTokenCache:
    """What recently verified tokens stood for, so a token presented again is not parsed and its
    signature not checked again (a channel calls many APIs with one access token).

    Keyed on the whole token string: only the exact text that verified is found. An entry lives
    until the token's own expiry (with the verifier's leeway) or `ttl_seconds` after it was
    verified, whichever comes first, so a key withdrawn from the realm's JWKS stops being honoured
    within `ttl_seconds`. At most `max_entries` are kept; the oldest go first. Thread-safe under
    the GIL (single dict operations); a lost race only costs one more verification.
    """

    def __init__(self, *, ttl_seconds: float = 60.0, max_entries: int = 4096,
                 clock: Callable[[], float] = time.time):
        if ttl_seconds < 0 or max_entries < 1:
            raise ValueError("ttl_seconds must be >= 0 and max_entries >= 1")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, object]] = {}

    def get(self, token: str):
        """The value stored for this exact token, or None if absent or expired."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            self._entries.pop(token, None)
            return None
        return entry[1]

    def put(self, token: str, value, expires_at: float) -> None:
        """Keep `value` for `token` until `expires_at` (epoch seconds) or the TTL, if sooner."""
        until = min(float(expires_at), self._clock() + self.ttl_seconds)
        if until <= self._clock():
            return
        while len(self._entries) >= self.max_entries:
            try:
                del self._entries[next(iter(self._entries))]
            except (StopIteration, KeyError, RuntimeError):  # emptied or changed by another thread
                break
        self._entries[token] = (until, value)

    def __len__(self) -> int:
        return len(self._entries)


_verifiers: dict[tuple[str, str], TokenVerifier] = {}
_verifiers_lock = threading.Lock()


def verifier_for(settings) -> TokenVerifier:
    """One shared verifier (and JWKS cache) per issuer, so every request reuses the cached keys."""
    key = (settings.issuer, DEFAULT_AUDIENCE)
    with _verifiers_lock:
        verifier = _verifiers.get(key)
        if verifier is None:
            jwks = JwksCache.from_url(f"{settings.issuer}/protocol/openid-connect/certs",
                                      timeout=settings.http_timeout_seconds)
            verifier = _verifiers[key] = TokenVerifier(settings.issuer, jwks)
        return verifier
