"""A worker's or the scheduler's own `/healthz` and `/metrics` (kernel/process_endpoint.py), over real HTTP."""
from __future__ import annotations

import pytest
import requests
from prometheus_client import CollectorRegistry, Counter

from config.settings import Settings, SettingsError
from kernel.process_endpoint import start_process_endpoint

TOKEN = "scrape-token-for-tests"


@pytest.fixture()
def endpoint():
    state = {"ok": True, "reason": None}
    registry = CollectorRegistry()
    counter = Counter("govlink_test_things_total", "things", registry=registry)

    def health():
        if state["ok"] is None:
            raise RuntimeError("the check broke")
        return state["ok"], state["reason"]

    server = start_process_endpoint("127.0.0.1", 0, health=health, token=TOKEN, registry=registry, name="test")
    yield f"http://127.0.0.1:{server.port}", state, counter
    server.stop()


def test_healthz_answers_200_when_the_process_says_it_is_well(endpoint):
    url, _state, _counter = endpoint
    r = requests.get(f"{url}/healthz", timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_healthz_answers_503_with_the_reason_when_it_is_not(endpoint):
    url, state, _counter = endpoint
    state.update(ok=False, reason="svc.x: not connected to the broker")
    r = requests.get(f"{url}/healthz", timeout=5)
    assert r.status_code == 503
    assert r.json() == {"status": "unhealthy", "reason": "svc.x: not connected to the broker"}


def test_healthz_answers_503_when_the_check_itself_fails(endpoint):
    url, state, _counter = endpoint
    state["ok"] = None  # the check raises: the process cannot say it is well
    r = requests.get(f"{url}/healthz", timeout=5)
    assert r.status_code == 503 and r.json() == {"status": "unhealthy", "reason": "the health check failed (RuntimeError)"}


def test_metrics_need_the_scrape_token(endpoint):
    url, _state, counter = endpoint
    counter.inc(3)
    refused = requests.get(f"{url}/metrics", timeout=5)
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_token"
    assert requests.get(f"{url}/metrics", headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    r = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    assert "govlink_test_things_total 3.0" in r.text


def test_other_paths_are_404(endpoint):
    url, _state, _counter = endpoint
    assert requests.get(f"{url}/", timeout=5).status_code == 404


def test_each_process_kind_has_its_own_port_setting_and_0_or_empty_disables_it():
    default = Settings.from_env({})
    ports = {kind: default.metrics_port_for(kind) for kind in ("worker-connectors", "worker-logistics", "scheduler")}
    assert len(set(ports.values())) == 3 and None not in ports.values()
    assert not {8000, 8080, 8100, 8101, 9000, 5432, 5672} & set(ports.values())  # gateway, Keycloak, simulators
    assert default.metrics_port_for("gateway") is None  # the gateway serves /metrics on its own port
    env = {"GOVLINK_METRICS_PORT_WORKER_CONNECTORS": "0", "GOVLINK_METRICS_PORT_SCHEDULER": "",
           "GOVLINK_METRICS_PORT_WORKER_LOGISTICS": "9300"}
    settings = Settings.from_env(env)
    assert settings.metrics_port_for("worker-connectors") is None
    assert settings.metrics_port_for("scheduler") is None
    assert settings.metrics_port_for("worker-logistics") == 9300
    with pytest.raises(SettingsError, match="GOVLINK_METRICS_PORT_SCHEDULER"):
        Settings.from_env({"GOVLINK_METRICS_PORT_SCHEDULER": "70000"})


def test_docker_compose_asks_each_worker_and_scheduler_its_own_healthz():
    import yaml
    from pathlib import Path

    services = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())["services"]
    default = Settings()
    kinds = {"worker-connectors": default.metrics_port_worker_connectors,
             "worker-logistics": default.metrics_port_worker_logistics, "scheduler": default.metrics_port_scheduler}
    checked = 0
    for name, service in services.items():
        kind = next((k for k in kinds if name.rstrip("0123456789") == k), None)
        if kind is None:
            continue
        assert f"127.0.0.1:{kinds[kind]}/healthz" in " ".join(service["healthcheck"]["test"]), name
        checked += 1
    assert checked == 5  # two connector workers, one logistics worker, two schedulers
