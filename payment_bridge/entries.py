"""What the payment bridge adds to govlink's processes (collected by `bootstrap.table`)."""
from bus.scheduler import Job
from payment_bridge.cli import COMMANDS  # noqa: F401  (`govlink payments poll|import-statement`)


def _poll(runtime, period):
    from payment_bridge.cli import poll_payments

    return str(poll_payments(runtime))


JOBS = [Job("payments.poll", _poll, every_seconds=60)]
