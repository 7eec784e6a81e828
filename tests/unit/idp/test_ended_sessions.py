"""The ended-session set's refresh policy (idp.sessions.EndedSessions), over an in-memory store.

The store here stands in for the database only to hold a query open; the real reads and writes
run against PostgreSQL in tests/integration/idp (logout refuses the session's tokens)."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from idp.sessions import EndedSessions


class _Store:
    """`unit_of_work()` whose queries answer `sids`, optionally held until `release` is set."""

    def __init__(self, sids=()):
        self.sids = set(sids)
        self.reads = 0
        self.hold = threading.Event()
        self.holding = threading.Event()
        self.hold.set()

    @contextmanager
    def unit_of_work(self):
        store = self

        class Session:
            def scalars(self, _query):
                store.reads += 1
                store.holding.set()
                store.hold.wait(10)
                return list(store.sids)

        yield Session()


def test_first_read_is_waited_for_and_later_reads_come_at_most_every_interval():
    store = _Store({"s1"})
    sessions = EndedSessions(store, refresh_seconds=60)
    assert sessions.is_ended("s1") and not sessions.is_ended("s2")
    store.sids.add("s2")
    assert not sessions.is_ended("s2") and store.reads == 1  # within the interval: no query
    assert not sessions.is_ended(None) and not sessions.is_ended("")


def test_a_slow_reload_does_not_stall_other_requests():
    store = _Store({"s1"})
    sessions = EndedSessions(store, refresh_seconds=0.01)
    assert sessions.is_ended("s1")
    store.sids.add("s2")
    store.hold.clear()
    store.holding.clear()
    time.sleep(0.02)
    reloading = threading.Thread(target=sessions.is_ended, args=("s2",))
    reloading.start()
    assert store.holding.wait(5)  # that thread is inside the query now
    started = time.monotonic()
    assert sessions.is_ended("s1") and not sessions.is_ended("s2")  # the set it had, at once
    assert time.monotonic() - started < 1
    store.hold.set()
    reloading.join(5)
    assert sessions.is_ended("s2")
