"""Authentication cost: local token verification against Keycloak introspection, in one run.

Two gunicorn gateways (config/gunicorn.py, same workers and threads) serve an authenticated
`GET /api/v1/me` for the same citizen token:
- ours: `bootstrap.wsgi:app`, which verifies the JWT locally with the cached JWKS on the first
  request with a token and keeps its principal (`idp.tokens.VerifiedTokenCache`, at most a
  minute); later requests with it are answered by `routes.token_reads` below Flask;
- baseline: the same app plus `/bench/introspected-me`, which asks Keycloak's token
  introspection endpoint about every token (as an opaque-token resource server would), then
  answers the same body.
Load: `wrk` (C, one thread, keep-alive connections; `scripts/stack.sh bench-tools` installs it)
for BENCH_AUTH_SECONDS each, the same load for both. A Python load generator would spend more
of the two cores than the gateway it measures.
Then the time a second channel (the mobile app) takes to get tokens through the SSO session
the portal sign-in opened: authorization request -> redirect with code -> code exchange.

Prints `RESULT auth ours=<req/s> baseline=<req/s> ratio=<r>` (target >= 10), the same for our
gateway with the verified-token cache off (`RESULT auth_verify_every_request ...`), and
`RESULT sso_second_channel_ms=<ms>` (median; target < 300).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit

from config.realm import demo_users, derived_secret
from config.settings import Settings
from kernel.http import http_session
from simulators.channels.signin import Browserless

SECONDS = float(os.environ.get("BENCH_AUTH_SECONDS", "8"))
WARM_UP_SECONDS = 3
# As many connections as the gateway has request threads (2 workers x 8 threads): the baseline's
# threads all wait on Keycloak at once, ours all work.
CONNECTIONS = int(os.environ.get("BENCH_AUTH_CONNECTIONS", "16"))
PORTAL_REDIRECT = "http://127.0.0.1:8399/portal/cb"
MOBILE_REDIRECT = "http://127.0.0.1:8399/mobile/cb"


def baseline_app():
    """The gateway plus `/bench/introspected-me`: /me with the token checked by Keycloak introspection."""
    from flask import jsonify, request

    from idp.principal import Principal
    from config.realm import DEFAULT_AUDIENCE
    from bootstrap.gateway import create_app

    app = create_app()
    settings = app.extensions["govlink"].settings
    http = http_session(settings.http_timeout_seconds, pool_size=32)
    endpoint = f"{settings.issuer}/protocol/openid-connect/token/introspect"
    secret = derived_secret(settings, DEFAULT_AUDIENCE)  # the resource-server client `govlink`

    @app.get("/bench/introspected-me")
    def introspected_me():
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        r = http.post(endpoint, data={"token": token}, auth=(DEFAULT_AUDIENCE, secret))
        claims = r.json() if r.ok else {}
        if not claims.get("active"):
            return jsonify(code="invalid_token"), 401
        p = Principal.from_claims(claims)
        return jsonify(subject=p.subject, assurance_level=p.assurance_level, caller=p.caller, roles=sorted(p.roles))

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gunicorn(app_spec: str, **environ: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "GOVLINK_BIND": f"127.0.0.1:{port}", "GOVLINK_LOG_LEVEL": "WARNING", **environ}
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", app_spec], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if http_session(1).get(f"{url}/healthz").ok:
                return proc, url
        except Exception:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gunicorn for {app_spec} did not start")


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)


def _served(app_spec: str, path: str, token: str, **environ: str) -> float:
    """Start a gateway for `app_spec`, measure `path` on it, stop it."""
    proc, url = _gunicorn(app_spec, **environ)
    try:
        return _throughput(f"{url}{path}", token)
    finally:
        _stop(proc)


def _wrk(url: str, token: str, seconds: float) -> str:
    return subprocess.run(["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency",
                           "-H", f"Authorization: Bearer {token}", url],
                          capture_output=True, text=True, check=True).stdout


def _throughput(url: str, token: str) -> float:
    """Requests per second `wrk` gets from `url` with the token, after a warm-up run of the same
    load (JWKS fetch, connection pools, every worker's first request, Keycloak's JIT)."""
    http_session(10).get(url, headers={"Authorization": f"Bearer {token}"}).raise_for_status()
    _wrk(url, token, WARM_UP_SECONDS)
    out = _wrk(url, token, SECONDS)
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"{url} did not answer every request with 200:\n{out}")
    match = re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)
    if not match:
        raise RuntimeError(f"no throughput in wrk's output:\n{out}")
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    print(f"  {urlsplit(url).path}: {match.group(1)} req/s, p99 {p99.group(1) if p99 else '?'}")
    return float(match.group(1))


def main() -> None:
    settings = Settings.from_env()
    citizen = demo_users()[0]
    secret = derived_secret(settings, "web-portal")
    agent = Browserless(settings.issuer)
    token = agent.sign_in("web-portal", PORTAL_REDIRECT, username=citizen["username"], password=citizen["password"],
                          client_secret=secret)["access_token"]

    samples = []
    for _ in range(15):
        started = time.perf_counter()
        agent.sign_in("mobile-app", MOBILE_REDIRECT)  # SSO cookie: no password
        samples.append((time.perf_counter() - started) * 1000)

    ours = _served("bootstrap.wsgi:app", "/api/v1/me", token)
    each = _served("bootstrap.wsgi:app", "/api/v1/me", token, GOVLINK_TOKEN_CACHE_SECONDS="0")
    baseline = _served("bench.auth:baseline_app()", "/bench/introspected-me", token)
    print(f"RESULT auth ours={ours:.0f} baseline={baseline:.0f} ratio={ours / baseline:.1f}")
    # For the record: the same gateway with the verified-token cache off (every request through
    # Flask, the signature checked each time).
    print(f"RESULT auth_verify_every_request ours={each:.0f} baseline={baseline:.0f} ratio={each / baseline:.1f}")
    print(f"RESULT sso_second_channel_ms={statistics.median(samples):.0f}")


if __name__ == "__main__":
    main()
