"""What supervision adds to govlink's processes (collected by `bootstrap.table`)."""
from bus.scheduler import Job


def _check(runtime, period):
    from supervision.check import scheduled_job

    return scheduled_job(runtime, period)


def _metrics(app) -> None:
    from supervision.metrics import install_metrics

    install_metrics(app)  # supervision figures on /metrics, read from the database per scrape


def _calendar(app) -> None:
    from supervision import calendar_health

    calendar_health.install(app)  # a calendar without next year's holidays: logged now, on /readyz and /metrics


JOBS = [Job("supervision.check", _check, every_seconds=60)]  # 电子监察: deadlines (R10)
GATEWAY_INSTALLS = [_metrics, _calendar]
