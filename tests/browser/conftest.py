"""Browser tests: Debian's Chromium through Playwright's sync API, the channel stand-ins, the gateway.

The gateway runs on 127.0.0.1:8000 (Keycloak posts back-channel logout tokens there); the
channel stand-ins on a free loopback port (the realm accepts any port on 127.0.0.1).
"""
from __future__ import annotations

import pytest

from simulators.channels.serving import serve_in_thread
from tests.support.keycloak_users import People

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "Hefei-Test-2026x"


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
    with People(settings, PASSWORD) as people:
        yield people.create("浏", "览器")
