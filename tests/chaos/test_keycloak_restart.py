"""Keycloak restarted (R12): tokens already issued keep working (the gateway verifies them locally
against its cached JWKS), new sign-ins resume when Keycloak is back.

Keycloak is the chaos instance (:8180, a copy of the cached distribution on its own dev-file
store), the realm applied to it with `idp.realm.apply_realm` (what `govlink realm apply` runs).
It is stopped (SIGTERM: its dev-file H2 store is not crash-safe, unlike the PostgreSQL store
Keycloak runs on in production) and started again; while it is down the gateway keeps answering calls made with a token
issued before; a new client-credentials sign-in fails; after the restart it succeeds again and the
new token is accepted. Effect = a call answered 200.
"""
from __future__ import annotations

import time

import pytest

from idp.realm import apply_realm
from bootstrap.gateway import create_app
from tests.conftest import client_credentials_token

CALLS_WHILE_DOWN = 200


_last_error: list[str] = []


def _sign_in(settings):
    try:
        return client_credentials_token(settings, "case-system")
    except (Exception, AssertionError) as exc:  # connection refused, or Keycloak not ready yet
        _last_error[:] = [f"{type(exc).__name__}: {str(exc)[:300]}"]
        return None


@pytest.mark.timeout(900)
def test_keycloak_restart_keeps_issued_tokens_working(chaos_keycloak, settings, chaos_report):
    kc_settings = settings.replace(keycloak_url=chaos_keycloak.url, keycloak_management_url=chaos_keycloak.mgmt_url)
    apply_realm(kc_settings)
    token = client_credentials_token(kc_settings, "case-system")
    app = create_app(kc_settings)
    client = app.test_client()
    try:
        def call(tok):
            return client.get("/api/v1/services", headers={"Authorization": f"Bearer {tok}"}).status_code

        assert call(token) == 200  # the gateway fetched and cached the realm's keys
        chaos_keycloak.stop()
        refused_signins = sum(1 for _ in range(3) if _sign_in(kc_settings) is None)
        answers = [call(token) for _ in range(CALLS_WHILE_DOWN)]
        down_at = time.monotonic()
        chaos_keycloak.start()
        new_token = None
        deadline = time.monotonic() + 120
        while new_token is None and time.monotonic() < deadline:
            new_token = _sign_in(kc_settings)
            if new_token is None:
                time.sleep(0.5)
        resumed = time.monotonic() - down_at
        assert new_token is not None, f"no sign-in after Keycloak came back: {_last_error}"
        after = [call(new_token) for _ in range(20)] + [call(token) for _ in range(20)]
        ok_down = answers.count(200)
        ok_after = after.count(200)
        chaos_report("keycloak-restart", sent=len(answers) + len(after), effects=ok_down + ok_after,
                     lost=(len(answers) - ok_down) + (len(after) - ok_after), doubled=0,
                     signins_refused_while_down=refused_signins, signin_resumed_after_s=round(resumed, 1))
        assert refused_signins == 3
    finally:
        app.extensions["govlink"].close()
