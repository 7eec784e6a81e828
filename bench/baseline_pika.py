"""Bare pika at its fastest, the baseline of bench/bus.py: a SelectConnection publisher keeping
`window` unconfirmed messages in flight, and a SelectConnection consumer with prefetch acking each."""
from __future__ import annotations

import time

import pika
from pika.adapters.select_connection import SelectConnection


def publish(amqp_url: str, queue: str, bodies: list[bytes], window: int = 500) -> float:
    """Publish every body with confirms; return the monotonic time of the first publish."""
    state = {"sent": 0, "confirmed": 0, "first": None}
    n = len(bodies)
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")

    def pump(channel):
        while state["sent"] < n and state["sent"] - state["confirmed"] < window:
            if state["first"] is None:
                state["first"] = time.monotonic()
            channel.basic_publish("", queue, bodies[state["sent"]], props)
            state["sent"] += 1

    def on_confirm(frame, channel):
        tag = frame.method.delivery_tag
        state["confirmed"] = tag if frame.method.multiple else max(state["confirmed"], tag)
        if state["confirmed"] >= n:
            channel.connection.close()
        else:
            pump(channel)

    def on_channel(channel):
        channel.confirm_delivery(lambda f: on_confirm(f, channel), callback=lambda _f: pump(channel))

    conn = SelectConnection(pika.URLParameters(amqp_url), on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
                            on_close_callback=lambda c, r: c.ioloop.stop())
    conn.ioloop.start()
    return state["first"]


def consume(amqp_url: str, queue: str, n: int, ready, done, prefetch: int = 500) -> None:
    """Consume and ack `n` messages; put the monotonic time of the last ack into `done`."""
    count = {"n": 0}

    def on_message(channel, method, _props, _body):
        channel.basic_ack(method.delivery_tag)
        count["n"] += 1
        if count["n"] >= n:
            done.put(time.monotonic())
            channel.connection.close()

    def on_channel(channel):
        channel.basic_qos(prefetch_count=prefetch, callback=lambda _f: (channel.basic_consume(queue, on_message), ready.set()))

    conn = SelectConnection(pika.URLParameters(amqp_url), on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
                            on_close_callback=lambda c, r: c.ioloop.stop())
    conn.ioloop.start()
