"""One `PaymentService` per govlink `Runtime` (gateway, worker or CLI), built on first use."""
from __future__ import annotations

import threading
import weakref

_services: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def payment_service(runtime):
    """The payment service of `runtime`: its database, publisher and message log, the configured platforms."""
    with _lock:
        service = _services.get(runtime)
        if service is None:
            from payment_bridge.platforms import build_platforms
            from payment_bridge.profiles import load_profiles
            from payment_bridge.service import PaymentService

            profiles = load_profiles(runtime.settings)
            service = PaymentService(runtime.db, profiles, build_platforms(profiles),
                                     publisher=_LazyPublisher(runtime), message_log=_LazyLog(runtime))
            _services[runtime] = service
        return service


class _LazyPublisher:
    """Connect to RabbitMQ only when the first event is published."""

    def __init__(self, runtime):
        self._runtime = runtime

    def publish(self, *args, **kwargs):
        return self._runtime.publisher.publish(*args, **kwargs)


class _LazyLog:
    def __init__(self, runtime):
        self._runtime = runtime

    def record(self, envelope, direction):
        self._runtime.message_log.record(envelope, direction)
