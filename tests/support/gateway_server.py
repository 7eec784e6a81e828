"""The gateway served by a real werkzeug server, as platforms, couriers and Keycloak call it back, with
the simulators over real HTTP on a free port."""
from __future__ import annotations

import socket
from contextlib import contextmanager
from typing import Iterator

import pytest

from kernel.http import http_session
from simulators.channels.serving import serve_in_thread
from simulators.server import run_in_thread

KEYCLOAK_FACING = ("127.0.0.1", 8000)  # where the realm calls the gateway (CIBA channel, back-channel logout)


@contextmanager
def gateway_with_simulators(settings, **overrides) -> Iterator[tuple[object, str, str]]:
    """(app, gateway_url, simulators_url): fresh simulators, and the gateway pointed at them on a free port.

    The gateway's `public_base_url` is the address it is served at, so the callback URLs it hands out
    itself (a Kuaidi100 subscription's) reach it.
    """
    from bootstrap.gateway import create_app

    sim_url, stop_sims = run_in_thread()
    served: dict = {}
    gateway_url, stop_gateway = serve_in_thread(lambda environ, start: served["app"](environ, start))
    app = served["app"] = create_app(settings.replace(simulators_url=sim_url, public_base_url=gateway_url,
                                                      **overrides))
    try:
        yield app, gateway_url, sim_url
    finally:
        stop_gateway()
        stop_sims()
        app.extensions["govlink"].close()


@contextmanager
def keycloak_facing_gateway(settings) -> Iterator[str]:
    """The gateway served on 127.0.0.1:8000, because Keycloak calls it there; the port must be free."""
    from bootstrap.gateway import create_app

    with socket.socket() as probe:
        if probe.connect_ex(KEYCLOAK_FACING) == 0:
            pytest.fail("127.0.0.1:8000 is taken (is `make run` running?): Keycloak calls the gateway there")
    app = create_app(settings)
    url, stop = serve_in_thread(app, *KEYCLOAK_FACING)
    try:
        yield url
    finally:
        stop()
        app.extensions["govlink"].close()


class GatewayStack:
    """The served gateway (`client` for calls in process) and the simulators' `_control` endpoints."""

    def __init__(self, app, gateway_url: str, sim_url: str):
        self.app, self.gateway_url, self.sim_url = app, gateway_url, sim_url
        self.client = app.test_client()
        self.runtime = app.extensions["govlink"]
        self.http = http_session(15)

    def control(self, system: str, **changes) -> dict:
        """Change a simulator's behaviour (see simulators/control.py) and return its state."""
        r = self.http.post(f"{self.sim_url}/{system}/_control", json=changes)
        assert r.status_code == 200, r.text
        return r.json()

    def state(self, system: str) -> dict:
        return self.http.get(f"{self.sim_url}/{system}/_control").json()

    def reset_simulators(self, callbacks: dict[str, str]) -> None:
        """Reset each simulator and point it at its callback path on the served gateway."""
        for system in callbacks:
            self.http.post(f"{self.sim_url}/{system}/_control/reset").raise_for_status()
        for system, path in callbacks.items():
            self.control(system, callback_url=f"{self.gateway_url}{path}")
