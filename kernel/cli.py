"""How a `govlink` command reaches its process's runtime, without Flask.

`bootstrap.cli` puts a function returning the process's one runtime into the root click
context's `meta` (shared by every sub-command's context); an area's command asks `runtime()`.
Nothing is kept in a module global.
"""
from __future__ import annotations

import click

RUNTIME = "govlink.runtime"


def runtime():
    """The runtime of the `govlink` process running the current command (built on first use)."""
    ctx = click.get_current_context()
    factory = ctx.meta.get(RUNTIME)
    if factory is None:
        raise click.UsageError("this command runs under the `govlink` command (bootstrap.cli:main)")
    return factory()
