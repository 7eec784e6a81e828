"""A declaration and its grant dropped into the folder are served by the gateway and a running worker
(`govlink worker connectors`, its own process) without a restart; a bad file is refused while the old
set keeps serving. Real Keycloak token, RabbitMQ, PostgreSQL and HTTP to a real-WSDL responder."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bus.topology import service_queue
from connectors.cli import connectors
from bootstrap.gateway import create_app
from tests.conftest import client_credentials_token
from tests.support.queues import delete_queues, work_queue_names
from tests.support.wsdl_responders import serve

CASE_SYSTEM = "GOV/11340100002987128A/case-system"


@pytest.fixture()
def tv():
    responder, stop = serve("tv")
    yield responder
    stop()


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # appear at once, as a deployment tool would place it


def _grants(path: Path, services: list[str]) -> None:
    _write(path, yaml.safe_dump({"grants": [{"clients": [CASE_SYSTEM], "service": s, "operations": ["*"]} for s in services]}))


def _until(predicate, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_new_declaration_is_served_by_gateway_and_worker_without_restart(settings, db, tmp_path, unique, tv, sim):
    directory = tmp_path / "connectors"
    directory.mkdir()
    access = tmp_path / "access.yaml"
    first = f"greeting-{unique}"
    population = yaml.safe_load((Path(__file__).resolve().parents[3] / "config/connectors/population-registry.yaml")
                                .read_text(encoding="utf-8"))
    _write(directory / f"{first}.yaml", yaml.safe_dump(
        dict(population, service=first, wsdl=f"{sim.base_url}/population/soap?wsdl"), allow_unicode=True))
    _grants(access, [first])
    test_settings = settings.replace(connectors_dir=str(directory), access_file=str(access), retry_tiers="1,1",
                                     service_call_timeout_seconds=10, config_reload_seconds=0.3)
    env = dict(os.environ, GOVLINK_CONNECTORS_DIR=str(directory), GOVLINK_ACCESS_FILE=str(access),
               GOVLINK_RETRY_TIERS="1,1", GOVLINK_CONFIG_RELOAD_SECONDS="0.3", GOVLINK_LOG_JSON="false")
    log = tmp_path / "worker.log"
    worker = subprocess.Popen([str(Path(sys.executable).with_name("govlink")), "worker", "connectors"], env=env,
                              stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
    app = create_app(test_settings)
    client = app.test_client()
    token = client_credentials_token(settings, "case-system")
    headers = {"Authorization": f"Bearer {token}"}
    new = f"tv-{unique}"
    try:
        assert _until(lambda: f"consuming svc.{first}" in log.read_text(errors="replace")), log.read_text()

        # not declared yet
        r = client.post(f"/api/v1/services/{new}/get-area-string", json={"payload": {}}, headers=headers)
        assert r.status_code == 404 and r.get_json()["code"] == "unknown_service"

        # the integrator drops `describe` output (renamed) and its grant into place
        text = CliRunner().invoke(connectors, ["describe", tv.wsdl_url()]).output
        declaration = yaml.safe_load(text)
        declaration["service"] = new
        _write(directory / f"{new}.yaml", yaml.safe_dump(declaration, allow_unicode=True))
        _grants(access, [first, new])

        def served():
            r = client.post(f"/api/v1/services/{new}/get-tvstation-string", json={"payload": {"the_area_id": 34}},
                            headers=headers)
            return r if r.status_code == 200 else None
        r = _until(served)
        assert r is not None, log.read_text()
        assert r.get_json()["result"] == {"get_tvstation_string_result": {"string": ["101@安徽卫视", "102@合肥电视台"]}}
        assert f"consuming svc.{new}" in log.read_text(errors="replace")
        assert tv.served("getTVstationString") == 1

        # a bad file is refused; the old set (both services, both grants) keeps serving
        _write(directory / f"broken-{unique}.yaml", "service: broken\nkind: soap\noperations: {}\n")
        _grants(access, [first, new, f"broken-{unique}"])
        time.sleep(1.5)  # several watch periods
        r = client.post(f"/api/v1/services/{new}/get-area-string", json={"payload": {}}, headers=headers)
        assert r.status_code == 200 and r.get_json()["result"]["get_area_string_result"]["string"][2] == "34@安徽@华东"
        assert tv.served("getAreaString") == 1  # the worker served it too: it kept the old set
        r = client.post(f"/api/v1/services/broken-{unique}/x", json={"payload": {}}, headers=headers)
        assert r.status_code == 404

        # a changed declaration is picked up (here: a mapped answer), after the bad file is removed
        (directory / f"broken-{unique}.yaml").unlink()
        declaration["operations"]["get-area-string"]["response"] = {"string[]": "areas[]"}
        _write(directory / f"{new}.yaml", yaml.safe_dump(declaration, allow_unicode=True))
        _grants(access, [first, new])

        def remapped():
            r = client.post(f"/api/v1/services/{new}/get-area-string", json={"payload": {}}, headers=headers)
            return r if r.status_code == 200 and "areas" in r.get_json()["result"] else None
        r = _until(remapped)
        assert r is not None and r.get_json()["result"]["areas"][1] == "1@北京@华北"
    finally:
        app.extensions["govlink"].close()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        delete_queues(settings, [q for s in (first, new) for q in work_queue_names(service_queue(s, (1, 1)))])
