"""The one table of what each govlink process runs, collected from the areas.

Each area lists its own parts in a small `entries` module, as plain data and functions:

- `COMMANDS`: click commands or groups added to `govlink` (`govlink payments ...`);
- `WORKERS`: {name: factory(runtime, args) -> [runner, ...]} for `govlink worker NAME` (a runner has
  `start()`, `stop()` and `queue.name`);
- `JOBS`: `bus.scheduler.Job`s the scheduler runs;
- `blueprints()`, `api_blueprints()`: the gateway's Flask and flask-smorest blueprints (functions, so
  a worker never imports the routes);
- `GATEWAY_INSTALLS`: functions(app) run once the gateway's blueprints are in (consoles, metrics).

Adding a job, a worker or a command touches its area's `entries` module only; adding an area is
one line in `AREAS`. The order of `AREAS` is the order jobs run in a scheduler tick and blueprints
appear in the OpenAPI document.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

AREAS = ("bus", "connectors", "payment_bridge", "logistics_bridge", "supervision", "reconciliation", "routes")


@dataclass(frozen=True)
class ProcessTable:
    commands: tuple
    workers: dict[str, Callable]
    jobs: dict[str, object]  # name -> bus.scheduler.Job
    blueprints: Callable[[], list]
    api_blueprints: Callable[[], list]
    gateway_installs: tuple[Callable, ...]


def collect(modules) -> ProcessTable:
    """(pure over the modules) The table from the areas' `entries` modules, refusing a name given twice."""
    commands, workers, jobs, installs, plain, api = [], {}, {}, [], [], []
    seen_commands: set[str] = set()
    for module in modules:
        for command in getattr(module, "COMMANDS", ()):
            _once(seen_commands, command.name, "command", module)
            commands.append(command)
        for name, factory in getattr(module, "WORKERS", {}).items():
            _once(workers, name, "worker", module)
            workers[name] = factory
        for job in getattr(module, "JOBS", ()):
            _once(jobs, job.name, "scheduled job", module)
            jobs[job.name] = job
        installs.extend(getattr(module, "GATEWAY_INSTALLS", ()))
        if hasattr(module, "blueprints"):
            plain.append(module.blueprints)
        if hasattr(module, "api_blueprints"):
            api.append(module.api_blueprints)
    return ProcessTable(tuple(commands), workers, jobs, lambda: [b for f in plain for b in f()],
                        lambda: [b for f in api for b in f()], tuple(installs))


def _once(seen, name: str, kind: str, module) -> None:
    if name in seen:
        raise ValueError(f"{kind} {name!r} is declared twice (again in {module.__name__})")
    if isinstance(seen, set):
        seen.add(name)


def process_table(areas=AREAS) -> ProcessTable:
    """The table of every area (imports each `<area>.entries`)."""
    return collect(importlib.import_module(f"{area}.entries") for area in areas)
