"""Shared helpers of the chaos tests. A department service of its own on the chaos broker: declaration, grant, settings, counting.

Shared by the broker-restart, worker-kill and department-outage scenarios. The service is the
shipped e-licence declaration (REST) copied under a unique name, pointed at simulators of the test's
own, with retry tiers of 1 s so that nothing waits a minute.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import func, select

from store.models.bus import ServiceCall

SHIPPED = Path(__file__).resolve().parents[2] / "config" / "connectors"
CASE_SYSTEM = "GOV/11340100002987128A/case-system"


def declare_service(directory: Path, name: str, *, sim_url: str, breaker=(5, 30), attempts=3) -> None:
    """Write `<name>.yaml` (a copy of e-licence) and `access.yaml` granting it to the case system."""
    decl = yaml.safe_load((SHIPPED / "e-licence.yaml").read_text())
    decl["service"] = name
    decl["base_url"] = f"{sim_url}/e-licence"
    decl["circuit_breaker"] = {"failure_threshold": breaker[0], "reset_timeout_seconds": breaker[1]}
    decl["retry"] = {"attempts": attempts, "backoff_seconds": 0.05, "max_backoff_seconds": 0.2}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(decl, allow_unicode=True))
    (directory.parent / f"access-{name}.yaml").write_text(yaml.safe_dump(
        {"grants": [{"clients": [CASE_SYSTEM], "service": name, "operations": ["*"]}]}))


def access_file(directory: Path, name: str) -> str:
    return str(directory.parent / f"access-{name}.yaml")


def call_outcomes(db, message_ids: list[str]) -> dict[str, str]:
    """{message id: status} of the service_calls rows of `message_ids`."""
    out = {}
    with db.unit_of_work() as session:
        for i in range(0, len(message_ids), 5000):
            chunk = message_ids[i:i + 5000]
            out.update(session.execute(select(ServiceCall.message_id, ServiceCall.status)
                                       .where(ServiceCall.message_id.in_(chunk))).all())
    return out


def succeeded(db, service: str) -> int:
    with db.unit_of_work() as session:
        return session.execute(select(func.count()).select_from(ServiceCall).where(
            ServiceCall.service == service, ServiceCall.status == "succeeded")).scalar_one()


def notice_body(payer_key: str, *, platform: str | None = None, case_id: str) -> dict:
    """A payment notice of 2 x 15.00 yuan (驾驶证工本费) for `payer_key`."""
    body = {"agency_code": "340100-GA-JJ", "payer_key": payer_key, "payer_name": "王测试", "case_id": case_id,
            "items": [{"code": "GA-0101", "name": "驾驶证工本费", "unit": "本", "unit_price_fen": 1500, "quantity": 2}]}
    if platform:
        body["platform"] = platform
    return body


def worker_env(settings, directory: Path, service: str, amqp_url: str, **more) -> dict:
    """The environment of a `govlink worker connectors` process for `service` (declared in `directory`)."""
    env = dict(os.environ, GOVLINK_AMQP_URL=amqp_url, GOVLINK_DATABASE_URL=settings.database_url,
               GOVLINK_CONNECTORS_DIR=str(directory), GOVLINK_ACCESS_FILE=access_file(directory, service),
               GOVLINK_RETRY_TIERS="1,1", GOVLINK_LOG_JSON="false", CHAOS_SERVICE=service)
    env.update({k: str(v) for k, v in more.items()})
    return env


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    """`govlink worker connectors <service>` in a process group of its own."""
    govlink = Path(sys.executable).with_name("govlink")
    return subprocess.Popen([str(govlink), "worker", "connectors", env["CHAOS_SERVICE"]], env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def stop_worker(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
