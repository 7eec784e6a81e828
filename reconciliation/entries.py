"""What reconciliation adds to govlink's processes (collected by `bootstrap.table`)."""
from datetime import time

from bus.scheduler import Job
from reconciliation.cli import COMMANDS  # noqa: F401  (`govlink reconcile payments|logistics|export`)


def _daily(runtime, period):
    from reconciliation.scheduled import daily_job

    return daily_job(runtime, period)


def _reclaim(runtime, period):
    from reconciliation.job_leases import scheduled

    return scheduled(runtime, period)


JOBS = [Job("reconcile.daily", _daily, daily_at=time(2, 0)),  # 对账 (R7): yesterday, at 02:00 Beijing time
        Job("reconciliation.reclaim", _reclaim, every_seconds=60)]  # jobs whose gateway process died: owner_lost
