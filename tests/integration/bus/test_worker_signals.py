"""A real `govlink worker connectors` process serves /healthz and /metrics on its own port (issue 20):
department calls made through the gateway move its connector and consumer counters, and after the
department goes down (simulator `_control` mode=fail) its circuit gauge shows `open`."""
from __future__ import annotations

import socket
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from bootstrap.gateway import create_app
from bus.topology import service_queue
from kernel.identifiers import make_resident_id
from tests.chaos.bus_stack import access_file, declare_service, start_worker, stop_worker, worker_env
from tests.conftest import client_credentials_token
from tests.support.queues import delete_queues, work_queue_names

OPERATION = "list-licences"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _until(check, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


class Scrape:
    """The worker's /metrics, parsed."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token

    def sample(self, name: str, **labels) -> float | None:
        response = requests.get(f"{self.url}/metrics", headers={"Authorization": f"Bearer {self.token}"}, timeout=5)
        response.raise_for_status()
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
        return None


def test_a_connector_workers_metrics_show_its_calls_and_its_open_circuit(settings, sim, tmp_path, unique, db):
    service = f"signals-{unique}"
    directory = tmp_path / "connectors"
    declare_service(directory, service, sim_url=sim.base_url, breaker=(2, 120), attempts=1)
    port = _free_port()
    env = worker_env(settings, directory, service, settings.amqp_url, GOVLINK_SIMULATORS_URL=sim.base_url,
                     GOVLINK_METRICS_PORT_WORKER_CONNECTORS=port)
    worker = start_worker(env, tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}"
    app = create_app(settings.replace(connectors_dir=str(directory), access_file=access_file(directory, service),
                                      simulators_url=sim.base_url, retry_tiers="1,1"))
    runtime = app.extensions["govlink"]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {client_credentials_token(settings, 'case-system')}"}
    scrape = Scrape(url, settings.metrics_token)
    queue = f"svc.{service}"
    try:
        def healthy():
            try:
                return requests.get(f"{url}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        assert _until(healthy), (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
        assert requests.get(f"{url}/metrics", timeout=5).status_code == 401  # the scrape token is needed
        assert scrape.sample("govlink_consumer_connected", queue=queue) == 1.0
        assert scrape.sample("govlink_circuit_state", service=service, state="closed") == 1.0
        assert scrape.sample("govlink_connector_calls_total", service=service, outcome="ok") is None

        for _ in range(3):
            r = client.post(f"/api/v1/services/{service}/{OPERATION}", json={"payload": {"holder_id": make_resident_id()}},
                            headers=headers)
            assert r.status_code == 200, r.get_json()
        assert scrape.sample("govlink_connector_calls_total", service=service, operation=OPERATION, outcome="ok") == 3.0
        assert scrape.sample("govlink_consumer_messages_total", queue=queue, outcome="handled") == 3.0
        assert scrape.sample("govlink_connector_call_seconds_count", service=service, operation=OPERATION) == 3.0

        sim.control("e-licence", mode="fail")  # the department answers HTTP 500
        for _ in range(2):
            r = client.post(f"/api/v1/services/{service}/{OPERATION}", json={"payload": {"holder_id": make_resident_id()}},
                            headers={**headers, "Prefer": "respond-async"})
            assert r.status_code == 202, r.get_json()
        assert _until(lambda: scrape.sample("govlink_circuit_state", service=service, state="open") == 1.0, 20), \
            (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
        assert scrape.sample("govlink_circuit_state", service=service, state="closed") == 0.0
        failed = scrape.sample("govlink_connector_calls_total", service=service, operation=OPERATION, outcome="unavailable")
        assert failed and failed >= 2
        assert _until(lambda: (scrape.sample("govlink_consumer_messages_total", queue=queue, outcome="retried") or 0) >= 1, 10)
        # A department that is down does not make the worker unwell: it still consumes and answers.
        assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
    finally:
        stop_worker(worker)
        runtime.close()
        delete_queues(settings, work_queue_names(service_queue(service, (1, 1))))
    assert _until(lambda: not healthy(), 5)  # the endpoint went with the process
