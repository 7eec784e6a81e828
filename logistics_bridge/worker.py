"""The logistics worker and the `govlink logistics` commands.

- `evt.logistics`, bound to `payment.paid` on govlink.events: a paid postage notice books its leg
  (idempotent on the message id through `bus.idempotency.handle_once`); other notices are ignored.
- a poller thread: paid legs not yet booked, cancelled legs whose postage is unsettled, waybills not yet
  subscribed at Kuaidi100, legs without news from their carrier, unpublished events.
- `govlink logistics poll` runs the poller once; `govlink logistics import-bill CARRIER YYYY-MM`
  imports a monthly courier bill.

`register(worker_factory, commands)` is the one hook `bus/cli.py` calls.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass

import click
from flask import current_app
from flask.cli import AppGroup

from bus.consumer import ConsumerRunner, Delivery, RetryPolicy
from bus.topology import event_queue
from logistics_bridge.outbox import CLIENT
from logistics_bridge.booking import CONSUMER

log = logging.getLogger("govlink.logistics")

BINDINGS = ("payment.paid",)


def logistics_queue(runtime):
    return event_queue(CONSUMER, BINDINGS, runtime.settings.retry_tier_seconds)


class PaymentPaidHandler:
    """Books the leg whose postage notice a `payment.paid` envelope announces."""

    def __init__(self, runtime):
        self.runtime = runtime

    def __call__(self, delivery: Delivery):

        envelope = delivery.envelope
        if envelope["type"] != "payment.paid":
            return None
        return self.runtime.logistics.on_payment_paid(envelope)


def consumer_runner(runtime) -> ConsumerRunner:
    """The `evt.logistics` consumer of `runtime`."""
    return ConsumerRunner(runtime.settings.amqp_url, logistics_queue(runtime), PaymentPaidHandler(runtime),
                          publisher=runtime.publisher, prefetch=runtime.settings.worker_concurrency * 4,
                          concurrency=runtime.settings.worker_concurrency,
                          retry=RetryPolicy(attempts=3, backoff_seconds=0.5, max_backoff_seconds=5.0),
                          client=CLIENT, message_log=runtime.message_log)


@dataclass(frozen=True)
class _Name:
    name: str


class Poller:
    """Runs `Logistics.poll` every `interval` seconds on a thread (start/stop like a runner)."""

    def __init__(self, runtime, interval: float = 60.0):
        self.runtime = runtime
        self.interval = interval
        self.queue = _Name(f"poller (every {interval:.0f} s)")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="logistics-poller", daemon=True)

    def start(self) -> "Poller":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:

        while not self._stop.wait(self.interval):
            try:
                report = self.runtime.logistics.poll()
                if report.booked or report.moved or report.errors:
                    log.info("logistics poll: %s", report.as_dict())
            except Exception:  # the next round tries again; nothing is lost (state is in the database)
                log.exception("logistics poll failed")


def logistics_runners(runtime, args=()):
    """The worker's parts: the payment.paid consumer, and the poller unless `--no-poll` is given."""
    runners = [consumer_runner(runtime)]
    if "--no-poll" not in args:
        runners.append(Poller(runtime))
    return runners


@click.group("logistics", cls=AppGroup)
def logistics():
    """Couriers: polling for missed news, courier bills."""


@logistics.command("poll")
@click.option("--older-than", type=float, default=None,
              help="Ask about legs without news for this many seconds (default: from config/logistics.yaml).")
def poll_command(older_than):
    """Book paid legs that were missed, settle the postage of cancelled legs, subscribe waybills at Kuaidi100,
    ask carriers about legs without news, relay unpublished events."""

    report = current_app.extensions["govlink"].logistics.poll(older_than_seconds=older_than)
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False))


@logistics.command("import-bill")
@click.argument("carrier", type=click.Choice(["sf", "ems"]))
@click.argument("period")
def import_bill_command(carrier, period):
    """Import CARRIER's monthly bill for PERIOD (YYYY-MM), kept unchanged with its SHA-256."""

    bill, created = current_app.extensions["govlink"].logistics.import_bill(carrier, period)
    click.echo(f"{carrier} bill {period}: {'imported' if created else 'already imported'}, "
               f"{bill.line_count} lines, sha256 {bill.sha256}")


def register(worker_factory, commands: list) -> None:
    """Add the `logistics` worker and the `govlink logistics` commands to the bus CLI."""
    worker_factory("logistics")(logistics_runners)
    commands.append(logistics)
