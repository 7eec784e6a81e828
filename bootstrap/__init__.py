"""The bootstrap: builds a govlink process from `Settings` and says what each process runs.

- `runtime.Runtime`: what a process shares (database, publisher, message log, connectors, services);
- `table.process_table()`: the one table of CLI commands, workers, scheduled jobs and gateway parts,
  collected from each area's `entries` module;
- `gateway.create_app`, `wsgi.app`: the gateway; `cli.main` / `cli.run`: the `govlink` command,
  whose `worker` and `scheduler` run without Flask (`processes`).

The bootstrap is the top layer: it may import every area, and no area imports it.
"""
