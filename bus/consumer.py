"""The consumer runner: manual acks, prefetch, handlers off the I/O thread, retries, parking lot.

The I/O thread (pika `SelectConnection`) only receives and acks, so heartbeats keep flowing while
a handler waits 30 s on a slow SOAP call. Handlers run on `concurrency` worker threads. A handler
returns a reply payload (or None) or raises:

- a transient error (`.transient` true, or any unexpected exception) is retried in process with
  tenacity (`attempts` times, short back-off); if it still fails the message goes to the next retry
  tier (TTL queue, longer back-off) and, after the last tier, to the parking lot;
- a permanent error (`.transient` false) goes straight to the parking lot;
- an envelope that does not validate goes to the parking lot with cause `invalid_envelope`.

The failure cause travels in the headers (`x-govlink-failure-*`). A message is acked only after its
successor (retry copy, parking copy, reply) is confirmed by the broker: nothing is dropped.

Counters per queue (`govlink_consumer_messages_total{queue, outcome}`, `govlink_consumer_redeliveries_total`,
`govlink_consumer_connected`) and `health()` (connected, I/O loop running, handler threads alive) are
what a worker's `/metrics` and `/healthz` show.
"""
from __future__ import annotations

import collections
import logging
import queue as queue_module
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import pika
import tenacity
from pika.adapters.select_connection import SelectConnection
from prometheus_client import Counter, Gauge

from bus.connection import NodeRotation
from bus.envelope import InvalidEnvelope, decode, encode, reply_to
from bus.publisher import Publisher
from bus.topology import WorkQueue, declare
from config.logging import correlation_id, mask_identifiers
from kernel import tracing

log = logging.getLogger(__name__)

RETRIES_HEADER = "x-govlink-retries"
IO_BEAT_SECONDS = 5.0  # the I/O loop notes it is alive this often; /healthz fails after STALE_IO_SECONDS without
STALE_IO_SECONDS = 30.0

MESSAGES = Counter("govlink_consumer_messages_total", "Messages a consumer settled, by queue and outcome "
                   "(handled, retried, parked, invalid, unsettled)", ["queue", "outcome"])
REDELIVERIES = Counter("govlink_consumer_redeliveries_total",
                       "Messages the broker delivered again (not acked before a consumer or its connection went)", ["queue"])
CONNECTED = Gauge("govlink_consumer_connected", "1 while this process consumes the queue, 0 while it reconnects",
                  ["queue"])


@dataclass
class Delivery:
    """What a handler gets: the validated envelope and where it came from."""

    envelope: dict
    body: bytes
    properties: pika.BasicProperties
    redelivered: bool
    retries: int


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # in-process tries before a retry tier takes over
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 2.0


def is_transient(exc: BaseException) -> bool:
    return bool(getattr(exc, "transient", True))


class ConsumerRunner:
    def __init__(self, amqp_url: str, work_queue: WorkQueue, handler: Callable[[Delivery], dict | None], *,
                 publisher: Publisher, prefetch: int = 500, concurrency: int = 4, retry: RetryPolicy = RetryPolicy(),
                 client: str = "govlink/worker", reply_type: str | None = None, message_log=None,
                 reconnect_delay: float = 1.0):
        self.amqp_url = amqp_url
        self.queue = work_queue
        self.handler = handler
        self.publisher = publisher
        self.prefetch = prefetch
        self.concurrency = concurrency
        self.retry = retry
        self.client = client
        self.reply_type = reply_type
        self.message_log = message_log
        self.reconnect_delay = reconnect_delay
        self._nodes = NodeRotation(amqp_url, heartbeat=30, name=f"govlink-consumer {work_queue.name}")
        self._work: queue_module.SimpleQueue = queue_module.SimpleQueue()
        self._acks: collections.deque = collections.deque()
        self._ack_lock = threading.Lock()
        self._ack_scheduled = False
        self._conn: SelectConnection | None = None
        self._channel = None
        self._generation = 0  # delivery tags belong to one channel; acks for an older one are dropped
        self._stopping = False
        self._ready = threading.Event()
        self._threads: list[threading.Thread] = []
        self._io_beat = time.monotonic()
        self.stats = collections.Counter()

    def _count(self, outcome: str) -> None:
        self.stats[outcome] += 1
        MESSAGES.labels(self.queue.name, outcome).inc()

    def health(self) -> tuple[bool, str | None]:
        """(ok, reason): consuming on an open channel, the I/O loop alive, every handler thread running."""
        channel = self._channel
        if not self._ready.is_set() or channel is None or not channel.is_open:
            return False, f"{self.queue.name}: not connected to the broker"
        quiet = time.monotonic() - self._io_beat
        if quiet > STALE_IO_SECONDS:
            return False, f"{self.queue.name}: the connection's I/O loop has not run for {quiet:.0f} s"
        handlers = [t for t in self._threads if t.name.startswith(f"{self.queue.name}-handler-")]
        stopped = sum(1 for t in handlers if not t.is_alive())
        if stopped:
            return False, f"{self.queue.name}: {stopped} of {len(handlers)} handler threads stopped"
        return True, None

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 15.0) -> "ConsumerRunner":
        declare(self.amqp_url, [self.queue])
        for i in range(self.concurrency):
            t = threading.Thread(target=self._work_loop, name=f"{self.queue.name}-handler-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        io = threading.Thread(target=self._io_loop, name=f"{self.queue.name}-io", daemon=True)
        io.start()
        self._threads.append(io)
        if not self._ready.wait(timeout):
            raise RuntimeError(f"consumer for {self.queue.name} could not connect within {timeout:.0f} s")
        return self

    def stop(self) -> None:
        self._stopping = True
        CONNECTED.labels(self.queue.name).set(0)
        conn = self._conn
        if conn is not None:
            try:
                conn.ioloop.add_callback_threadsafe(lambda: conn.is_open and conn.close())
            except Exception:
                pass
        for _ in range(self.concurrency):
            self._work.put(None)
        for t in self._threads:
            t.join(timeout=10)

    def run_forever(self) -> None:
        """Start and block until interrupted (for `govlink worker`)."""
        self.start()
        try:
            while not self._stopping:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # ------------------------------------------------------------------ I/O thread
    def _io_loop(self) -> None:
        while not self._stopping:
            self._conn = SelectConnection(self._nodes.next(), on_open_callback=lambda c: c.channel(on_open_callback=self._on_channel),
                                          on_open_error_callback=lambda c, e: c.ioloop.stop(),
                                          on_close_callback=self._on_closed)
            self._conn.ioloop.start()
            self._ready.clear()
            if not self._stopping:
                time.sleep(self.reconnect_delay)

    def _on_closed(self, conn, reason) -> None:
        self._channel = None
        CONNECTED.labels(self.queue.name).set(0)
        if not self._stopping:
            log.warning("consumer connection for %s closed (%s); reconnecting", self.queue.name, reason)
        conn.ioloop.stop()

    def _on_channel(self, channel) -> None:
        self._generation += 1
        with self._ack_lock:
            # Acks for the previous channel are void (the broker redelivers those messages), and a
            # flush scheduled on the previous connection's loop never runs: without this reset no
            # ack would be sent again after a reconnect and consumption would stop at `prefetch`.
            self._acks.clear()
            self._ack_scheduled = False
        self._channel = channel
        channel.add_on_close_callback(lambda ch, reason: self._conn and self._conn.is_open and self._conn.close())
        channel.basic_qos(prefetch_count=self.prefetch, callback=lambda _f: self._consume(channel))

    def _consume(self, channel) -> None:
        generation = self._generation
        channel.basic_consume(self.queue.name, lambda ch, m, p, b: self._work.put((generation, m, p, b)))
        CONNECTED.labels(self.queue.name).set(1)
        self._beat(self._conn)
        self._ready.set()

    def _beat(self, conn) -> None:
        """On the I/O thread: note the loop is alive, and again in IO_BEAT_SECONDS while this connection is open."""
        self._io_beat = time.monotonic()
        if conn is not None and conn.is_open and conn is self._conn:
            conn.ioloop.call_later(IO_BEAT_SECONDS, lambda: self._beat(conn))

    def _flush_acks(self) -> None:
        with self._ack_lock:
            self._ack_scheduled = False
            acks = list(self._acks)
            self._acks.clear()
        channel = self._channel
        for generation, tag in acks:
            if channel is not None and channel.is_open and generation == self._generation:
                channel.basic_ack(tag)

    def _ack(self, generation: int, tag: int) -> None:
        with self._ack_lock:
            self._acks.append((generation, tag))
            if self._ack_scheduled:
                return
            self._ack_scheduled = True
        try:
            self._conn.ioloop.add_callback_threadsafe(self._flush_acks)
        except Exception:  # connection gone: the broker redelivers the message
            with self._ack_lock:
                self._ack_scheduled = False

    # ------------------------------------------------------------------ handler threads
    def _work_loop(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            generation, method, props, body = item
            try:
                self._process(method, props, body)
            except Exception:  # the successor could not be published: leave unacked, the broker redelivers
                log.exception("could not settle a message from %s; it will be redelivered", self.queue.name)
                self._count("unsettled")
                continue
            self._ack(generation, method.delivery_tag)

    def _process(self, method, props, body: bytes) -> None:
        # Handled in a span continuing the publisher's trace (its context travels in the AMQP headers).
        with tracing.consuming(self.queue.name, props.headers, props.message_id) as span:
            self._settle(method, props, body, span)

    def _settle(self, method, props, body: bytes, span) -> None:
        headers = props.headers or {}
        retries = int(headers.get(RETRIES_HEADER, 0) or 0)
        if method.redelivered:
            REDELIVERIES.labels(self.queue.name).inc()
        try:
            envelope = decode(body)
        except InvalidEnvelope as exc:
            self._count("invalid")
            tracing.failed(span, "invalid_envelope")
            self._park(props, body, "invalid_envelope", exc.reason, retries)
            return
        token = correlation_id.set(envelope["correlation_id"])
        try:
            if self.message_log is not None:
                self.message_log.record(envelope, "in")
            delivery = Delivery(envelope, body, props, method.redelivered, retries)
            try:
                result = self._call_with_retries(delivery)
            except Exception as exc:
                tracing.failed(span, str(getattr(exc, "code", type(exc).__name__)))
                self._failed(delivery, exc)
                return
            self._count("handled")
            if result is not None and (props.reply_to or self.reply_type):
                self._reply(delivery, self.reply_type or f"{envelope['type']}.reply", result)
        finally:
            correlation_id.reset(token)

    def _call_with_retries(self, delivery: Delivery):
        if self.retry.attempts <= 1:
            return self.handler(delivery)
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retry.attempts),
            wait=tenacity.wait_exponential(multiplier=self.retry.backoff_seconds, max=self.retry.max_backoff_seconds),
            retry=tenacity.retry_if_exception(is_transient),
            reraise=True,
        )
        return retrying(self.handler, delivery)

    def _failed(self, delivery: Delivery, exc: Exception) -> None:
        code = getattr(exc, "code", type(exc).__name__)
        reason = mask_identifiers(getattr(exc, "message", None) or str(exc) or type(exc).__name__)[:500]
        if is_transient(exc) and delivery.retries < self.queue.max_retries:
            tier = delivery.retries + 1
            self._count("retried")
            log.warning("%s failed (%s), retry tier %d", delivery.envelope["type"], code, tier)
            self._forward(self.queue.retry_queue(tier), delivery.properties, delivery.body, code, reason, tier)
            return
        self._count("parked")
        log.error("%s parked after %d retries: %s", delivery.envelope["type"], delivery.retries, reason)
        self._park(delivery.properties, delivery.body, code, reason, delivery.retries)
        if delivery.properties.reply_to or self.reply_type:
            error = {"error": {"code": code, "message": reason, "details": getattr(exc, "details", {}) or {}}}
            self._reply(delivery, f"{delivery.envelope['type']}.failed", error)

    def _park(self, props, body: bytes, code: str, reason: str, retries: int) -> None:
        self._forward(self.queue.parking, props, body, code, reason, retries)

    def _forward(self, queue_name: str, props, body: bytes, code: str, reason: str, retries: int) -> None:
        headers = dict(props.headers or {})
        headers.update({
            RETRIES_HEADER: retries,
            "x-govlink-failure-code": str(code),
            "x-govlink-failure-reason": reason,
            "x-govlink-failed-at": datetime.now(timezone.utc).isoformat(),
            "x-govlink-queue": self.queue.name,
        })
        self.publisher.publish("", queue_name, body, message_id=props.message_id, correlation_id=props.correlation_id,
                               headers=headers, reply_to=props.reply_to, type=props.type).result(30)

    def _reply(self, delivery: Delivery, type_: str, payload: dict) -> None:
        """The outcome, logged whenever this consumer answers requests (`reply_type`), and sent when
        someone waits on a reply queue: an asynchronous caller polls the call's record instead, but
        supervision closes the call's step from the logged outcome."""
        reply = reply_to(delivery.envelope, delivery.body, type_, payload, client=self.client)
        if self.message_log is not None:
            self.message_log.record(reply, "out")
        if not delivery.properties.reply_to:
            return
        # The reply's AMQP correlation id is the request's message id (what the caller waits on).
        self.publisher.publish("", delivery.properties.reply_to, encode(reply), message_id=reply["message_id"],
                               correlation_id=delivery.envelope["message_id"], mandatory=False).result(30)
