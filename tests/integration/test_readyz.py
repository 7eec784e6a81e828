"""/readyz tells which backing service is down: closed ports for each, and a real broker stop."""
import subprocess
import time

import pytest

from routes.app import create_app

CLOSED = "127.0.0.1:1"  # nothing listens on port 1


def test_ready_when_everything_is_up(client):
    r = client.get("/readyz")
    body = r.get_json()
    assert r.status_code == 200, body
    assert body["status"] == "ready"
    assert {k: v["status"] for k, v in body["checks"].items()} == {"database": "up", "rabbitmq": "up", "keycloak": "up"}


@pytest.mark.parametrize("service,override", [
    ("database", {"database_url": f"postgresql://govlink:govlink@{CLOSED}/govlink"}),
    ("rabbitmq", {"amqp_url": f"amqp://govlink:govlink@{CLOSED}/%2F"}),
    ("keycloak", {"keycloak_url": f"http://{CLOSED}"}),
])
def test_unreachable_service_is_named(settings, service, override):
    app = create_app(settings.replace(**override))
    # the details (targets, errors) are for the operator's scrape token (issue 15 #13)
    r = app.test_client().get("/readyz", headers={"Authorization": f"Bearer {settings.metrics_token}"})
    body = r.get_json()
    assert r.status_code == 503
    assert body["down"] == [service]
    assert body["checks"][service]["error"] == "connection refused"
    assert service in body["message"]
    assert "govlink:govlink" not in r.get_data(as_text=True)  # URLs are shown without passwords


def _rabbit(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def test_stopped_broker_is_reported_down_then_up_again(client):
    _rabbit("stop_app")
    try:
        body = client.get("/readyz").get_json()
        assert body["down"] == ["rabbitmq"]
    finally:
        _rabbit("start_app")
        _rabbit("await_startup")
    for _ in range(30):
        if client.get("/readyz").status_code == 200:
            break
        time.sleep(1)
    assert client.get("/readyz").status_code == 200


def test_preflight_names_the_service_that_is_down(settings):
    import os

    env = dict(os.environ, GOVLINK_AMQP_URL=f"amqp://govlink:govlink@{CLOSED}/%2F", GOVLINK_LOG_JSON="false")
    out = subprocess.run(["govlink", "preflight"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "DOWN rabbitmq" in out.stdout
    assert "govlink cannot start: rabbitmq is down" in out.stderr
    assert "Traceback" not in out.stdout + out.stderr
