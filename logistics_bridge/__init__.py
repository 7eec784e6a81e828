"""Logistics bridge (R6, R7): legs booked with couriers, normalised tracking, courier bills.

Pure core, no I/O: ``domain`` (the decisions the handlers apply), ``tracking`` (status set and the
forward-only rule), ``address`` (validation and masking), ``carriers`` (SF Express, China Post EMS,
Kuaidi100), ``bills`` (courier bill files), ``wire`` (Beijing time, kg and yuan at the edge), ``errors``.
Handlers, one per use case, over the database and the carriers: ``legs``, ``booking``, ``cancelling``,
``intake``, ``subscriptions``, ``polling``, ``pickups``, ``courier_bills``, ``reads``; ``assembly`` puts
them together. The payment side is reached only through ``payment_bridge.api``.
"""
