"""`govlink reconcile payments|logistics --date YYYY-MM-DD [--statement FILE]` with progress bars,
and `govlink reconcile export RUN_ID` (CSV or XLSX, formula-injection safe)."""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import click

from kernel.cli import runtime as _process_runtime

STAGES = {"statement": "导入对账单 statement", "bill": "导入快递账单 courier bill", "match": "匹配 matching",
          "store": "保存 storing"}


def _runtime():
    return _process_runtime()


def _day(value: str | None) -> date:
    from kernel.clock import beijing_today

    if not value:
        return beijing_today() - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD (a Beijing business day)", param_hint="--date") from None


def _with_progress(run):
    """Call ``run(progress)`` under rich progress bars, one per stage."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=False) as bars:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(STAGES.get(stage, stage), total=total)
            bars.update(tasks[stage], completed=done, total=total)

        return run(progress)


def _report(summary, as_json: bool) -> None:
    from kernel.money import fen_to_yuan

    if as_json:
        click.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
        return
    verb = "superseded the previous version" if summary.superseded else "stored"
    click.echo(f"{summary.kind} {summary.business_date}: run {summary.run_id} version {summary.version} {verb}")
    click.echo(f"  matched {summary.matched_count} (¥{fen_to_yuan(summary.matched_amount_fen)}), "
               f"discrepancies {summary.discrepancy_count}")
    for name, count in summary.counts.items():
        click.echo(f"  {name:<40} {count}")


def _fail(exc) -> None:
    raise click.ClickException(f"{exc} [{exc.code}]")


@click.group("reconcile")
def reconcile():
    """Daily reconciliation (R7): ledger vs statement, postage vs waybills vs courier bills."""


@reconcile.command("payments")
@click.option("--date", "day", default=None, help="YYYY-MM-DD business day (Beijing); default: yesterday")
@click.option("--statement", "statement", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the platform's statement file; default: the one imported for the day")
@click.option("--platform", type=click.Choice(["nontax", "wechatpay"]), default="nontax", show_default=True)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="threads for DuckDB; default: the cores")
@click.option("--json", "as_json", is_flag=True, help="print the run summary as JSON")
def payments(day, statement, platform, workers, as_json):
    """Reconcile a day's payments against the platform's statement and store the run."""
    from reconciliation.ledger import LedgerUnavailable
    from reconciliation.service import ReconciliationInputError, reconcile_payments_day

    wanted = _day(day)
    try:  # the file read in the call: no reference kept here, the run frees it before its join
        summary = _with_progress(lambda progress: reconcile_payments_day(
            _runtime(), wanted, started_by="cli", statement=statement.read_bytes() if statement else None,
            filename=statement.name if statement else None,
            platform=platform, workers=workers, progress=progress))
    except (ReconciliationInputError, LedgerUnavailable) as exc:
        _fail(exc)
    _report(summary, as_json)


@reconcile.command("logistics")
@click.option("--date", "day", default=None, help="YYYY-MM-DD business day (Beijing); default: yesterday")
@click.option("--statement", "bill", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the courier's bill file; default: the bill lines imported for the day")
@click.option("--carrier", type=click.Choice(["sf", "ems"]), default=None,
              help="the bill's carrier (needed with --statement); default: every carrier")
@click.option("--json", "as_json", is_flag=True, help="print the run summary as JSON")
def logistics(day, bill, carrier, as_json):
    """Reconcile a day's postage payments, waybills and courier bill lines and store the run."""
    from reconciliation.service import ReconciliationInputError, reconcile_logistics_day

    wanted = _day(day)
    raw = bill.read_bytes() if bill else None
    try:
        summary = _with_progress(lambda progress: reconcile_logistics_day(
            _runtime(), wanted, started_by="cli", bill=raw, filename=bill.name if bill else None, carrier=carrier or "",
            progress=progress))
    except ReconciliationInputError as exc:
        _fail(exc)
    _report(summary, as_json)


@reconcile.command("export")
@click.argument("run_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="xlsx", show_default=True)
@click.option("--open-only", is_flag=True, help="only the discrepancies still open")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
def export(run_id, fmt, open_only, lang, output):
    """Write a run's discrepancies (or only the open ones) as CSV or XLSX."""
    from reconciliation import exports

    with _runtime().db.unit_of_work() as session:
        try:
            data = exports.export_run(session, run_id, fmt=fmt, open_only=open_only, lang=lang)
        except LookupError as exc:
            raise click.ClickException(str(exc)) from None
    output.write_bytes(data)
    click.echo(f"{output}: {len(data)} bytes")


COMMANDS = [reconcile]
