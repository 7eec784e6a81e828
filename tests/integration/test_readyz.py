"""/readyz tells which backing service is down: closed ports for each, and a real broker stop."""
import os
import subprocess
import time
from datetime import datetime

import pytest

from kernel.clock import BEIJING
from bootstrap.gateway import create_app
from supervision.deadlines import FixedClock

CLOSED = "127.0.0.1:1"  # nothing listens on port 1
COVERED = FixedClock(datetime(2026, 6, 1, 9, 0, tzinfo=BEIJING))  # config/supervision.yaml lists 2026's holidays


def test_ready_when_everything_is_up(app):
    app.extensions["govlink_clock"] = COVERED
    r = app.test_client().get("/readyz")
    body = r.get_json()
    assert r.status_code == 200, body
    assert body["status"] == "ready"
    assert {k: v["status"] for k, v in body["checks"].items()} == {"database": "up", "rabbitmq": "up", "keycloak": "up"}
    assert body["calendar"]["status"] == "ok"


def test_degraded_in_december_when_next_years_holidays_are_missing(settings, tmp_path):
    """Still ready (200: nothing is down), but degraded, naming the calendar, the year and the file."""
    path = tmp_path / "supervision.yaml"
    path.write_text("rules: []\ncalendar:\n  holidays:\n    - 2026-10-01..2026-10-07\n", encoding="utf-8")
    app = create_app(settings.replace(supervision_file=str(path)))
    app.extensions["govlink_clock"] = FixedClock(datetime(2026, 12, 6, 9, 0, tzinfo=BEIJING))
    scrape = {"Authorization": f"Bearer {settings.metrics_token}"}
    r = app.test_client().get("/readyz", headers=scrape)  # the file is named to the operator's token only
    body = r.get_json()
    assert r.status_code == 200, body
    assert body["status"] == "degraded" and body["degraded"] == ["calendar"]
    assert body["calendar"]["status"] == "degraded" and body["calendar"]["missing"] == [2027]
    assert "2027" in body["message"] and "supervision.yaml" in body["message"]
    anonymous = app.test_client().get("/readyz").get_json()
    assert anonymous["status"] == "degraded" and "2027" in anonymous["message"]
    assert "supervision.yaml" not in str(anonymous)
    metrics = app.test_client().get("/metrics", headers=scrape).get_data(as_text=True)
    assert "govlink_calendar_covers_next_year 0.0" in metrics
    path.write_text("rules: []\ncalendar:\n  holidays:\n    - 2026-10-01\n    - 2027-01-01\n", encoding="utf-8")
    os.utime(path, (time.time() + 5, time.time() + 5))  # the config is re-read when its mtime changes
    body = app.test_client().get("/readyz").get_json()
    assert body["status"] == "ready" and body["calendar"]["status"] == "ok"
    assert "govlink_calendar_covers_next_year 1.0" in app.test_client().get("/metrics", headers=scrape).get_data(as_text=True)


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
