"""Finding 13 (issue 15): what the operations endpoints and the stack tell an attacker.

- `/metrics` published the supervisors' statistics to anyone; `/readyz` showed the database path
  and the AMQP user;
- Keycloak's management port, RabbitMQ (AMQP, management, distribution) and epmd listened on every
  interface; the application's broker user was an administrator.
"""
from __future__ import annotations

import shutil
import subprocess
from urllib.parse import urlsplit

import pytest

from config.settings import Settings, SettingsError

SCRAPE = {"Authorization": "Bearer dev-metrics-token"}  # the development default of GOVLINK_METRICS_TOKEN


def test_metrics_need_the_scrape_token(client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic ZGV2LW1ldHJpY3MtdG9rZW4="}):
        r = client.get("/metrics", headers=headers)
        assert r.status_code == 401 and r.get_json()["code"] == "invalid_token", headers
        assert "govlink_supervision" not in r.get_data(as_text=True)
    r = client.get("/metrics", headers=SCRAPE)
    assert r.status_code == 200 and "govlink_http_requests_total" in r.get_data(as_text=True)


def test_readyz_shows_no_targets_without_the_token(client, settings):
    anonymous = client.get("/readyz")
    text = anonymous.get_data(as_text=True)
    # ready, or degraded while next year's holidays are missing from the calendar (December)
    assert anonymous.status_code == 200 and anonymous.get_json()["status"] in ("ready", "degraded")
    for secret in (urlsplit(settings.amqp_url).username, urlsplit(settings.database_url).path.strip("/"), "target",
                   "supervision.yaml"):
        assert secret not in text, secret
    detailed = client.get("/readyz", headers=SCRAPE).get_json()
    assert detailed["checks"]["database"]["target"]


def test_production_refuses_the_development_scrape_token():
    with pytest.raises(SettingsError, match="GOVLINK_METRICS_TOKEN"):
        Settings.from_env({"GOVLINK_ENV": "production", "GOVLINK_GATEWAY_CLIENT_SECRET": "s" * 32,
                           "GOVLINK_KEYCLOAK_ADMIN_PASSWORD": "p" * 20})


def _listeners() -> list[tuple[str, int, str]]:
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        cols = line.split()
        address, _, port = cols[3].rpartition(":")
        found.append((address.strip("[]"), int(port), cols[-1] if len(cols) > 5 else ""))
    return found


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs iproute2's ss to list listening sockets")
def test_the_stack_listens_on_loopback_only(settings):
    ports = {5672: "AMQP", 15672: "RabbitMQ management", 25672: "Erlang distribution", 4369: "epmd",
             urlsplit(settings.keycloak_management_url).port: "Keycloak management",
             urlsplit(settings.keycloak_url).port: "Keycloak", 5432: "PostgreSQL"}
    exposed = [(ports[port], address) for address, port, _ in _listeners() if port in ports
               and address not in ("127.0.0.1", "::1", "::ffff:127.0.0.1")]
    assert not exposed, exposed


def test_the_application_broker_user_is_no_administrator(settings):
    user = urlsplit(settings.amqp_url).username
    out = subprocess.run(["rabbitmqctl", "-q", "list_users"], capture_output=True, text=True, check=True, timeout=60).stdout
    tags = {line.split("\t")[0]: line.split("\t")[1] for line in out.splitlines() if "\t" in line}
    assert user in tags and "administrator" not in tags[user], tags.get(user)
