"""The message log when the gateway and a worker are SIGKILLed under load (R10): every call the
gateway accepted is in the log, as sent (`out`, by the gateway) and as received (`in`, by the
worker), and the hash chain verifies.

The gateway is a real gunicorn (`bootstrap.wsgi:app`, two processes) and the worker a real
`govlink worker connectors <service>`; both log through spools in one folder, on the chaos
PostgreSQL and the chaos RabbitMQ. Six clients make asynchronous calls (`Prefer: respond-async`,
answered 202 once the envelope is logged and on the bus), each about 15 a second, while the
department takes 20 ms a call; both process groups are killed with SIGKILL at once, then started again: the new processes adopt
the spools of the dead ones. Sent = calls answered 202.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import select

from kernel.identifiers import make_resident_id
from simulators.server import run_in_thread
from store import migrate
from store.db import Database
from store.models.bus import MessageLogSpool
from tests.chaos.audit import audit_verify, logged_directions
from tests.chaos.bus_stack import declare_service, start_worker, stop_worker, worker_env
from tests.conftest import client_credentials_token

CLIENTS = 6
BEFORE, BETWEEN, AFTER = 5.0, 1.0, 5.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_gateway(env: dict, log: Path) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    repo = Path(__file__).resolve().parents[2]
    return subprocess.Popen([str(gunicorn), "-c", str(repo / "config" / "gunicorn.py"), "bootstrap.wsgi:app"], env=env,
                            cwd=repo, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the gateway did not start:\n{log.read_text()[-3000:]}")


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _unwritten(db, folder: Path) -> int:
    """Bytes of the spool files in `folder` not yet in the chain (what a kill left behind)."""
    files = {p.name: p.stat().st_size for p in folder.rglob("*.spool")}
    with db.unit_of_work() as session:
        offsets = dict(session.execute(select(MessageLogSpool.name, MessageLogSpool.offset)
                                       .where(MessageLogSpool.name.in_(list(files)))).all())
    return sum(size - offsets.get(name, 0) for name, size in files.items())


def test_gateway_and_worker_killed_under_load(chaos_postgres, chaos_rabbit, settings, tmp_path, unique, chaos_line):
    database = Database(chaos_postgres.url)
    migrate.upgrade(database)
    service = f"chaos-audit-{unique}"
    sim_url, stop_sims = run_in_thread()
    control = f"{sim_url}/e-licence/_control"
    requests.post(control, json={"mode": "slow", "delay_seconds": 0.02}, timeout=5).raise_for_status()
    declare_service(tmp_path / "connectors", service, sim_url=sim_url, breaker=(1000, 5))
    spool = tmp_path / "spool"
    env = worker_env(settings.replace(database_url=chaos_postgres.url), tmp_path / "connectors", service,
                     chaos_rabbit.url, GOVLINK_MESSAGE_LOG_SPOOL_DIR=spool, GOVLINK_WORKER_CONCURRENCY=4)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    gateway_env = dict(env, GOVLINK_BIND=f"127.0.0.1:{port}", GOVLINK_WEB_WORKERS="2")
    token = client_credentials_token(settings, "case-system")
    sent: list[str] = []
    refused = 0
    stop = threading.Event()
    lock = threading.Lock()

    def load():
        nonlocal refused
        http = requests.Session()
        while not stop.is_set():
            try:
                r = http.post(f"{url}/api/v1/services/{service}/list-licences", timeout=10,
                              json={"payload": {"holder_id": make_resident_id()}},
                              headers={"Authorization": f"Bearer {token}", "Prefer": "respond-async"})
            except requests.RequestException:  # the gateway is dead: a client tries again a moment later
                with lock:
                    refused += 1
                time.sleep(0.2)
                continue
            with lock:
                if r.status_code == 202:
                    sent.append(r.json()["call_id"])
                else:
                    refused += 1
            time.sleep(0.05)

    procs: dict[str, subprocess.Popen] = {}
    clients = [threading.Thread(target=load) for _ in range(CLIENTS)]
    try:
        procs["gateway"] = _start_gateway(gateway_env, tmp_path / "gateway-1.log")
        procs["worker"] = start_worker(env, tmp_path / "worker-1.log")
        _wait_ready(url, procs["gateway"], tmp_path / "gateway-1.log")
        for t in clients:
            t.start()
        time.sleep(BEFORE)
        _kill(procs["gateway"])
        _kill(procs["worker"])
        sent_before_kill = len(sent)
        unwritten_at_kill = _unwritten(database, spool)
        time.sleep(BETWEEN)
        procs["gateway"] = _start_gateway(gateway_env, tmp_path / "gateway-2.log")
        procs["worker"] = start_worker(env, tmp_path / "worker-2.log")
        _wait_ready(url, procs["gateway"], tmp_path / "gateway-2.log")
        time.sleep(AFTER)
        stop.set()
        for t in clients:
            t.join(30)

        deadline = time.monotonic() + 90
        while True:
            found = logged_directions(database, sent)
            logged = sum(1 for mid in sent if found.get(mid, set()) >= {"in", "out"})
            if logged == len(sent) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for name in ("gateway", "worker"):
            stop_worker(procs.pop(name))  # SIGTERM: a clean stop writes what is spooled
        ok, output = audit_verify(chaos_postgres.url)
        chaos_line("audit-process-kill", sent=len(sent), logged=logged, missing=len(sent) - logged,
                   verify="ok" if ok else "FAILED", sent_before_kill=sent_before_kill,
                   spooled_bytes_at_kill=unwritten_at_kill, refused=refused)
        assert sent_before_kill > 0 and len(sent) > sent_before_kill, "the load did not span the kill"
        assert logged == len(sent), [mid for mid in sent if found.get(mid, set()) < {"in", "out"}][:5]
        assert ok, output
    finally:
        stop.set()
        for t in clients:
            if t.is_alive():
                t.join(30)
        for proc in procs.values():
            stop_worker(proc)
        stop_sims()
        database.dispose()
