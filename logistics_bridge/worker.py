"""The logistics worker and the `govlink logistics` commands.

- `evt.logistics`, bound to `payment.paid` on govlink.events: a paid postage notice books its leg
  (idempotent on the message id through `bus.idempotency.handle_once`); other notices are ignored.
- polling (paid legs not yet booked, cancelled legs whose postage is unsettled, waybills not yet
  subscribed at Kuaidi100, legs without news from their carrier, unpublished events) is the
  scheduler's `logistics.poll` job (`logistics_bridge/entries.py`), the one poller;
  `govlink logistics poll` runs it once by hand. `govlink logistics import-bill CARRIER YYYY-MM`
  imports a monthly courier bill.
"""
from __future__ import annotations

import json
import logging

import click

from bus.consumer import ConsumerRunner, Delivery, RetryPolicy
from bus.topology import event_queue
from kernel.cli import runtime as _process_runtime
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


def logistics_runners(runtime, args=()):
    """The worker's one part: the payment.paid consumer. Polling is the scheduler's `logistics.poll`, so
    the old `-- --no-poll` argument is accepted and changes nothing."""
    return [consumer_runner(runtime)]


@click.group("logistics")
def logistics():
    """Couriers: polling for missed news, courier bills."""


@logistics.command("poll")
@click.option("--older-than", type=float, default=None,
              help="Ask about legs without news for this many seconds (default: from config/logistics.yaml).")
def poll_command(older_than):
    """Book paid legs that were missed, settle the postage of cancelled legs, subscribe waybills at Kuaidi100,
    ask carriers about legs without news, relay unpublished events."""
    report = _process_runtime().logistics.poll(older_than_seconds=older_than)
    click.echo(json.dumps(report.as_dict(), ensure_ascii=False))


@logistics.command("import-bill")
@click.argument("carrier", type=click.Choice(["sf", "ems"]))
@click.argument("period")
def import_bill_command(carrier, period):
    """Import CARRIER's monthly bill for PERIOD (YYYY-MM), kept unchanged with its SHA-256."""
    bill, created = _process_runtime().logistics.import_bill(carrier, period)
    click.echo(f"{carrier} bill {period}: {'imported' if created else 'already imported'}, "
               f"{bill.line_count} lines, sha256 {bill.sha256}")


COMMANDS = [logistics]
