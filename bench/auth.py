"""Authentication cost: local token verification against Keycloak introspection, in one run.

Two gunicorn gateways (config/gunicorn.py, same workers and threads) serve an authenticated
`GET /api/v1/me` for the same citizen token:
- ours: `routes.wsgi:app`, which verifies the JWT locally with the cached JWKS;
- baseline: the same app plus `/bench/introspected-me`, which asks Keycloak's token
  introspection endpoint about every token (as an opaque-token resource server would), then
  answers the same body.
Load: client processes with keep-alive sessions, for BENCH_AUTH_SECONDS each.
Then the time a second channel (the mobile app) takes to get tokens through the SSO session
the portal sign-in opened: authorization request -> redirect with code -> code exchange.

Prints `RESULT auth ours=<req/s> baseline=<req/s> ratio=<r>` (target >= 10) and
`RESULT sso_second_channel_ms=<ms>` (median; target < 300).
"""
from __future__ import annotations

import http.client
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from urllib.parse import urlsplit

from config.realm import demo_users, derived_secret
from config.settings import Settings
from connectors.http import http_session
from simulators.channels.signin import Browserless

SECONDS = float(os.environ.get("BENCH_AUTH_SECONDS", "8"))
CLIENTS = int(os.environ.get("BENCH_AUTH_CLIENTS", "4"))
PORTAL_REDIRECT = "http://127.0.0.1:8399/portal/cb"
MOBILE_REDIRECT = "http://127.0.0.1:8399/mobile/cb"


def baseline_app():
    """The gateway plus `/bench/introspected-me`: /me with the token checked by Keycloak introspection."""
    from flask import jsonify, request

    from idp.principal import Principal
    from config.realm import DEFAULT_AUDIENCE
    from routes.app import create_app

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


def _gunicorn(app_spec: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "GOVLINK_BIND": f"127.0.0.1:{port}", "GOVLINK_LOG_LEVEL": "WARNING"}
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


def _hammer(args) -> int:
    # A bare keep-alive http.client connection, not a requests session: the load generator shares
    # the two cores with the servers, and requests' own per-call cost would cap what we can measure.
    url, token, seconds = args
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    count, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.request("GET", parts.path, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
        count += 1
    conn.close()
    return count


def _throughput(url: str, token: str) -> float:
    _hammer((url, token, 1.0))  # warm up (JWKS fetch, connections)
    with mp.Pool(CLIENTS) as pool:
        started = time.monotonic()
        total = sum(pool.map(_hammer, [(url, token, SECONDS)] * CLIENTS))
        return total / (time.monotonic() - started)


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

    ours_proc, ours_url = _gunicorn("routes.wsgi:app")
    try:
        ours = _throughput(f"{ours_url}/api/v1/me", token)
    finally:
        _stop(ours_proc)
    base_proc, base_url = _gunicorn("bench.auth:baseline_app()")
    try:
        baseline = _throughput(f"{base_url}/bench/introspected-me", token)
    finally:
        _stop(base_proc)
    print(f"RESULT auth ours={ours:.0f} baseline={baseline:.0f} ratio={ours / baseline:.1f}")
    print(f"RESULT sso_second_channel_ms={statistics.median(samples):.0f}")


if __name__ == "__main__":
    main()
