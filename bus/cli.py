"""`govlink dlq` and `govlink audit`: the parking lot, the tamper-evident log (no Flask).

`govlink worker` and `govlink scheduler` are the bootstrap's (`bootstrap/processes.py`)."""
from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from bus.topology import service_queue
from kernel.cli import runtime as process_runtime

console = Console()


def _runtime():
    return process_runtime()


@click.group("dlq")
def dlq():
    """The parking lot of a department service: messages that failed for good."""


def _lot():
    from bus.parking import ParkingLot

    runtime = _runtime()
    return ParkingLot(runtime.settings.amqp_url, runtime.db)


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        return "unknown"


def _operator_action(action, *args, operator: str | None, **kwargs) -> int:
    """Run a recorded parking-lot action; a refusal is a clear error (exit 2), nothing done."""
    from bus.message_log.operator import OperatorActionRefused

    os_user = _os_user()
    try:
        with _lot() as lot:
            return getattr(lot, action)(*args, operator=operator or os_user, os_user=os_user, **kwargs)
    except OperatorActionRefused as exc:
        raise click.UsageError(f"{exc.code}: {exc.message}") from None


_OPERATOR_HELP = "Who does this (recorded in the message log; default: the OS user)."


def _services(service):
    return [service] if service else _runtime().connectors.services()


@dlq.command("list")
@click.option("--service", help="Only this service.")
def dlq_list(service):
    """How many messages each service's parking lot holds."""
    table = Table("service", "parking queue", "messages")
    with _lot() as lot:
        for name in _services(service):
            q = service_queue(name)
            try:
                table.add_row(name, q.parking, str(lot.count(q.parking)))
            except Exception:
                table.add_row(name, q.parking, "(not declared yet)")
                lot.close()
                lot.__init__(_runtime().settings.amqp_url)
    console.print(table)


@dlq.command("show")
@click.argument("service")
@click.option("--limit", default=20, show_default=True)
def dlq_show(service, limit):
    """The parked messages of SERVICE with their failure cause (identifiers masked)."""
    with _lot() as lot:
        parked = lot.show(service_queue(service).parking, limit)
    if not parked:
        click.echo(f"the parking lot of {service} is empty")
    for p in parked:
        click.echo(f"{p.message_id}  {p.type}  case={p.case_id}  retries={p.retries}  failed_at={p.failed_at}\n"
                   f"    cause: {p.failure_code}: {p.failure_reason}")


@dlq.command("replay")
@click.argument("service")
@click.option("--message-id", help="Only this message.")
@click.option("--operator", help=_OPERATOR_HELP)
@click.option("--reason", help="Why (recorded in the message log).")
def dlq_replay(service, message_id, operator, reason):
    """Send parked messages of SERVICE back to its work queue (recorded in the message log)."""
    q = service_queue(service)
    moved = _operator_action("replay", q.parking, q.name, message_id, operator=operator, reason=reason,
                             service=service)
    click.echo(f"replayed {moved} message(s) to {q.name}")
    if message_id and moved == 0:
        sys.exit(1)


@dlq.command("purge")
@click.argument("service")
@click.option("--message-id", help="Only this message.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--operator", help=_OPERATOR_HELP)
@click.option("--reason", help="Why: required, recorded in the message log with the operator and the message ids.")
def dlq_purge(service, message_id, yes, operator, reason):
    """Remove parked messages of SERVICE for good (they stay in the message log, as does the purge)."""
    if not (reason or "").strip():
        raise click.UsageError("reason_required: a purge cannot be undone; say why with --reason")
    if not yes:
        click.confirm(f"remove {'message ' + message_id if message_id else 'every parked message'} of {service}?", abort=True)
    removed = _operator_action("purge", service_queue(service).parking, message_id, operator=operator, reason=reason,
                               service=service)
    click.echo(f"purged {removed} message(s)")


@click.group("audit")
def audit():
    """The tamper-evident message log."""


@audit.command("verify")
@click.option("--full", is_flag=True, help="Verify every record, not only those after the latest checkpoint.")
@click.option("--in-python", is_flag=True, help="Re-hash every record in this process (any database), not in PostgreSQL.")
def audit_verify(full, in_python):
    """Recompute the hash chain; exit 1 and name the records if anything was altered or removed.

    Starts after the latest sealed checkpoint (the end of the last verification that passed) unless
    --full; a passed verification records a new checkpoint. Memory stays bounded at any length.
    """
    from bus.message_log.checkpoint import CheckpointRefused, checkpoint_key, record, verify_from_checkpoint

    runtime = _runtime()
    key = checkpoint_key(runtime.settings)
    try:
        with runtime.db.unit_of_work() as session:
            report = verify_from_checkpoint(session, key, full=full, method="python" if in_python else "auto")
            record(session, key, report)
    except CheckpointRefused as exc:
        click.echo(f"message log TAMPERED: checkpoint_refused: {exc}", err=True)
        sys.exit(1)
    where = f" after the checkpoint at record {report.since}" if report.since is not None else ""
    if report.ok:
        click.echo(f"message log intact: {report.checked} records verified{where}")
        return
    click.echo(f"message log TAMPERED: {report.problem_count} problem(s) in {report.checked} records{where}", err=True)
    for problem in report.problems[:50]:
        click.echo(f"  - {problem}", err=True)
    sys.exit(1)


COMMANDS = [dlq, audit]
