"""The process table: each area lists its own commands, workers and jobs; the processes run without Flask."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from bootstrap.table import collect, process_table
from bus.scheduler import Job
from config.settings import Settings
from kernel.cli import RUNTIME

ROOT = Path(__file__).resolve().parents[3]


def test_every_area_adds_its_own_parts_once():
    table = process_table()
    assert list(table.jobs) == ["payments.poll", "logistics.poll", "supervision.check", "reconcile.daily",
                                "reconciliation.reclaim"]
    assert set(table.workers) == {"connectors", "logistics"}
    assert {"dlq", "audit", "connectors", "payments", "logistics", "reconcile"} <= {c.name for c in table.commands}
    assert table.jobs["reconcile.daily"].daily_at.hour == 2
    assert {b.name for b in table.blueprints()} == {"health", "payment_callbacks", "logistics_callbacks"}


def test_a_name_given_twice_is_refused():
    job = Job("x.poll", lambda runtime, period: None, every_seconds=60)
    one, two = SimpleNamespace(__name__="one", JOBS=[job]), SimpleNamespace(__name__="two", JOBS=[job])
    with pytest.raises(ValueError, match="x.poll.*two"):
        collect([one, two])
    with pytest.raises(ValueError, match="worker 'w'"):
        collect([SimpleNamespace(__name__="a", WORKERS={"w": len}), SimpleNamespace(__name__="b", WORKERS={"w": len})])


def test_logistics_is_polled_once_by_the_scheduler_not_by_the_worker():
    from logistics_bridge.worker import logistics_runners

    runtime = SimpleNamespace(settings=Settings.from_env({}), publisher=None, message_log=None)
    for args in ((), ("--no-poll",)):
        (runner,) = logistics_runners(runtime, args)  # the payment.paid consumer only: no poller thread
        assert runner.queue.name == "evt.logistics"
    assert process_table().jobs["logistics.poll"].every_seconds == 60


def test_workers_and_the_scheduler_never_load_the_gateway():
    """Building the table and the `govlink` command imports no route (only the list of them, `routes.entries`)."""
    code = ("import sys; from bootstrap.cli import main; from bootstrap.table import process_table; t = process_table();"
            "t.jobs, t.workers; loaded = [m for m in sys.modules if m.startswith('routes') and m not in ('routes', 'routes.entries')]; "
            "assert not loaded, loaded")
    answer = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert answer.returncode == 0, answer.stderr[-2000:]


class _Logistics:
    def __init__(self):
        self.calls = []

    def poll(self, older_than_seconds=None):
        self.calls.append(older_than_seconds)
        return SimpleNamespace(as_dict=lambda: {"booked": 0})


def test_area_commands_take_the_process_runtime_without_an_app():
    from logistics_bridge.worker import logistics

    runtime = SimpleNamespace(logistics=_Logistics())

    @click.group()
    @click.pass_context
    def root(ctx):
        ctx.meta[RUNTIME] = lambda: runtime

    root.add_command(logistics)
    answer = CliRunner().invoke(root, ["logistics", "poll", "--older-than", "5"])
    assert answer.exit_code == 0, answer.output
    assert runtime.logistics.calls == [5.0] and '"booked": 0' in answer.output


def test_an_unknown_worker_is_named_with_the_ones_there_are():
    from bootstrap.cli import main

    answer = CliRunner().invoke(main, ["worker", "nope"])
    assert answer.exit_code == 2 and "choose from connectors, logistics" in answer.output


def test_the_gateways_own_commands_still_answer(tmp_path):
    """`govlink openapi write` (flask-smorest's, registered by the app) builds the gateway over the command's runtime."""
    from bootstrap.cli import main

    answer = CliRunner().invoke(main, ["openapi", "write", str(tmp_path / "openapi.json")])
    assert answer.exit_code == 0, answer.output
    assert "/api/v1/system/info" in (tmp_path / "openapi.json").read_text()
