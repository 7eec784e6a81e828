"""Local token verification (idp.tokens) with locally generated RSA keys and a JWKS served over HTTP."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from idp.tokens import JwksCache, TokenError, TokenVerifier

ISSUER = "http://127.0.0.1:8080/realms/hefei"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def keys():
    return {"k1": RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"}),
            "k2": RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig", "alg": "RS256"})}


class _Jwks:
    """A tiny JWKS endpoint on 127.0.0.1 whose key set a test can change; counts its fetches."""

    def __init__(self, keys):
        self.keys = list(keys)
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.fetches += 1
                body = json.dumps({"keys": [k.as_dict(private=False) for k in owner.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def jwks(keys):
    server = _Jwks([keys["k1"]])
    yield server
    server.close()


@pytest.fixture()
def verifier(jwks):
    return TokenVerifier(ISSUER, JwksCache.from_url(jwks.url, min_refresh_seconds=0), leeway=5)


def _claims(**overrides):
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": ["govlink", "account"], "sub": "u-1", "azp": "web-portal",
              "iat": now, "exp": now + 300, "scope": "openid profile"}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(key, claims, alg="RS256", kid=None):
    return jwt.encode({"alg": alg, "kid": kid or key.kid}, claims, key, algorithms=[alg])


def test_valid_token_is_accepted(verifier, keys):
    claims = verifier.verify(_sign(keys["k1"], _claims()))
    assert claims["sub"] == "u-1" and claims["azp"] == "web-portal"


def test_single_audience_string_is_accepted(verifier, keys):
    assert verifier.verify(_sign(keys["k1"], _claims(aud="govlink")))["sub"] == "u-1"


def at_now(overrides: dict) -> dict:
    now = int(time.time())
    return {k: (v(now) if callable(v) else v) for k, v in overrides.items()}


@pytest.mark.parametrize("overrides, reason", [
    ({"iss": "http://127.0.0.1:8080/realms/other"}, "issued"),
    ({"aud": ["account"]}, "audience"),
    ({"aud": None}, "aud"),
    ({"exp": lambda now: now - 120}, "expired"),
    ({"nbf": lambda now: now + 600}, "not valid yet"),
    ({"exp": None}, "exp"),
])
def test_bad_claims_are_refused(verifier, keys, overrides, reason):
    # Times are offsets from the moment the test runs, not from collection (a long suite would age them).
    overrides = at_now(overrides)
    with pytest.raises(TokenError) as exc:
        verifier.verify(_sign(keys["k1"], _claims(**overrides)))
    assert reason in exc.value.description


def test_small_clock_skew_is_tolerated(verifier, keys):
    assert verifier.verify(_sign(keys["k1"], _claims(nbf=int(time.time()) + 3)))


def test_alg_none_is_refused(verifier):
    header = _b64(json.dumps({"alg": "none", "kid": "k1", "typ": "JWT"}).encode())
    token = f"{header}.{_b64(json.dumps(_claims()).encode())}."
    with pytest.raises(TokenError):
        verifier.verify(token)


def test_hs256_signed_with_the_public_key_is_refused(verifier, keys):
    # The classic key-confusion attack: HMAC with the RSA public key (PEM) as the secret.
    secret = keys["k1"].as_pem(private=False)
    header = _b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    signature = _b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError) as exc:
        verifier.verify(f"{header}.{payload}.{signature}")
    assert "algorithm" in exc.value.description


def test_bad_signature_is_refused(verifier, keys):
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # same kid, different key
    with pytest.raises(TokenError) as exc:
        verifier.verify(_sign(other, _claims()))
    assert "signature" in exc.value.description


def test_tampered_payload_is_refused(verifier, keys):
    header, _payload, signature = _sign(keys["k1"], _claims()).split(".")
    forged = _b64(json.dumps(_claims(sub="someone-else")).encode())
    with pytest.raises(TokenError):
        verifier.verify(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "....", "x" * 50])
def test_garbage_is_refused(verifier, token):
    with pytest.raises(TokenError):
        verifier.verify(token)


def test_unknown_kid_refreshes_the_jwks_once(jwks, keys):
    verifier = TokenVerifier(ISSUER, JwksCache.from_url(jwks.url, min_refresh_seconds=0))
    verifier.verify(_sign(keys["k1"], _claims()))
    verifier.verify(_sign(keys["k1"], _claims()))
    assert jwks.fetches == 1  # cached
    jwks.keys.append(keys["k2"])  # key rotation in the realm
    verifier.verify(_sign(keys["k2"], _claims()))
    assert jwks.fetches == 2


def test_unknown_kid_refreshes_are_rate_limited(jwks, keys):
    verifier = TokenVerifier(ISSUER, JwksCache.from_url(jwks.url, min_refresh_seconds=60))
    verifier.verify(_sign(keys["k1"], _claims()))
    for _ in range(5):
        with pytest.raises(TokenError) as exc:
            verifier.verify(_sign(keys["k2"], _claims()))
        assert "unknown key" in exc.value.description
    assert jwks.fetches == 1


def test_jwks_outage_refuses_tokens_without_crashing(keys):
    def down():
        raise ConnectionError("refused")

    verifier = TokenVerifier(ISSUER, JwksCache(down, min_refresh_seconds=0))
    with pytest.raises(TokenError):
        verifier.verify(_sign(keys["k1"], _claims()))


# ---------------------------------------------------------------- VerifiedTokenCache
class _Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_cache_returns_what_was_put_for_that_exact_token_only():
    from idp.tokens import VerifiedTokenCache

    clock = _Clock()
    cache = VerifiedTokenCache(clock=clock)
    cache.put("a.b.c", "principal", expires_at=clock.now + 300)
    assert cache.get("a.b.c") == "principal"
    assert cache.get("a.b.d") is None and cache.get("a.b.c ") is None


def test_cache_entry_ends_at_the_token_expiry_or_the_ttl_whichever_is_first():
    from idp.tokens import VerifiedTokenCache

    clock = _Clock()
    cache = VerifiedTokenCache(ttl_seconds=60, clock=clock)
    cache.put("short", 1, expires_at=clock.now + 10)
    cache.put("long", 2, expires_at=clock.now + 3600)
    clock.now += 9.9
    assert cache.get("short") == 1
    clock.now += 0.1
    assert cache.get("short") is None and cache.get("long") == 2
    clock.now += 50
    assert cache.get("long") is None
    assert len(cache) == 0  # expired entries are dropped when found


def test_cache_keeps_nothing_already_expired_or_with_a_zero_ttl():
    from idp.tokens import VerifiedTokenCache

    clock = _Clock()
    cache = VerifiedTokenCache(clock=clock)
    cache.put("old", 1, expires_at=clock.now - 1)
    assert cache.get("old") is None and len(cache) == 0
    off = VerifiedTokenCache(ttl_seconds=0, clock=clock)
    off.put("t", 1, expires_at=clock.now + 300)
    assert off.get("t") is None and len(off) == 0


def test_cache_is_bounded_and_drops_the_oldest_first():
    from idp.tokens import VerifiedTokenCache

    clock = _Clock()
    cache = VerifiedTokenCache(max_entries=3, clock=clock)
    for n in range(5):
        cache.put(f"t{n}", n, expires_at=clock.now + 300)
    assert len(cache) == 3
    assert [cache.get(f"t{n}") for n in range(5)] == [None, None, 2, 3, 4]


def test_cache_refuses_nonsense_limits():
    from idp.tokens import VerifiedTokenCache

    with pytest.raises(ValueError):
        VerifiedTokenCache(ttl_seconds=-1)
    with pytest.raises(ValueError):
        VerifiedTokenCache(max_entries=0)
