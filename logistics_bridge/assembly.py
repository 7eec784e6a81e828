"""How the logistics bridge is put together: carriers, trackers and the service, from what a process shares.

The carriers get their transport from `logistics_bridge.transport` (the one HTTP session factory);
postage goes through the payment side given (`runtime.payments`). The runtime builds it once (`runtime.logistics`).
"""
from __future__ import annotations



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


def build_logistics(settings, db, publisher, message_log, payments):
    """The logistics service on `db`, with the configured carriers; postage goes through `payments`."""
    from logistics_bridge.outbox import Outbox
    from logistics_bridge.profiles import load_profiles
    from logistics_bridge.service import LogisticsService

    profiles = load_profiles(settings)
    carriers, trackers, routes, bill_get = build_carriers(profiles)
    return LogisticsService(db, profiles, carriers, trackers, payments, outbox=Outbox(db, publisher, message_log),
                            bill_get=bill_get, route_trackers=routes)
