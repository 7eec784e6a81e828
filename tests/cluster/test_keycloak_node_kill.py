"""The Keycloak node that coordinates the JGroups cluster is SIGKILLed (R12): people already signed in
keep their SSO session (a second channel signs them in without a login form) and refresh their
tokens, JWKS still answers, and new sign-ins go on through the other node. Everything goes through
HAProxy (:8780).

Sessions live in Infinispan's distributed caches (two owners) and, in Keycloak 26, in the database;
the nodes found each other through jdbc-ping. Killing the coordinator is the worst case: its
JGROUPS_PING row still names it coordinator of a two-node view, so the survivor's cluster health check
(part of /health/ready) calls the survivor the minority of a split brain until that row is stale, up
to 60 s (survivor_unready_s). The proxy then has no ready node and sends to the live ones
(scripts/cluster.sh, backend keycloak-live); before that fallback every request in that window was
answered 503. The scenario signs people in during the whole window, and checks the survivor really
was unready, so the fallback is what is tested.
"""
from __future__ import annotations

import threading
import time

import psycopg
import requests

from config.realm import derived_secret
from simulators.channels.signin import Browserless, SignInError
from tests.cluster import topology
from tests.support.keycloak_users import MOBILE_REDIRECT, People

PORTAL_REDIRECT = "http://127.0.0.1/portal/cb"
RETRY_SECONDS = 30  # a user agent retries while the proxy has no node at all (502/503, not JSON)
SIGNED_IN = 8
NEWCOMERS = 8
WINDOW = 65.0  # seconds after the kill that sign-ins go on: the survivor's unready window is at most 60 s


def _retrying(call):
    """`call()`, again while the proxy answers without a Keycloak behind it; refusals are not retried."""
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            return call()
        except Exception as exc:  # noqa: BLE001
            unavailable = isinstance(exc, ValueError) or "HTTP 502" in str(exc) or "HTTP 503" in str(exc)
            if not unavailable or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _coordinator() -> str:
    """The Keycloak node that coordinates the JGroups cluster, found by its JGroups port. The rows of dead
    members stay in JGROUPS_PING (ignored once stale): the freshest row names the live coordinator."""
    with psycopg.connect(topology.database_url("keycloak"), connect_timeout=5) as db:
        ips = [row[0] for row in db.execute(
            "SELECT ip FROM jgroups_ping WHERE address = "
            "(SELECT coordinated_by FROM jgroups_ping ORDER BY last_update DESC LIMIT 1)")]
    nodes = dict(zip(topology.ports("KC_CLUSTER_JGROUPS_PORTS"), topology.ENV["KC_CLUSTER_NODES"].split()))
    assert len(ips) == 1, f"not one JGroups coordinator in the database: {ips}"
    return nodes[int(ips[0].rsplit(":", 1)[1])]


class _Probe(threading.Thread):
    """Every 0.25 s: does JWKS answer through the proxy, and is the surviving node ready?"""

    def __init__(self, jwks_url: str, ready_url: str, until: float):
        super().__init__(daemon=True)
        self.jwks_url, self.ready_url, self.until = jwks_url, ready_url, until
        self.samples: list[tuple[float, bool, bool]] = []

    def run(self):
        while time.monotonic() < self.until:
            self.samples.append((time.monotonic(), self._ok(self.jwks_url), self._ok(self.ready_url)))
            time.sleep(0.25)

    @staticmethod
    def _ok(url: str) -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def seconds(self, which: int) -> tuple[float, float]:
        """(total, longest stretch) of seconds in which sample field `which` (1 JWKS, 2 survivor ready) was false."""
        total = longest = run = 0.0
        for (at, *ok), (nxt, *_) in zip(self.samples, self.samples[1:]):
            if ok[which - 1]:
                run = 0.0
            else:
                total += nxt - at
                run += nxt - at
                longest = max(longest, run)
        return round(total, 1), round(longest, 1)


def test_keycloak_node_kill(cluster, settings, cluster_line):
    cs = cluster.cluster_settings(settings)
    password = "Cluster-Chaos-2026"
    portal_secret = derived_secret(cs, "web-portal")
    nodes = cluster.ENV["KC_CLUSTER_NODES"].split()
    victim = _coordinator()
    survivor_mgmt = cluster.ports("KC_CLUSTER_MGMT_PORTS")[1 - nodes.index(victim)]
    with People(cs, password) as people:
        before = [people.create() for _ in range(SIGNED_IN)]
        newcomers = [people.create() for _ in range(NEWCOMERS)]
        agents = []
        for person in before:
            agent = Browserless(cs.issuer)
            tokens = agent.sign_in("mobile-app", MOBILE_REDIRECT, username=person["resident_id"], password=password)
            agents.append((agent, tokens))

        signins, refused = [], []
        stop_at = [time.monotonic() + 600]

        def newcomer_sign_ins():  # a fresh user agent each time: every success is a new SSO session
            n = 0
            while time.monotonic() < stop_at[0]:
                person = newcomers[n % NEWCOMERS]
                n += 1
                try:
                    Browserless(cs.issuer).sign_in("mobile-app", MOBILE_REDIRECT, username=person["resident_id"],
                                                   password=password)
                    signins.append(time.monotonic())
                except Exception as exc:  # noqa: BLE001 - SignInError, or the proxy's 503 page (not JSON)
                    refused.append((time.monotonic(), repr(exc)[:300]))
                time.sleep(0.3)

        load = threading.Thread(target=newcomer_sign_ins)
        try:
            load.start()
            time.sleep(1.5)
            killed_at = cluster.kill(f"keycloak-{victim}")
            stop_at[0] = killed_at + WINDOW
            probe = _Probe(f"{cs.issuer}/protocol/openid-connect/certs",
                           f"http://127.0.0.1:{survivor_mgmt}/health/ready", killed_at + WINDOW)
            probe.start()
            time.sleep(5)  # the survivor has seen the new view and calls itself unready by now

            kept, refreshed, lost = 0, 0, []
            for agent, tokens in agents:  # inside the window
                try:  # a second channel: the SSO cookie alone signs them in (no credentials given)
                    _retrying(lambda: agent.sign_in("web-portal", PORTAL_REDIRECT, client_secret=portal_secret))
                    kept += 1
                except (SignInError, ValueError) as exc:
                    lost.append(f"sso: {exc!r}")
                try:
                    _retrying(lambda: agent.refresh("mobile-app", tokens["refresh_token"]))
                    refreshed += 1
                except (SignInError, ValueError) as exc:
                    lost.append(f"refresh: {exc!r}")
            checked_s = time.monotonic() - killed_at
            load.join(WINDOW + 60)
            probe.join(10)
            jwks = _retrying(lambda: agents[0][0].http.get(f"{cs.issuer}/protocol/openid-connect/certs").json())
            unready_s, _ = probe.seconds(2)
            _, outage_s = probe.seconds(1)
            after = [at for at in signins if at > killed_at]
            why = (lost, [f"+{at - killed_at:.1f}s {exc}" for at, exc in refused])
            cluster_line("cluster-keycloak-node-kill", killed=victim, signins=len(after), refused=len(refused),
                         sso_kept="yes" if kept == SIGNED_IN else f"no({kept}/{SIGNED_IN})",
                         refreshed=f"{refreshed}/{SIGNED_IN}", jwks_keys=len(jwks.get("keys", [])),
                         survivor_unready_s=unready_s, proxy_outage_s=outage_s, checked_within_s=round(checked_s, 1),
                         refused_at=",".join(f"{at - killed_at:+.1f}s:{exc.split('(')[0]}" for at, exc in refused) or "-")
            assert kept == SIGNED_IN and refreshed == SIGNED_IN and jwks.get("keys"), why
            # The window this test is about happened (else the fallback was not exercised) ...
            assert unready_s > 0, "the survivor never reported itself unready: the coordinator's death was not seen"
            # ... and people signed in all through it: at most the requests the dying node held fail.
            assert after and len(refused) <= 2, why
            assert outage_s <= 3.0, why  # the health checks' 2 x 1 s to take the dead node out
        finally:
            stop_at[0] = 0
            load.join(300)
            cluster.script("keycloak")  # the killed node starts again and rejoins
