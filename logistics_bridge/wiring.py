"""One `LogisticsService` per govlink `Runtime` (gateway, worker or CLI), built on first use.

The carriers get their transport from `logistics_bridge.transport` (the one HTTP session factory);
postage goes through the payment service of the same runtime.
"""
from __future__ import annotations

import threading
import weakref

_services: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def build_carriers(profiles) -> tuple[dict, dict, dict, dict]:
    """(carriers, push sources, route trackers, bill downloaders), each by name, from the profiles.

    A carrier's route tracker is where its waybills are subscribed and polled: the carrier itself, or
    Kuaidi100 bound to that carrier's company code when the profile says `tracking: kuaidi100`.
    """
    from logistics_bridge.carriers.ems import EmsCarrier
    from logistics_bridge.carriers.kuaidi100 import Kuaidi100Tracker
    from logistics_bridge.carriers.sf import SfCarrier
    from logistics_bridge.transport import http_get, http_send

    timeout = profiles.timeout_seconds
    carriers = {
        "sf": SfCarrier(profiles.carriers["sf"].settings, http_send("sf", timeout)),
        "ems": EmsCarrier(profiles.carriers["ems"].settings, http_send("ems", timeout)),
    }
    kuaidi100 = http_send("kuaidi100", timeout)
    # Kuaidi100 signs its pushes with the salt of our subscription; its events name SF or EMS waybills.
    trackers = {**carriers, "kuaidi100": Kuaidi100Tracker(profiles.kuaidi100, kuaidi100)}
    routes = {name: Kuaidi100Tracker(profiles.kuaidi100, kuaidi100, carrier=name)
              if name in profiles.via_kuaidi100 else carrier for name, carrier in carriers.items()}
    bill_get = {name: http_get(name, timeout) for name in carriers}
    return carriers, trackers, routes, bill_get


def logistics_service(runtime):
    """The logistics service of `runtime`: its database, publisher, message log and payment service."""
    with _lock:
        service = _services.get(runtime)
        if service is None:
            from logistics_bridge.outbox import Outbox
            from logistics_bridge.profiles import load_profiles
            from logistics_bridge.service import LogisticsService
            from payment_bridge.wiring import payment_service

            profiles = load_profiles(runtime.settings)
            carriers, trackers, routes, bill_get = build_carriers(profiles)
            outbox = Outbox(runtime.db, _Lazy(runtime, "publisher"), _Lazy(runtime, "message_log"))
            service = LogisticsService(runtime.db, profiles, carriers, trackers, payment_service(runtime),
                                       outbox=outbox, bill_get=bill_get, route_trackers=routes)
            _services[runtime] = service
    return service


class _Lazy:
    """Connect to RabbitMQ (or open the message log) only when the first event is published."""

    def __init__(self, runtime, name: str):
        self._runtime = runtime
        self._name = name

    def __getattr__(self, attr):
        return getattr(getattr(self._runtime, self._name), attr)
