"""`make run` as the README says a newcomer runs it (issue 20): the whole system on the PostgreSQL that
`make services` starts, and the demo seed driven through the real paths, so that the finance and
supervision consoles and the message log have something to show.

The test runs `make run` in a subprocess of its own (its own database and broker vhost, the suite's
realm), waits for the seed to say it is done, signs finance01 and supervisor01 in to the consoles on
the real Keycloak, reads their pages and APIs, runs the seed again (nothing is added), then stops
everything it started. It binds 127.0.0.1:8000 and the simulators' ports: run it under
`flock -o /tmp/govlink-8000.lock`.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
import requests
from sqlalchemy import create_engine, text

from bootstrap.demo_seed import HELD_CASE, LATE_CASE, PARKED_FAULT
from bootstrap.table import process_table
from simulators.channels.signin import Browserless
from tests.support.console_signin import console_sign_in
from tests.support.keycloak_users import DEMO_PASSWORD, sign_in

REPO = Path(__file__).resolve().parents[2]
BASE = "http://127.0.0.1:8000"
PORTS = (8000, 8100, 8300)  # the gateway, the simulators, the channel stand-ins (Procfile)
READY_SECONDS = 240  # make run + the seed: about 1 min, up to 3 on a 2-core machine under load
SEED_DONE = "demo seed: done"
RABBIT_ADMIN = (os.environ.get("GOVLINK_RABBIT_ADMIN", "govlink-admin"),
                os.environ.get("GOVLINK_RABBIT_ADMIN_PASSWORD", "govlink-admin"))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class RunWorld:
    """The database and vhost of this `make run`, and the environment it runs in."""

    def __init__(self, settings, tmp_path: Path):
        suite_db = urlsplit(settings.database_url).path.lstrip("/")
        self.db_name = f"{suite_db}_makerun"
        self.database_url = _with_database(settings.database_url, self.db_name)
        amqp = urlsplit(settings.amqp_url)
        self.vhost = f"{(amqp.path.lstrip('/') or '/').replace('%2F', '')}makerun".strip("/") or "makerun"
        self.amqp_url = urlunsplit(amqp._replace(path="/" + quote(self.vhost, safe="")))
        self.rabbit_api = f"http://{amqp.hostname}:15672/api"
        self.output = tmp_path / "make-run.out"  # not under var/: the banner prints the demo citizen's ID number
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("GOVLINK_TEST_", "PYTEST_")) and k not in ("GOVLINK_ENV", "GOVLINK_DEMO_SEED",
                                                                              "GOVLINK_RATE_LIMITS", "GOVLINK_LOG_JSON")}
        # The message log's spool too: a spool kept from an earlier run would be adopted into the new database.
        env.pop("GOVLINK_DATABASE_URL", None)  # make run's own default: PostgreSQL, a database it creates
        env.update(GOVLINK_DEV_DATABASE=self.db_name, GOVLINK_AMQP_URL=self.amqp_url,
                   GOVLINK_MESSAGE_LOG_SPOOL_DIR=str(tmp_path / "message-log-spool"))
        self.env = env

    def fresh(self) -> None:
        """An empty database (as on a fresh clone: `make run` creates and migrates it) and vhost."""
        self.drop()
        r = requests.put(f"{self.rabbit_api}/vhosts/{quote(self.vhost, safe='')}", auth=RABBIT_ADMIN, timeout=10)
        assert r.status_code in (201, 204), r.text
        user = urlsplit(self.amqp_url).username
        r = requests.put(f"{self.rabbit_api}/permissions/{quote(self.vhost, safe='')}/{user}", auth=RABBIT_ADMIN,
                         json={"configure": ".*", "write": ".*", "read": ".*"}, timeout=10)
        assert r.status_code in (201, 204), r.text

    def drop(self) -> None:
        with psycopg.connect(_libpq(_with_database(self.database_url, "postgres")), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        requests.delete(f"{self.rabbit_api}/vhosts/{quote(self.vhost, safe='')}", auth=RABBIT_ADMIN, timeout=10)

    def rows(self, sql: str) -> list[tuple]:
        engine = create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(sql))]
        finally:
            engine.dispose()

    def count_rows(self, sql: str) -> list:
        return [row[0] for row in self.rows(sql)]

    def count(self, sql: str) -> int:
        return self.count_rows(sql)[0]


class HttpConsole:
    """The consoles over real HTTP, with the `get(path, query_string=, base_url=)` of a Flask test client."""

    def __init__(self):
        self.http = requests.Session()

    def get(self, path, query_string=None, base_url=BASE):
        return self.http.get(base_url + path, params=query_string, allow_redirects=False, timeout=30)


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_for_seed(process, output: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < READY_SECONDS:
        text_so_far = output.read_text(errors="replace")
        if SEED_DONE in text_so_far:
            return time.monotonic() - started
        if "demo seed: failed" in text_so_far or process.poll() is not None:
            break
        time.sleep(1)
    tail = "\n".join(output.read_text(errors="replace").splitlines()[-60:])
    pytest.fail(f"`make run` did not finish its demo seed within {READY_SECONDS} s (exit {process.poll()}):\n{tail}")


def _stop(process) -> None:
    """Ctrl-C, as a person stops `make run`; then TERM and KILL to the whole process group if needed."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture()
def make_run(settings, tmp_path):
    taken = [p for p in PORTS if _port_taken(p)]
    if taken:
        pytest.fail(f"127.0.0.1 ports {taken} are taken (is `make run` running?): run this test under "
                    "flock -o /tmp/govlink-8000.lock with nothing else serving there")
    world = RunWorld(settings, tmp_path)
    world.fresh()
    world.started_at = datetime.now(timezone.utc)
    with open(world.output, "wb") as out:
        process = subprocess.Popen(["make", "-s", "run"], cwd=REPO, env=world.env, stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        world.ready_after = _wait_for_seed(process, world.output)
        yield world
    finally:
        _stop(process)
        world.drop()
        for port in PORTS:
            assert not _port_taken(port), f"something still serves 127.0.0.1:{port} after make run was stopped"


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_make_run_seeds_a_day_that_every_console_shows(make_run, settings):
    print(f"make run with the demo seed was done after {make_run.ready_after:.0f} s")
    api = requests.Session()
    ready = api.get(f"{BASE}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text

    # Finance: a reconciliation run over the platform's statement, with discrepancies.
    finance = sign_in(settings, "finance01", DEMO_PASSWORD)
    runs = api.get(f"{BASE}/api/v1/reconciliation/runs", headers=_auth(finance), timeout=30).json()["runs"]
    assert runs and runs[0]["kind"] == "payments" and runs[0]["matched_count"] >= 1, runs
    assert runs[0]["discrepancy_count"] >= 2, runs  # the two confirmations the platform dropped
    found = api.get(f"{BASE}/api/v1/reconciliation/discrepancies", params={"run_id": runs[0]["id"]},
                    headers=_auth(finance), timeout=30).json()
    assert found["total"] == runs[0]["discrepancy_count"] and found["discrepancies"]

    console = HttpConsole()
    back = console_sign_in(console, Browserless(settings.issuer), "finance01")
    assert back.status_code in (302, 303), back.status_code
    page = console.get("/console/finance/")
    assert page.status_code == 200 and f"/console/finance/runs/{runs[0]['id']}" in page.text
    run_page = console.get(f"/console/finance/runs/{runs[0]['id']}")
    assert run_page.status_code == 200
    assert f"/console/finance/discrepancies/{found['discrepancies'][0]['id']}" in run_page.text

    # Supervision: an overdue step (warned while it waited past its limit) and a complaint.
    supervisor = sign_in(settings, "supervisor01", DEMO_PASSWORD)
    timeline = api.get(f"{BASE}/api/v1/supervision/cases/{LATE_CASE}/timeline", headers=_auth(supervisor),
                       timeout=30).json()
    states = [e["deadline"]["state"] for e in timeline["entries"] if e.get("deadline")]
    assert {"overdue", "warned", "escalated"} & set(states), f"no overdue step after the seed: {states}"
    complaints = api.get(f"{BASE}/api/v1/supervision/complaints", headers=_auth(supervisor), timeout=30).json()["complaints"]
    assert complaints, "no complaint after the seed"
    staff = HttpConsole()
    # The supervision console is at /supervision/ (issue 20 moves the consoles under /console/).
    home = next(p for p in ("/console/supervision", "/supervision") if staff.get(f"{p}/").status_code != 404)
    console_sign_in(staff, Browserless(settings.issuer), "supervisor01", f"{home}/")
    dashboard = staff.get(f"{home}/")
    assert dashboard.status_code == 200
    late_page = staff.get(f"{home}/cases/{LATE_CASE}")
    assert late_page.status_code == 200 and LATE_CASE in late_page.text
    case_page = staff.get(f"{home}/cases/{complaints[0]['case_id']}")
    assert case_page.status_code == 200 and f"{home}/complaints/{complaints[0]['id']}" in case_page.text

    # The message log (the operations console's source): SOAP and REST department calls went over the bus.
    services = {row for row in make_run.count_rows(
        "SELECT DISTINCT service FROM service_calls WHERE status = 'succeeded'")}
    assert {"population-registry", "enterprise-registry", "e-licence"} <= services, services
    assert make_run.count("SELECT count(*) FROM message_log WHERE type = 'service.call'") >= 3
    assert make_run.count("SELECT count(*) FROM service_calls WHERE status = 'failed'") >= 1  # the parked one
    assert make_run.count("SELECT count(*) FROM payment_notices WHERE status = 'paid'") >= 2
    assert make_run.count("SELECT count(*) FROM payment_notices WHERE status = 'registered'") >= 1
    # The scheduler works on make run's PostgreSQL: its minute jobs ran, and the daily reconciliation of yesterday
    # succeeded if it was due when make run started (02:00 Beijing time; a job that never ran does not catch up the
    # day before, so between 00:00 and 02:00 on a new database it has nothing to do yet, and must not have failed).
    runs_of = dict(make_run.rows(
        "SELECT job, string_agg(DISTINCT status, ',') FROM scheduled_runs GROUP BY job"))
    assert "succeeded" in runs_of.get("supervision.check", ""), runs_of
    if process_table().jobs["reconcile.daily"].period(make_run.started_at) is not None:
        assert "succeeded" in runs_of.get("reconcile.daily", ""), runs_of
    assert not {"failed", "retry"} & set(runs_of.get("reconcile.daily", "").split(",")), runs_of

    # Operations: operator01 sees the declared services and the parked call in its service's parking lot.
    operator = HttpConsole()
    console_sign_in(operator, Browserless(settings.issuer), "operator01", "/console/operations/")
    services_page = operator.get("/console/operations/")
    assert services_page.status_code == 200
    assert all(name in services_page.text for name in ("population-registry", "enterprise-registry", "e-licence"))
    operator_token = sign_in(settings, "operator01", DEMO_PASSWORD)
    parked = api.get(f"{BASE}/api/v1/operations/services/enterprise-registry/parked", headers=_auth(operator_token),
                     timeout=30)
    assert parked.status_code == 200, parked.text
    assert parked.json()["messages"], "the demo's parked call is not in the parking lot"
    held = [m for m in parked.json()["messages"] if m["case_id"] == HELD_CASE]
    # The department's own SOAP fault, as an operator would see it (not a WSDL that could not be read).
    assert held and held[0]["failure_code"] == "fault", parked.json()["messages"]
    assert PARKED_FAULT[0] in held[0]["failure_reason"] and PARKED_FAULT[1] in held[0]["failure_reason"], held[0]

    # Idempotent: the seed again adds nothing.
    before = {t: make_run.count(f"SELECT count(*) FROM {t}") for t in ("payment_notices", "service_calls", "supervision_complaints")}
    again = subprocess.run([str(REPO / ".venv" / "bin" / "govlink"), "demo", "seed"], cwd=REPO,
                           env={**make_run.env, "GOVLINK_DATABASE_URL": make_run.database_url},
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "already" in again.stdout, again.stdout
    assert {t: make_run.count(f"SELECT count(*) FROM {t}") for t in before} == before
