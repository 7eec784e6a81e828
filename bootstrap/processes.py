"""`govlink worker NAME` and `govlink scheduler`: long-running processes, without Flask.

Both take what they run from the process table (`bootstrap.table`): a worker's runners from the
areas' `WORKERS`, the scheduler's jobs from their `JOBS`. Each serves `/healthz` and `/metrics` on the
port of its kind (`GOVLINK_METRICS_PORT_WORKER_CONNECTORS`, `..._WORKER_LOGISTICS`, `..._SCHEDULER`;
0 or empty: none): a worker is well while every consumer is connected and its loops run, the scheduler
while its last tick ended less than `max(60 s, scheduler_lease_seconds)` ago.
"""
from __future__ import annotations

import logging
import signal
import threading
import time

import click

from kernel import tracing
from kernel.cli import runtime as process_runtime
from kernel.heap import freeze_startup_heap
from kernel.process_endpoint import start_process_endpoint

log = logging.getLogger("govlink.process")


def serve_signals(runtime, health):
    """Start this process's /healthz and /metrics if its kind has a port; None if not (or the port is taken)."""
    settings = runtime.settings
    port = settings.metrics_port_for(runtime.name)
    if port is None:
        return None
    try:
        return start_process_endpoint(settings.metrics_host, port, health=health, token=settings.metrics_token,
                                      name=runtime.name)
    except OSError as exc:  # the process still does its work; the orchestrator's health check will say so
        log.error("%s: /healthz and /metrics not served: %s:%d cannot be bound (%s)", runtime.name,
                  settings.metrics_host, port, exc.strerror or type(exc).__name__)
        return None


def workers_health(runtime, runners):
    """The health check of a worker: each of its consumers (the list may grow), and its publisher once it has one."""

    def health():
        for runner in list(runners):
            ok, reason = runner.health()
            if not ok:
                return False, reason
        if "publisher" in runtime.__dict__ and not runtime.publisher.connected:
            return False, "the publisher is not connected to the broker"
        return True, None

    return health


def ticks_health(last_tick: list[float], stale_seconds: float):
    """The scheduler's health check: its last tick ended (the database answered) less than `stale_seconds` ago."""

    def health():
        quiet = time.monotonic() - last_tick[0]
        if quiet > stale_seconds:
            return False, f"the last scheduler tick ended {quiet:.0f} s ago (limit {stale_seconds:.0f} s)"
        return True, None

    return health


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
    tracing.setup(f"govlink-{runtime.name}")  # only if the OTEL_* variables ask for it
    runners = workers[name](runtime, args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: runtime.request_config_reload())  # reload declarations and grants now
    for runner in runners:
        runner.start()
        click.echo(f"worker {name}: consuming {runner.queue.name}")
    endpoint = serve_signals(runtime, workers_health(runtime, runners))
    freeze_startup_heap()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    if endpoint is not None:
        endpoint.stop()
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
    tracing.setup("govlink-scheduler")
    if once:
        click.echo("ran: " + (", ".join(run_due(runtime, None, jobs)) or "nothing due"))
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    last_tick = [time.monotonic()]
    endpoint = serve_signals(runtime, ticks_health(last_tick, max(60.0, runtime.settings.scheduler_lease_seconds)))
    freeze_startup_heap()
    try:
        run_forever(runtime, stop, jobs=jobs, on_tick=lambda: last_tick.__setitem__(0, time.monotonic()))
    except KeyboardInterrupt:
        pass
    if endpoint is not None:
        endpoint.stop()
    runtime.close()


COMMANDS = [worker, scheduler]
