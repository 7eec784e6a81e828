"""`Publisher.request` waits on the reply alone (issue 18's service_call: waiting for the broker's confirm
first, then for the reply, woke the gateway's request thread twice per department call). A reply proves
the request reached its queue; a publish the broker refuses (unroutable, nacked, the publisher stopped)
still fails the request at once. A publisher that is never started only queues: the tests play its I/O
thread (the confirm and the reply); tests/integration/bus/test_bus.py has the real broker."""
import threading
import time

import pika
import pytest

from bus.errors import RequestTimeout, Unroutable
from bus.publisher import Publisher


@pytest.fixture()
def publisher():
    p = Publisher("amqp://govlink:govlink@127.0.0.1:1/%2F", reply_queue=True)  # never started
    p._reply_queue = "reply.test"
    p._ready.set()
    return p


def _later(seconds, action):
    threading.Timer(seconds, action).start()


def test_the_reply_answers_the_request_without_waiting_for_the_confirm(publisher):
    props = pika.BasicProperties(correlation_id="m-1")
    _later(0.2, lambda: publisher._on_reply(None, None, props, b"answer"))  # the confirm never comes
    started = time.monotonic()
    assert publisher.request("ex", "svc.op", b"{}", message_id="m-1", timeout=5) == (props, b"answer")
    assert time.monotonic() - started < 2
    assert publisher._replies == {}


def test_a_refused_publish_fails_the_request_at_once(publisher):
    _later(0.2, lambda: publisher._outbox[0].future.set_exception(Unroutable("no queue is bound for ex/svc.op")))
    started = time.monotonic()
    with pytest.raises(Unroutable):
        publisher.request("ex", "svc.op", b"{}", message_id="m-2", timeout=5)
    assert time.monotonic() - started < 2


def test_no_reply_in_time_is_a_timeout_also_when_confirmed(publisher):
    _later(0.1, lambda: publisher._outbox[0].future.set_result(None))
    with pytest.raises(RequestTimeout):
        publisher.request("ex", "svc.op", b"{}", message_id="m-3", timeout=0.5)
