"""The daily reconciliation job (bus/scheduler.py `reconcile.daily`, 02:00 Beijing time).

The scheduler claims (job, day) once however many schedulers run; this reconciles the previous
Beijing day: payments against the provincial statement (imported first if it was not yet) and
postage, waybills and courier bills. A failure (no statement yet) fails the claim, which the
scheduler tries again, up to its attempt limit.
"""
from __future__ import annotations

import gc
import logging
from datetime import date, timedelta

from reconciliation.service import ReconciliationInputError, reconcile_logistics_day, reconcile_payments_day

log = logging.getLogger(__name__)
SCHEDULER = "scheduler"


def daily_job(runtime, period: str) -> str:
    """Reconcile the Beijing day before ``period`` (the scheduler's YYYY-MM-DD); a one-line outcome."""
    day = date.fromisoformat(period) - timedelta(days=1)
    outcomes = []
    enabled = gc.isenabled()
    gc.disable()  # millions of immutable tuples: nothing for the cyclic collector to find
    try:
        try:
            payments = reconcile_payments_day(runtime, day, started_by=SCHEDULER)
        except ReconciliationInputError as exc:
            if exc.code != "statement_missing":
                raise

            runtime.payments.import_statement("nontax", day)
            payments = reconcile_payments_day(runtime, day, started_by=SCHEDULER)
        outcomes.append(f"payments {day}: run {payments.run_id} v{payments.version}, "
                        f"{payments.discrepancy_count} discrepancies")
        logistics = reconcile_logistics_day(runtime, day, started_by=SCHEDULER)  # every carrier's bill lines
        outcomes.append(f"logistics {day}: run {logistics.run_id} v{logistics.version}, "
                        f"{logistics.discrepancy_count} discrepancies")
    finally:
        if enabled:
            gc.enable()
    log.info("reconciliation for %s: %s", day, "; ".join(outcomes))
    return "; ".join(outcomes)
