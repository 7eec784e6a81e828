"""Browser tests: Debian's Chromium through Playwright's sync API, the channel stand-ins, the gateway.

The gateway runs on 127.0.0.1:8000 (Keycloak posts back-channel logout tokens there); the
channel stand-ins on a free loopback port (the realm accepts any port on 127.0.0.1).
"""
from __future__ import annotations

import random
import socket
from datetime import date, timedelta

import pytest

from idp.identifiers import make_resident_id
from idp.keycloak import admin_client
from simulators.channels.serving import serve_in_thread

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "Hefei-Test-2026x"


@pytest.fixture(scope="module")
def gateway(settings, db):
    from routes.app import create_app

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8000)) == 0:
            pytest.fail("127.0.0.1:8000 is taken (is `make run` running?): Keycloak calls the gateway there")
    app = create_app(settings)
    url, stop = serve_in_thread(app, "127.0.0.1", 8000)
    yield url
    stop()
    app.extensions["govlink"].close()


@pytest.fixture(scope="module")
def channels_url(settings, gateway):
    from simulators.channels import create_app

    url, stop = serve_in_thread(create_app(settings))
    yield url
    stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def citizen(settings):
    admin = admin_client(settings, settings.realm)
    resident_id = make_resident_id("340104", date(1950, 1, 1) + timedelta(days=random.randrange(18000)),
                                   random.randrange(1, 999))
    user_id = admin.create_user({"username": resident_id, "enabled": True, "lastName": "浏", "firstName": "览器",
                                 "attributes": {"assurance_level": ["1"]},
                                 "credentials": [{"type": "password", "value": PASSWORD, "temporary": False}]})
    yield {"id": user_id, "resident_id": resident_id, "password": PASSWORD}
    admin.delete_user(user_id)
