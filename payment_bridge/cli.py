"""`govlink payments ...`: the poller and statement import, for operators and the scheduler."""
from __future__ import annotations

import json
from datetime import date, timedelta

import click

from kernel.cli import runtime


def _service():
    return runtime().payments


def poll_payments(runtime) -> dict:
    """What the scheduler calls: one polling round (see PaymentService.poll); returns its counts."""
    return runtime.payments.poll().as_dict()


@click.group("payments")
def payments():
    """Payment notices: polling the platforms, importing statements."""


@payments.command("poll")
def poll():
    """Find paid notices whose confirmation never arrived, register leftovers, expire overdue ones,
    resend pending refunds, fetch missing e-receipts and republish unconfirmed events."""
    report = poll_payments(runtime())
    click.echo(json.dumps(report, ensure_ascii=False))


@payments.command("import-statement")
@click.argument("platform", type=click.Choice(["nontax", "wechatpay"]))
@click.option("--date", "day", default=None, help="YYYY-MM-DD (Beijing); default: yesterday")
def import_statement(platform, day):
    """Download a day's statement / bill, keep it unchanged with its SHA-256, store its lines."""
    from kernel.clock import beijing_today

    wanted = date.fromisoformat(day) if day else beijing_today() - timedelta(days=1)
    statement, created = _service().import_statement(platform, wanted)
    verb = "imported" if created else "already imported"
    click.echo(f"{platform} {wanted}: {verb}, {statement.line_count} lines, sha256 {statement.sha256}")


COMMANDS = [payments]
