"""A REST department described by its OpenAPI 3 document, through the whole stack: a real Keycloak token
at the gateway, RabbitMQ, a running `govlink worker connectors` (its own process) and real HTTP to a
local Petstore serving the real Swagger Petstore v3 document. The declaration is `connectors describe`
output with only its service renamed."""
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
from tests.support.openapi_responder import serve
from tests.support.queues import delete_queues, work_queue_names

CASE_SYSTEM = "GOV/11340100002987128A/case-system"


@pytest.fixture()
def petstore():
    store, stop = serve()
    yield store
    stop()


def _until(predicate, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_openapi_department_through_gateway_bus_and_worker(settings, db, tmp_path, unique, petstore):
    service = f"pets-{unique}"
    directory = tmp_path / "connectors"
    directory.mkdir()
    declaration = yaml.safe_load(CliRunner().invoke(connectors, ["describe", petstore.document_url()]).output)
    declaration["service"] = service
    (directory / f"{service}.yaml").write_text(yaml.safe_dump(declaration, allow_unicode=True), encoding="utf-8")
    access = tmp_path / "access.yaml"
    access.write_text(yaml.safe_dump({"grants": [{"clients": [CASE_SYSTEM], "service": service, "operations": ["*"]}]}),
                      encoding="utf-8")
    test_settings = settings.replace(connectors_dir=str(directory), access_file=str(access), retry_tiers="1,1",
                                     service_call_timeout_seconds=10)
    env = dict(os.environ, GOVLINK_CONNECTORS_DIR=str(directory), GOVLINK_ACCESS_FILE=str(access),
               GOVLINK_RETRY_TIERS="1,1", GOVLINK_LOG_JSON="false")
    log = tmp_path / "worker.log"
    worker = subprocess.Popen([str(Path(sys.executable).with_name("govlink")), "worker", "connectors"], env=env,
                              stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
    app = create_app(test_settings)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {client_credentials_token(settings, 'case-system')}"}

    def call(operation: str, payload: dict):
        return client.post(f"/api/v1/services/{service}/{operation}", json={"payload": payload}, headers=headers)

    try:
        assert _until(lambda: f"consuming svc.{service}" in log.read_text(errors="replace")), log.read_text()

        r = call("get-pet-by-id", {"pet_id": 1})
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["result"]["name"] == "旺财" and r.get_json()["result"]["photo_urls"] == ["https://example.org/1.jpg"]
        assert petstore.requests[-1]["path"] == "/v3/pet/1"

        sent = petstore.served()
        r = call("get-pet-by-id", {"pet_id": "one"})
        assert r.status_code == 422, r.get_json()
        body = r.get_json()
        assert body["code"] == "invalid_request" and f"{service}/get-pet-by-id: pet_id must be integer" in body["message"]
        r = call("find-pets-by-status", {"status": "lost"})
        assert r.status_code == 422 and "status must be one of: available, pending, sold" in r.get_json()["message"]
        assert petstore.served() == sent  # the department saw nothing

        petstore.control("missing_name")
        r = call("get-pet-by-id", {"pet_id": 2})
        assert r.status_code == 502, r.get_json()
        assert r.get_json()["code"] == "bad_response" and "name is required" in r.get_json()["message"]
    finally:
        app.extensions["govlink"].close()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        delete_queues(settings, work_queue_names(service_queue(service, (1, 1))))
