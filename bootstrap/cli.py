"""The `govlink` command: the platform's own commands (db, realm, preflight), the processes
(`worker`, `scheduler`) and every area's commands from the process table (`bootstrap.table`).

No command needs Flask unless it touches the gateway's own state (`realm disable-user`, and Flask's
`routes`, `shell`, `run`): a command asks `kernel.cli.runtime()` for its process's one runtime,
built on first use from `Settings` and closed when the command ends.
"""
from __future__ import annotations

import sys
import time

import click
from flask.cli import ScriptInfo, routes_command, run_command, shell_command, with_appcontext

from config.settings import Settings, SettingsError
from kernel.cli import RUNTIME, runtime as _ctx


class _Process:
    """What one `govlink` invocation shares: one runtime (and the gateway app, if a command needs it)."""

    def __init__(self):
        self._runtime = None

    def runtime(self):
        if self._runtime is None:
            from bootstrap.runtime import Runtime
            from config.logging import configure_logging

            settings = Settings.from_env()
            configure_logging(settings)
            self._runtime = Runtime(settings, name="cli")
        return self._runtime

    def app(self):
        from bootstrap.gateway import create_app

        return create_app(runtime=self.runtime())

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


class GovlinkGroup(click.Group):
    """A click group whose context carries the process (`kernel.cli.runtime()`) and, for the few
    commands that need the gateway app, Flask's `ScriptInfo` building it over the same runtime."""

    def make_context(self, info_name, args, parent=None, **extra):
        process = _Process()
        extra.setdefault("obj", ScriptInfo(create_app=process.app, set_debug_flag=False))
        ctx = super().make_context(info_name, args, parent=parent, **extra)
        ctx.meta[RUNTIME] = process.runtime
        ctx.call_on_close(process.close)
        return ctx

    def get_command(self, ctx, name):
        """govlink's commands, else the ones the gateway app registers itself (flask-smorest's `openapi`)."""
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        app = ctx.ensure_object(ScriptInfo).load_app()
        ctx.with_resource(app.app_context())
        return app.cli.get_command(ctx, name)


@click.group(cls=GovlinkGroup)
def main():
    """govlink: identity, message bus, payment and logistics bridges for online government services."""


# --------------------------------------------------------------------------- db
@main.group()
def db():
    """Database schema (Alembic migrations)."""


@db.command("create")
@click.option("--wait", "wait_seconds", default=0, show_default=True, help="Keep trying this many seconds.")
def db_create(wait_seconds):
    """Create the PostgreSQL database GOVLINK_DATABASE_URL names, if missing (`make run` does)."""
    from config.settings import redact_url
    from store.db import ensure_database

    url = _ctx().settings.database_url
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            created = ensure_database(url)
            break
        except Exception as exc:  # the server not up yet, or a role without CREATEDB
            if time.monotonic() >= deadline:
                raise click.ClickException(f"cannot create the database {redact_url(url)}: "
                                           f"{type(exc).__name__} (is PostgreSQL up? `make services`; "
                                           "the user needs CREATEDB)") from None
            time.sleep(1)
    click.echo(f"database {redact_url(url)} {'created' if created else 'exists'}")


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision):
    """Apply migrations up to REVISION (default: head)."""
    from store import migrate

    migrate.upgrade(_ctx().db, revision)
    click.echo(f"database at {migrate.current(_ctx().db)}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision):
    """Revert migrations down to REVISION ('base' removes every table)."""
    from store import migrate

    migrate.downgrade(_ctx().db, revision)
    click.echo(f"database at {migrate.current(_ctx().db) or 'base'}")


@db.command("current")
def db_current():
    """Print the applied revision and the newest one."""
    from store import migrate

    click.echo(f"current={migrate.current(_ctx().db) or 'base'} head={migrate.head(_ctx().db)}")


# --------------------------------------------------------------------------- realm
@main.group()
def realm():
    """The Keycloak realm, as code."""


@realm.command("apply")
def realm_apply():
    """Create or update the realm, its roles and clients from config/realm.py."""
    from idp.realm import apply_realm

    summary = apply_realm(_ctx().settings)
    verb = "created" if summary["created"] else "updated"
    click.echo(f"realm {summary['realm']} {verb}: clients {', '.join(summary['clients'])}")


@realm.command("demo-users")
@click.option("--show", is_flag=True, help="Only print the demo citizen's sign-in.")
def realm_demo_users(show):
    """Create the demo accounts (citizen, clerk, finance, supervisor) if missing."""
    from config.realm import demo_users
    from idp.realm import ensure_demo_users

    if show:
        citizen = demo_users()[0]
        click.echo(f"username {citizen['username']}  password {citizen['password']}")
        return
    users = ensure_demo_users(_ctx().settings)
    click.echo("demo accounts: " + ", ".join(u["username"] if "citizen" not in u["roles"] else "citizen" for u in users))


@realm.command("disable-user")
@click.argument("username")
@with_appcontext
def realm_disable_user(username):
    """Disable an account and end its sessions at once (its tokens are refused from now on)."""
    from flask import current_app as app

    from idp.directory import directory_for
    from idp.sessions import console_sessions_for, disable_account, ended_sessions_for

    directory = directory_for(_ctx().settings)
    users = directory.admin.get_users({"username": username.lower(), "exact": True})
    if not users:
        raise click.ClickException("no such account in the realm")
    ended = disable_account(directory, ended_sessions_for(app), console_sessions_for(app), users[0]["id"])
    click.echo(f"disabled; {ended} session(s) ended")


# --------------------------------------------------------------------------- preflight
@main.command("preflight")
@click.option("--wait", "wait_seconds", default=0, show_default=True, help="Keep trying this many seconds.")
def preflight(wait_seconds):
    """Check that the database, RabbitMQ and Keycloak answer; name the ones that do not."""
    from routes.readiness import check_all

    deadline = time.monotonic() + wait_seconds
    while True:
        checks = check_all(_ctx())
        down = {n: c for n, c in checks.items() if c["status"] != "up"}
        if not down or time.monotonic() >= deadline:
            break
        time.sleep(1)
    for name, check in checks.items():
        mark = "up  " if check["status"] == "up" else "DOWN"
        click.echo(f"{mark} {name:<9} {check['target']}" + (f"  ({check['error']})" if check["status"] != "up" else ""))
    if down:
        click.echo(
            "\ngovlink cannot start: " + ", ".join(down) + (" is" if len(down) == 1 else " are") + " down. "
            "Start the services with `make services` (or check the GOVLINK_* URLs above).",
            err=True,
        )
        sys.exit(1)


# --------------------------------------------------------------------------- demo
@main.group()
def demo():
    """The demo day of `make run` (never in production)."""


@demo.command("seed")
@click.option("--auto", is_flag=True, help="Only if GOVLINK_DEMO_SEED is on (its default: on in dev only).")
@click.option("--wait-ready", "wait_seconds", default=0, show_default=True,
              help="First wait this many seconds for the gateway and the simulators to be ready.")
def demo_seed(auto, wait_seconds):
    """Drive a day of traffic through the real paths (bootstrap/demo_seed.py); idempotent."""
    from bootstrap import demo_seed as seeding

    settings = _ctx().settings
    if auto and not settings.demo_seed_on:
        click.echo(f"demo seed: off (GOVLINK_DEMO_SEED={settings.demo_seed or '<empty>'}, GOVLINK_ENV={settings.env})")
        return
    click.echo("demo seed: driving a day of traffic through the gateway, the bus and the simulators")
    try:
        outcome = seeding.run(settings, _ctx(), say=click.echo, wait_seconds=wait_seconds)
    except seeding.Refused as exc:
        raise click.ClickException(str(exc)) from None
    except seeding.SeedError as exc:
        click.echo(f"demo seed: failed: {exc}", err=True)
        sys.exit(1)
    if outcome == "already":
        click.echo("demo seed: already seeded (the demo citizen's complaint exists); nothing added")
    click.echo("demo seed: done")


def _add_commands() -> None:
    from bootstrap.processes import COMMANDS as process_commands
    from bootstrap.table import process_table

    for command in (*process_commands, *process_table().commands, routes_command, shell_command, run_command):
        main.add_command(command)


_add_commands()


def run() -> None:
    """Entry point that turns a settings mistake into one clear line instead of a traceback."""
    try:
        Settings.from_env()
    except SettingsError as exc:
        click.echo(f"govlink: configuration error: {exc}", err=True)
        sys.exit(2)
    main()
