"""One of the two Keycloak nodes is SIGKILLed (R12): people already signed in keep their SSO session
(a second channel signs them in without a login form) and refresh their tokens, JWKS still answers,
and new sign-ins go on through the other node. Everything goes through HAProxy (:8780).

Sessions live in Infinispan's distributed caches (two owners) and, in Keycloak 26, in the database;
the nodes found each other through jdbc-ping. When the killed node was the JGroups coordinator, the
survivor reports itself not ready until it has installed the new view, and the proxy has no node for
those seconds (outage_s, until JWKS answers through the proxy again): sign-ins in that window are
refused (counted, not hidden); everyone signed in before keeps the session.
"""
from __future__ import annotations

import threading
import time

from config.realm import derived_secret
from simulators.channels.signin import Browserless, SignInError
from tests.support.keycloak_users import MOBILE_REDIRECT, People

PORTAL_REDIRECT = "http://127.0.0.1/portal/cb"
RETRY_SECONDS = 30  # a user agent retries while the proxy has no ready node (502/503, not JSON)


def _retrying(call):
    """`call()`, again while the proxy answers without a ready Keycloak behind it; refusals are not retried."""
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001
            unavailable = isinstance(exc, ValueError) or "HTTP 502" in str(exc) or "HTTP 503" in str(exc)
            if not unavailable or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
SIGNED_IN = 8
NEW = 16


def test_keycloak_node_kill(cluster, settings, cluster_line):
    cs = cluster.cluster_settings(settings)
    password = "Cluster-Chaos-2026"
    portal_secret = derived_secret(cs, "web-portal")
    with People(cs, password) as people:
        before = [people.create() for _ in range(SIGNED_IN)]
        newcomers = [people.create() for _ in range(NEW)]
        agents = []
        for person in before:
            agent = Browserless(cs.issuer)
            tokens = agent.sign_in("mobile-app", MOBILE_REDIRECT, username=person["resident_id"], password=password)
            agents.append((agent, tokens))

        signins, refused = [], []

        def newcomer_sign_ins():
            for person in newcomers:
                try:
                    Browserless(cs.issuer).sign_in("mobile-app", MOBILE_REDIRECT, username=person["resident_id"],
                                                   password=password)
                    signins.append(person["resident_id"])
                except Exception as exc:  # noqa: BLE001 - SignInError, or the proxy's 503 page (not JSON)
                    refused.append(repr(exc))
                time.sleep(0.3)

        load = threading.Thread(target=newcomer_sign_ins)
        try:
            load.start()
            time.sleep(1.5)
            killed_at = cluster.kill("keycloak-kc1")
            import requests

            answered = cluster.wait("JWKS through the proxy", 120, lambda: requests.get(
                f"{cs.issuer}/protocol/openid-connect/certs", timeout=5).status_code == 200 and time.monotonic(), every=0.1)
            load.join(300)

            kept, refreshed = 0, 0
            for agent, tokens in agents:
                try:  # a second channel: the SSO cookie alone signs them in (no credentials given)
                    _retrying(lambda: agent.sign_in("web-portal", PORTAL_REDIRECT, client_secret=portal_secret))
                    kept += 1
                except (SignInError, ValueError):
                    pass
                try:
                    _retrying(lambda: agent.refresh("mobile-app", tokens["refresh_token"]))
                    refreshed += 1
                except (SignInError, ValueError):
                    pass
            jwks = _retrying(lambda: agents[0][0].http.get(f"{cs.issuer}/protocol/openid-connect/certs").json())
            cluster_line("cluster-keycloak-node-kill", signins=len(signins), refused=len(refused),
                         sso_kept="yes" if kept == SIGNED_IN else f"no({kept}/{SIGNED_IN})",
                         refreshed=f"{refreshed}/{SIGNED_IN}", jwks_keys=len(jwks.get("keys", [])),
                         outage_s=round(answered - killed_at, 1))
            assert kept == SIGNED_IN and refreshed == SIGNED_IN and jwks.get("keys"), refused
            assert len(signins) + len(refused) == NEW and signins, refused
        finally:
            load.join(300)
            cluster.script("keycloak")  # the killed node starts again and rejoins
