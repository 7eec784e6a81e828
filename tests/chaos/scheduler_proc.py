"""A scheduler process for the chaos tests: `bus.scheduler.run_forever` with test jobs instead of the process table's.

Run as `python -m tests.chaos.scheduler_proc` with CHAOS_JOBS (JSON list of {name, every_seconds,
catch_up, seconds}) and CHAOS_EFFECTS (a file). Each job appends `start <job> <period> <pid>`, works
for `seconds`, then appends `done <job> <period> <pid>`: the test reads what ran where from it.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time

from bootstrap.runtime import Runtime
from bus.scheduler import Job, run_forever
from config.settings import Settings


def _note(path: str, line: str) -> None:
    with open(path, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def _job(spec: dict, effects: str) -> Job:
    def run(runtime, period):
        _note(effects, f"start {spec['name']} {period} {os.getpid()}")
        time.sleep(spec.get("seconds", 0))
        _note(effects, f"done {spec['name']} {period} {os.getpid()}")
        return "ok"

    return Job(spec["name"], run, every_seconds=spec["every_seconds"], catch_up=spec.get("catch_up", 0))


def main() -> None:
    effects = os.environ["CHAOS_EFFECTS"]
    jobs = {spec["name"]: _job(spec, effects) for spec in json.loads(os.environ["CHAOS_JOBS"])}
    runtime = Runtime(Settings.from_env(), name="chaos-scheduler")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    run_forever(runtime, stop, tick_seconds=float(os.environ.get("CHAOS_TICK_SECONDS", "0.3")), jobs=jobs)
    runtime.close()


if __name__ == "__main__":
    main()
