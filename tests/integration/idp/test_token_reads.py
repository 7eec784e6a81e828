"""`GET /api/v1/me` answered below Flask (routes.token_reads) once a real Keycloak token is known good.

Each test counts the requests that reach Flask, so it can tell which path answered."""
from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from config.realm import demo_users
from routes.token_reads import TokenReads
from tests.support.lean_paths import calls_past, layer_of


@pytest.fixture()
def flask_calls(app):
    """The requests that went past the lean path into Flask."""
    with calls_past(layer_of(app, TokenReads)) as calls:
        yield calls


@pytest.fixture(scope="module")
def citizen_tokens(channels):
    citizen = demo_users()[0]
    return channels.sign_in("web-portal", username=citizen["username"], password=citizen["password"])


def _headers(tokens, **extra):
    return {"Authorization": f"Bearer {tokens['access_token']}", **extra}


def test_second_request_with_a_token_is_answered_below_flask_with_the_same_bytes(client, flask_calls, citizen_tokens):
    first = client.get("/api/v1/me", headers=_headers(citizen_tokens))
    assert first.status_code == 200 and flask_calls == ["/api/v1/me"]
    second = client.get("/api/v1/me", headers=_headers(citizen_tokens))
    assert second.status_code == 200 and flask_calls == ["/api/v1/me"]  # Flask not reached again
    assert second.data == first.data
    assert second.json["resident_id"].startswith("3401****")  # masked, as Flask's answer
    name = second.json["name"]
    assert any(ord(c) > 127 for c in name) and name.encode() in second.data  # Chinese as UTF-8, not \uXXXX
    for name in ("Content-Type", "Content-Length", "X-Content-Type-Options"):
        assert second.headers[name] == first.headers[name]
    assert second.headers["X-Correlation-ID"] and second.headers["X-Correlation-ID"] != first.headers["X-Correlation-ID"]


def test_lean_path_echoes_the_correlation_id_and_counts_the_request(client, flask_calls, citizen_tokens):
    client.get("/api/v1/me", headers=_headers(citizen_tokens))
    labels = {"method": "GET", "endpoint": "/api/v1/me", "status": "200"}
    before = REGISTRY.get_sample_value("govlink_http_requests_total", labels) or 0
    r = client.get("/api/v1/me", headers=_headers(citizen_tokens, **{"X-Correlation-ID": "lean-path-0001"}))
    assert r.headers["X-Correlation-ID"] == "lean-path-0001" and len(flask_calls) == 1
    assert REGISTRY.get_sample_value("govlink_http_requests_total", labels) == before + 1
    bad = client.get("/api/v1/me", headers=_headers(citizen_tokens, **{"X-Correlation-ID": "<script>"}))
    assert bad.headers["X-Correlation-ID"] != "<script>"


def test_a_logged_out_session_is_refused_even_with_a_known_token(app, client, flask_calls, channels):
    from idp.sessions import ended_sessions_for
    from routes.auth import verified_tokens

    citizen = demo_users()[0]  # a session of its own: this test ends it
    citizen_tokens = channels.sign_in("web-portal", username=citizen["username"], password=citizen["password"])

    assert client.get("/api/v1/me", headers=_headers(citizen_tokens)).status_code == 200
    principal = verified_tokens(app).get(citizen_tokens["access_token"])
    assert principal is not None and principal.claims.get("sid")
    ended_sessions_for(app).end(principal.claims["sid"], principal.subject, "web-portal")
    refused = client.get("/api/v1/me", headers=_headers(citizen_tokens))
    assert refused.status_code == 401 and refused.json["code"] == "invalid_token"
    assert "logged out" in refused.json["message"] and flask_calls == ["/api/v1/me", "/api/v1/me"]


def test_anything_but_a_plain_known_token_get_goes_to_flask(client, flask_calls, citizen_tokens):
    assert client.get("/api/v1/me", headers=_headers(citizen_tokens)).status_code == 200
    expected = ["/api/v1/me"]
    cases = [
        ("GET", "/api/v1/me", {"Authorization": "Bearer not.a.token"}, 401),  # unknown token: Flask refuses it
        ("GET", "/api/v1/me", {"Authorization": f"Basic {citizen_tokens['access_token']}"}, 401),
        ("POST", "/api/v1/me", _headers(citizen_tokens), 405),
        ("GET", "/api/v1/me/", _headers(citizen_tokens), 404),
    ]
    for method, path, headers, status in cases:
        r = client.open(path, method=method, headers=headers)
        assert r.status_code == status, (method, path, r.status_code)
        expected.append(path)
        assert flask_calls == expected
    client.set_cookie("session", "x")  # a console page's cookie (the test client would drop a Cookie header)
    assert client.get("/api/v1/me", headers=_headers(citizen_tokens)).status_code == 200
    assert flask_calls == [*expected, "/api/v1/me"]


def test_with_the_cache_off_every_request_is_verified_in_flask(settings, citizen_tokens):
    from dataclasses import replace

    from bootstrap.gateway import create_app

    from routes.auth import verified_tokens

    app = create_app(replace(settings, token_cache_seconds=0))
    inner, calls = app.wsgi_app.next, []
    app.wsgi_app.next = lambda environ, start_response: calls.append(1) or inner(environ, start_response)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/api/v1/me", headers=_headers(citizen_tokens)).status_code == 200
    assert len(calls) == 3 and len(verified_tokens(app)) == 0
