"""Bus throughput: the project's publisher and consumer runner against bare pika, in one run.

50,000 envelopes (~400 bytes) through a durable quorum queue with publisher confirms and consumer
acks, the consumer (its own process) started before the first publish, timed from the first
publish to the last ack. Then the p50/p99 publish-to-handle latency of the project's path at a
steady 1,000 msg/s.

Prints `RESULT bus ours=<msg/s> baseline=<msg/s> ratio=<ours/baseline>` and
`RESULT bus_latency p50_ms=<..> p99_ms=<..>`. Target: ratio >= 0.5, p99 < 50 ms.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import time

import pika

from bench import baseline_pika
from bus.connection import connection_parameters
from bus.consumer import ConsumerRunner, RetryPolicy
from bus.envelope import encode, new_envelope
from bus.publisher import Publisher
from bus.topology import COMMANDS, WorkQueue

AMQP_URL = os.environ.get("GOVLINK_AMQP_URL", "amqp://govlink:govlink@127.0.0.1:5672/%2F")
N = int(os.environ.get("BENCH_BUS_MESSAGES", "50000"))
LATENCY_RATE, LATENCY_SECONDS = 1000, 5


def _envelopes(n: int, latency: bool = False) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        env = new_envelope("bench.noop", {"seq": i, "note": "x" * 150}, client="govlink/bench", service="bench",
                          operation="noop", case_id=f"CASE-{i:08d}")
        out.append((env["message_id"], env))
    return [(mid, encode(env)) for mid, env in out]


def _reset(queue: str, quorum_queue: WorkQueue | None = None) -> None:
    conn = pika.BlockingConnection(connection_parameters(AMQP_URL))
    ch = conn.channel()
    for name in ([queue] if quorum_queue is None else [quorum_queue.name, quorum_queue.parking,
                                                       *[quorum_queue.retry_queue(t) for t in range(1, 4)]]):
        ch.queue_delete(name)
    if quorum_queue is None:
        ch.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    conn.close()


def _our_consumer(queue: WorkQueue, n: int, ready, done, latency: bool) -> None:
    seen = {"n": 0}
    lat: list[float] = []

    def handler(delivery):  # a no-op handler (the envelope was validated before it is called)
        seen["n"] += 1
        if latency:
            lat.append((time.monotonic() - delivery.envelope["payload"]["t"]) * 1000)
        return None

    publisher = Publisher(AMQP_URL, name="bench-consumer-publisher").start()
    runner = ConsumerRunner(AMQP_URL, queue, handler, publisher=publisher, prefetch=500, concurrency=1,
                            retry=RetryPolicy(attempts=1)).start()
    ready.set()
    while seen["n"] < n:
        time.sleep(0.0005)
    end = time.monotonic()
    while runner._acks:  # the last acks leave the I/O thread
        time.sleep(0.0005)
    done.put((end, lat))
    runner.stop()
    publisher.stop()


def run_ours(n: int) -> float:
    queue = WorkQueue("bench.ours", COMMANDS, ("bench.#",), retry_tiers=(1, 10, 60))
    _reset("", queue)
    bodies = _envelopes(n)
    ready, done = mp.Event(), mp.Queue()
    proc = mp.Process(target=_our_consumer, args=(queue, n, ready, done, False))
    proc.start()
    ready.wait(30)
    publisher = Publisher(AMQP_URL, name="bench-publisher").start()
    first = time.monotonic()
    futures = [publisher.publish(COMMANDS, "bench.noop", body, message_id=mid) for mid, body in bodies]
    for f in futures:
        f.result(120)
    end, _ = done.get(timeout=300)
    proc.join()
    publisher.stop()
    return n / (end - first)


def run_baseline(n: int) -> float:
    _reset("bench.baseline")
    bodies = [body for _, body in _envelopes(n)]
    ready, done = mp.Event(), mp.Queue()
    proc = mp.Process(target=baseline_pika.consume, args=(AMQP_URL, "bench.baseline", n, ready, done))
    proc.start()
    ready.wait(30)
    first = baseline_pika.publish(AMQP_URL, "bench.baseline", bodies)
    end = done.get(timeout=300)
    proc.join()
    return n / (end - first)


def run_latency() -> tuple[float, float]:
    queue = WorkQueue("bench.latency", COMMANDS, ("latency.#",))
    _reset("", queue)
    n = LATENCY_RATE * LATENCY_SECONDS
    ready, done = mp.Event(), mp.Queue()
    proc = mp.Process(target=_our_consumer, args=(queue, n, ready, done, True))
    proc.start()
    ready.wait(30)
    publisher = Publisher(AMQP_URL, name="bench-latency").start()
    start = time.monotonic()
    for i in range(n):
        due = start + i / LATENCY_RATE
        while (now := time.monotonic()) < due:
            time.sleep(min(0.001, due - now))
        env = new_envelope("latency.noop", {"t": time.monotonic()}, client="govlink/bench", service="bench")
        publisher.publish(COMMANDS, "latency.noop", encode(env), message_id=env["message_id"])
    _, lat = done.get(timeout=120)
    proc.join()
    publisher.stop()
    lat.sort()
    return statistics.median(lat), lat[int(len(lat) * 0.99) - 1]


def main() -> None:
    mp.set_start_method("fork", force=True)
    baseline = run_baseline(N)
    ours = run_ours(N)
    print(f"RESULT bus ours={ours:.0f} baseline={baseline:.0f} ratio={ours / baseline:.2f}")
    time.sleep(5)  # let the broker settle after the throughput runs before measuring latency
    p50, p99 = run_latency()
    print(f"RESULT bus_latency p50_ms={p50:.2f} p99_ms={p99:.2f} rate={LATENCY_RATE}/s")


if __name__ == "__main__":
    main()
