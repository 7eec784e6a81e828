"""How the logistics bridge is put together: carriers, trackers and the handlers, from what a process shares.

The carriers get their transport from `logistics_bridge.transport` (the one HTTP session factory);
postage goes through the payment side given (`runtime.payments`). The runtime builds it once (`runtime.logistics`).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Logistics:
    """The logistics bridge of a process: one handler per use case, over the shared profiles and carriers.

    Routes call the handlers (`orders`, `booking`, `cancelling`, `intake`, `pickups`, `bills`, `reads`);
    the worker calls `on_payment_paid`, `poll` and `import_bill`, the scheduler `poll`.
    """

    profiles: object
    payments: object  # the payment side (`payment_bridge.api.Payments`)
    trackers: Mapping  # every push source: sf, ems, kuaidi100
    orders: object
    booking: object
    cancelling: object
    intake: object
    subscriptions: object
    polling: object
    pickups: object
    bills: object
    reads: object

    def on_payment_paid(self, envelope: dict):
        """A `payment.paid` event: book the leg its notice pays for (once per message)."""
        return self.booking.on_payment_paid(envelope)

    def poll(self, *, older_than_seconds: float | None = None, limit: int = 200):
        return self.polling.poll(older_than_seconds=older_than_seconds, limit=limit)

    def import_bill(self, carrier: str, period: str):
        """(bill, created): a carrier's monthly bill, downloaded and kept unchanged."""
        return self.bills.import_bill(carrier, period)


def build_logistics(settings, db, publisher, message_log, payments) -> Logistics:
    """The logistics bridge on `db`, with the configured carriers; postage goes through `payments`."""
    from logistics_bridge.booking import Booking
    from logistics_bridge.cancelling import Cancelling
    from logistics_bridge.courier_bills import CourierBills
    from logistics_bridge.intake import TrackingIntake
    from logistics_bridge.legs import LegOrders
    from logistics_bridge.outbox import Outbox
    from logistics_bridge.pickups import PickupChecks
    from logistics_bridge.polling import Polling
    from logistics_bridge.profiles import load_profiles
    from logistics_bridge.reads import LegReads
    from logistics_bridge.subscriptions import TrackingSubscriptions

    profiles = load_profiles(settings)
    carriers, trackers, routes, bill_get = build_carriers(profiles)
    outbox = Outbox(db, publisher, message_log)
    subscriptions = TrackingSubscriptions(db, profiles, routes, outbox)
    booking = Booking(db, profiles, carriers, outbox, subscriptions)
    cancelling = Cancelling(db, profiles, carriers, payments, outbox)
    intake = TrackingIntake(db, carriers, trackers, outbox)
    return Logistics(
        profiles=profiles, payments=payments, trackers=trackers,
        orders=LegOrders(db, profiles, payments, outbox), booking=booking, cancelling=cancelling, intake=intake,
        subscriptions=subscriptions,
        polling=Polling(db, profiles, payments, routes, outbox, booking=booking, cancelling=cancelling,
                        subscriptions=subscriptions, intake=intake),
        pickups=PickupChecks(db, profiles, outbox), bills=CourierBills(db, profiles, bill_get),
        reads=LegReads(db, payments))
