"""The gateway process: the runtime and the gateway's parts from the process table, into `routes.app`."""
from __future__ import annotations

from config.settings import Settings
from kernel import tracing


def create_app(settings: Settings | None = None, *, runtime=None, table=None):
    """The gateway's Flask app over a new runtime (or `runtime`, shared with a CLI command)."""
    from bootstrap.runtime import Runtime
    from bootstrap.table import process_table
    from routes.app import build_app

    tracing.setup("govlink-gateway")  # only if the OTEL_* variables ask for it
    if runtime is None:
        runtime = Runtime(settings or Settings.from_env(), name="gateway")
    table = table or process_table()
    app = build_app(runtime, blueprints=table.blueprints(), api_blueprints=table.api_blueprints(),
                    installs=table.gateway_installs)
    app.extensions["govlink_jobs"] = dict(table.jobs)  # the operations console shows the scheduler's jobs
    tracing.instrument_app(app)
    return app
