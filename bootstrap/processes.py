"""`govlink worker NAME` and `govlink scheduler`: long-running processes, without Flask.

Both take what they run from the process table (`bootstrap.table`): a worker's runners from the
areas' `WORKERS`, the scheduler's jobs from their `JOBS`.
"""
from __future__ import annotations

import signal
import threading

import click

from kernel.cli import runtime as process_runtime


@click.command("worker")
@click.argument("name")
@click.argument("args", nargs=-1)
def worker(name, args):
    """Run a worker: NAME is one of the registered workers (e.g. `connectors [SERVICE...]`, `logistics`)."""
    from bootstrap.table import process_table

    workers = process_table().workers
    if name not in workers:
        raise click.UsageError(f"unknown worker {name!r}; choose from {', '.join(sorted(workers))}")
    runtime = process_runtime()
    runtime.name = f"worker-{name}"
    runners = workers[name](runtime, args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: runtime.request_config_reload())  # reload declarations and grants now
    for runner in runners:
        runner.start()
        click.echo(f"worker {name}: consuming {runner.queue.name}")
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    for runner in list(runners):
        runner.stop()
    runtime.close()


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run what is due now and exit.")
def scheduler(once):
    """Run periodic jobs (payment polling, daily reconciliation, ...), once per period across schedulers."""
    from bootstrap.table import process_table
    from bus.scheduler import run_due, run_forever

    jobs = process_table().jobs
    runtime = process_runtime()
    runtime.name = "scheduler"
    if once:
        click.echo("ran: " + (", ".join(run_due(runtime, None, jobs)) or "nothing due"))
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run_forever(runtime, stop, jobs=jobs)
    except KeyboardInterrupt:
        pass
    runtime.close()


COMMANDS = [worker, scheduler]
