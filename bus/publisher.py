"""A publisher that never loses an accepted message.

pika's `SelectConnection` runs on one I/O thread owned by the publisher; other threads hand it
messages through a deque and `add_callback_threadsafe`, and get a `Future` per message that the
broker's confirm resolves. Up to `window` messages are in flight unconfirmed (a confirm per
message would cap throughput at about 1,200 msg/s). Mandatory messages that match no queue fail
their future with `Unroutable`; nacked messages are resent; when the connection drops, everything
unconfirmed goes back to the front of the outbox and is resent after reconnecting (so a consumer
may see a message twice: receivers are idempotent on `message_id`).

The publisher also owns an exclusive reply queue for request-reply (`request()`).
"""
from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field

import pika
from pika.adapters.select_connection import SelectConnection

from bus.connection import NodeRotation
from bus.errors import PublishFailed, RequestTimeout, Unroutable
from kernel import tracing

log = logging.getLogger(__name__)

MAX_NACK_RESENDS = 5


@dataclass
class _Outgoing:
    exchange: str
    routing_key: str
    body: bytes
    properties: pika.BasicProperties
    mandatory: bool
    future: Future = field(default_factory=Future)
    nacks: int = 0
    returned: bool = False


class Publisher:
    def __init__(self, amqp_url: str, *, window: int = 500, max_pending: int = 50_000, name: str = "govlink-publisher",
                 reply_queue: bool = False, reconnect_delay: float = 1.0):
        self._nodes = NodeRotation(amqp_url, heartbeat=30, name=name)  # the next node after each lost connection
        self._window = window
        self._max_pending = max_pending
        self._outbox: collections.deque[_Outgoing] = collections.deque()
        self._unconfirmed: dict[int, _Outgoing] = {}  # delivery tag -> message, in tag order (I/O thread only)
        self._by_message_id: dict[str, _Outgoing] = {}
        self._want_reply_queue = reply_queue
        self._reply_queue: str | None = None
        self._replies: dict[str, Future] = {}
        self._reconnect_delay = reconnect_delay
        self._name = name
        self._conn: SelectConnection | None = None
        self._channel = None
        self._next_tag = 0
        self._wake_lock = threading.Lock()
        self._wake_scheduled = False
        self._ready = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.reconnects = 0

    # ------------------------------------------------------------------ caller side (any thread)
    def start(self, timeout: float = 15.0) -> "Publisher":
        self._thread.start()
        if not self._ready.wait(timeout):
            raise PublishFailed(f"could not connect to RabbitMQ within {timeout:.0f} s", "broker_unavailable")
        return self

    def publish(self, exchange: str, routing_key: str, body: bytes, *, message_id: str | None = None,
                correlation_id: str | None = None, headers: dict | None = None, reply_to: str | None = None,
                content_type: str = "application/json", type: str | None = None, mandatory: bool = True,
                expiration: str | None = None) -> Future:
        """Queue a message; the future resolves when the broker confirms it (or fails)."""
        if self._stopping:
            raise PublishFailed("the publisher is stopped")
        message_id = message_id or str(uuid.uuid4())
        with tracing.publishing(exchange, routing_key, message_id, headers) as headers:  # the trace context travels
            return self._enqueue(exchange, routing_key, body, mandatory, pika.BasicProperties(
                content_type=content_type, delivery_mode=2, message_id=message_id, correlation_id=correlation_id,
                headers=headers, reply_to=reply_to, type=type, timestamp=int(time.time()), expiration=expiration))

    def _enqueue(self, exchange: str, routing_key: str, body: bytes, mandatory: bool, props) -> Future:
        while len(self._outbox) >= self._max_pending:  # back-pressure: the broker is slower than the callers
            if self._stopping:
                raise PublishFailed("the publisher is stopped")
            time.sleep(0.005)
        item = _Outgoing(exchange, routing_key, body, props, mandatory)
        self._outbox.append(item)
        self._wake()
        return item.future

    def request(self, exchange: str, routing_key: str, body: bytes, *, message_id: str, timeout: float,
                correlation_id: str | None = None, headers: dict | None = None, type: str | None = None):
        """Publish and wait for the reply (matched on message id); return (properties, body)."""
        if not self._want_reply_queue:
            raise PublishFailed("this publisher was created without a reply queue")
        deadline = time.monotonic() + timeout
        if not self._ready.wait(timeout):
            raise RequestTimeout("not connected to RabbitMQ")
        reply: Future = Future()
        self._replies[message_id] = reply
        try:
            # One wait, on the reply (which proves the request reached its queue); a publish the broker
            # refuses fails the reply at once. Waiting for the confirm first woke the caller twice a call.
            self.publish(exchange, routing_key, body, message_id=message_id, correlation_id=correlation_id,
                         headers=headers, reply_to=self._reply_queue, type=type
                         ).add_done_callback(lambda confirmed: _refused(confirmed, reply))
            return reply.result(max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise RequestTimeout(f"no reply within {timeout:g} s") from None
        finally:
            self._replies.pop(message_id, None)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is queued or unconfirmed; True if that happened in time."""
        deadline = time.monotonic() + timeout
        while (self._outbox or self._unconfirmed) and time.monotonic() < deadline:
            time.sleep(0.01)
        return not (self._outbox or self._unconfirmed)

    def stop(self, timeout: float = 30.0) -> None:
        """Send what is queued (up to `timeout`), then close; anything left fails its future."""
        if self._thread.is_alive():
            self.flush(timeout)
        self._stopping = True
        conn = self._conn
        if conn is not None:
            try:
                conn.ioloop.add_callback_threadsafe(self._close)
            except Exception:  # the loop is already gone
                pass
        self._thread.join(timeout=10)
        self._fail_all(PublishFailed("the publisher stopped before the broker confirmed this message"))

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    @property
    def pending(self) -> int:
        return len(self._outbox) + len(self._unconfirmed)

    def _wake(self) -> None:
        with self._wake_lock:
            if self._wake_scheduled:
                return
            conn = self._conn
            if conn is None or not self._ready.is_set():
                return  # the channel's open callback drains the outbox
            self._wake_scheduled = True
        try:
            conn.ioloop.add_callback_threadsafe(self._drain)
        except Exception:
            with self._wake_lock:
                self._wake_scheduled = False

    # ------------------------------------------------------------------ I/O thread
    def _run(self) -> None:
        while not self._stopping:
            self._conn = SelectConnection(self._nodes.next(), on_open_callback=self._on_open,
                                          on_open_error_callback=self._on_open_error,
                                          on_close_callback=self._on_closed)
            self._conn.ioloop.start()
            self._ready.clear()
            if not self._stopping:
                time.sleep(self._reconnect_delay)
                self.reconnects += 1

    def _on_open(self, conn) -> None:
        conn.channel(on_open_callback=self._on_channel)

    def _on_open_error(self, conn, error) -> None:
        log.warning("RabbitMQ connection failed (%s); retrying", type(error).__name__)
        conn.ioloop.stop()

    def _on_closed(self, conn, reason) -> None:
        self._channel = None
        # Everything unconfirmed goes back, in order, in front of what was never sent.
        pending = list(self._unconfirmed.values())
        self._unconfirmed.clear()
        self._by_message_id.clear()
        self._outbox.extendleft(reversed(pending))
        if not self._stopping:
            log.warning("RabbitMQ connection closed (%s); %d messages will be resent", reason, len(pending))
        conn.ioloop.stop()

    def _on_channel(self, channel) -> None:
        self._channel = channel
        self._next_tag = 0
        channel.add_on_return_callback(self._on_return)
        channel.add_on_close_callback(lambda ch, reason: self._conn and self._conn.is_open and self._conn.close())
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_confirm_mode)

    def _on_confirm_mode(self, _frame) -> None:
        if self._want_reply_queue:
            self._channel.queue_declare(f"reply.{self._name}.{uuid.uuid4().hex[:12]}", exclusive=True, auto_delete=True,
                                        callback=self._on_reply_queue)
        else:
            self._go()

    def _on_reply_queue(self, frame) -> None:
        self._reply_queue = frame.method.queue
        self._channel.basic_consume(self._reply_queue, self._on_reply, auto_ack=True)
        self._go()

    def _go(self) -> None:
        with self._wake_lock:
            self._wake_scheduled = False
        self._ready.set()
        self._drain()

    def _drain(self) -> None:
        with self._wake_lock:
            self._wake_scheduled = False
        channel = self._channel
        if channel is None or not channel.is_open:
            return
        while self._outbox and len(self._unconfirmed) < self._window:
            item = self._outbox.popleft()
            if item.future.done():  # cancelled by its caller
                continue
            self._next_tag += 1
            self._unconfirmed[self._next_tag] = item
            self._by_message_id[item.properties.message_id] = item
            channel.basic_publish(item.exchange, item.routing_key, item.body, item.properties, mandatory=item.mandatory)

    def _on_return(self, _channel, _method, properties, _body) -> None:
        item = self._by_message_id.get(properties.message_id)
        if item is not None:
            item.returned = True

    def _on_confirm(self, frame) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tags = [method.delivery_tag]
        if method.multiple:
            tags = []
            for tag in self._unconfirmed:
                if tag > method.delivery_tag:
                    break
                tags.append(tag)
        resend = []
        for tag in tags:
            item = self._unconfirmed.pop(tag, None)
            if item is None:
                continue
            self._by_message_id.pop(item.properties.message_id, None)
            if acked:
                if item.returned:
                    _settle(item.future, Unroutable(f"no queue is bound for {item.exchange}/{item.routing_key}"))
                else:
                    _settle(item.future, None)
            elif item.nacks < MAX_NACK_RESENDS:
                item.nacks += 1
                resend.append(item)
            else:
                _settle(item.future, PublishFailed(f"the broker refused the message {item.nacks} times"))
        self._outbox.extendleft(reversed(resend))
        self._drain()

    def _on_reply(self, _channel, _method, properties, body) -> None:
        waiter = self._replies.get(properties.correlation_id or "")
        if waiter is not None and not waiter.done():
            waiter.set_result((properties, body))

    def _close(self) -> None:
        if self._conn is not None and self._conn.is_open:
            self._conn.close()
        elif self._conn is not None:
            self._conn.ioloop.stop()

    def _fail_all(self, error: Exception) -> None:
        for item in list(self._unconfirmed.values()) + list(self._outbox):
            _settle(item.future, error)
        self._unconfirmed.clear()
        self._outbox.clear()


def _refused(confirmed: Future, reply: Future) -> None:
    """A request's publish failed (unroutable, nacked, the publisher stopped): so does its reply."""
    error = None if confirmed.cancelled() else confirmed.exception()
    if error is not None:
        try:
            _settle(reply, error)
        except InvalidStateError:  # the reply came first, on the I/O thread
            pass


def _settle(future: Future, error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
