"""Every long-running process freezes its start-up heap once it is ready (kernel/heap.py): the gateway's
gunicorn workers, `govlink worker`, `govlink scheduler` and the simulators."""
from __future__ import annotations

import gc
import weakref
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from kernel.heap import freeze_startup_heap

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def unfrozen():
    yield
    gc.unfreeze()


def test_the_heap_alive_now_is_frozen_and_garbage_is_not(unfrozen):
    class Cycle:
        pass

    garbage = Cycle()
    garbage.me = garbage
    gone = weakref.ref(garbage)
    del garbage
    frozen = freeze_startup_heap()
    # The count is read again after: frozen objects freed meanwhile (by another thread) leave the permanent
    # generation, so the two need not be equal.
    assert frozen > 1000 and gc.get_freeze_count() > 1000
    assert gone() is None  # collected before the freeze, not kept for ever


def test_a_gunicorn_worker_freezes_once_the_app_is_loaded():
    """config/gunicorn.py's post_worker_init, in a process of its own (the config sets the Prometheus
    folder in the environment, which this process must not see)."""
    code = ("import gc, runpy; hooks = runpy.run_path('config/gunicorn.py'); assert gc.get_freeze_count() == 0; "
            "hooks['post_worker_init'](None); print(gc.get_freeze_count())")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) > 1000


class _Ready(Exception):
    """Raised by the stand-in for freeze_startup_heap: the process got as far as serving."""


def _stop_at_freeze(monkeypatch, module, order: list[str]):
    """The process stops at the freeze; one that never freezes runs on to its end (its wait returns at once)."""
    def freeze():
        order.append("freeze")
        raise _Ready

    class Event:
        def wait(self, *a):
            order.append("wait")

        def set(self):
            pass

    monkeypatch.setattr(module, "freeze_startup_heap", freeze)
    monkeypatch.setattr(module, "threading", types.SimpleNamespace(Event=Event))  # this module's only


def test_a_worker_freezes_after_its_consumers_start(monkeypatch):
    from bootstrap import processes, table

    order: list[str] = []

    class Runner:
        queue = type("Q", (), {"name": "svc.test"})()

        def start(self):
            order.append("start")

        def stop(self):
            pass

    class Runtime:
        name = ""

        def close(self):
            pass

    monkeypatch.setattr(table, "process_table", lambda: type("T", (), {"workers": {"test": lambda rt, args: [Runner()]}})())
    monkeypatch.setattr(processes, "process_runtime", Runtime)
    monkeypatch.setattr(processes, "serve_signals", lambda *a: order.append("signals"))
    _stop_at_freeze(monkeypatch, processes, order)
    result = CliRunner().invoke(processes.worker, ["test"])
    assert isinstance(result.exception, _Ready)
    assert order == ["start", "signals", "freeze"]


def test_the_scheduler_freezes_before_its_first_tick(monkeypatch):
    from bootstrap import processes
    from bus import scheduler

    order: list[str] = []

    class Runtime:
        name = ""
        settings = type("S", (), {"scheduler_lease_seconds": 30})()

        def close(self):
            pass

    monkeypatch.setattr(processes, "process_runtime", Runtime)
    monkeypatch.setattr(processes, "serve_signals", lambda *a: order.append("signals"))
    monkeypatch.setattr(scheduler, "run_forever", lambda *a, **k: order.append("tick"))
    _stop_at_freeze(monkeypatch, processes, order)
    result = CliRunner().invoke(processes.scheduler, [])
    assert isinstance(result.exception, _Ready)
    assert order == ["signals", "freeze"]


def test_the_simulators_freeze_once_their_server_is_made(monkeypatch):
    from simulators import server

    order: list[str] = []

    class Server:
        server_port = 0

        def serve_forever(self):
            order.append("serve")

        def server_close(self):
            pass

    monkeypatch.setattr(server, "make_server", lambda *a, **k: order.append("made") or Server())
    monkeypatch.setattr(server, "freeze_startup_heap", lambda: order.append("freeze"))
    server.main(["--bind", "127.0.0.1:0"])
    assert order == ["made", "freeze", "serve"]
