"""The scheduler's loop runs the jobs it is given (the process table's), here on the embedded SQLite."""
from __future__ import annotations

import threading
from types import SimpleNamespace

from bus.scheduler import Job, run_forever
from config.settings import Settings
from store import migrate
from store.db import Database


def test_run_forever_runs_the_jobs_it_is_given(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'scheduler.sqlite3'}")
    migrate.upgrade(db)
    stop, ran = threading.Event(), []

    def job(runtime, period):
        ran.append(period)
        stop.set()
        return "ok"

    runtime = SimpleNamespace(settings=Settings.from_env({}), db=db)
    loop = threading.Thread(target=run_forever, args=(runtime, stop, 0.05), kwargs={"jobs": {"t": Job("t", job, every_seconds=60)}})
    loop.start()
    loop.join(20)
    stop.set()
    db.dispose()
    assert len(ran) == 1 and ran[0].endswith("Z")
