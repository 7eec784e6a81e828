"""What the logistics bridge adds to govlink's processes (collected by `bootstrap.table`).

Polling (missed `payment.paid`, cancelled legs' postage, Kuaidi100 subscriptions, carriers without
news, unpublished events) runs once, as the scheduler's `logistics.poll`: leased, retried and run
once per period however many schedulers run. The worker only consumes `payment.paid`.
"""
from bus.scheduler import Job
from logistics_bridge.worker import COMMANDS  # noqa: F401  (`govlink logistics poll|import-bill`)


def _worker(runtime, args):
    from logistics_bridge.worker import logistics_runners

    return logistics_runners(runtime, args)


def _poll(runtime, period):
    return str(runtime.logistics.poll())


WORKERS = {"logistics": _worker}  # `govlink worker logistics`
JOBS = [Job("logistics.poll", _poll, every_seconds=60)]
