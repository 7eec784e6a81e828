"""Logistics bridge (R6, R7): legs booked with couriers, normalised tracking, courier bills.

Pure core, no I/O: ``tracking`` (status set and the forward-only rule), ``address``
(validation and masking), ``carriers`` (SF Express, China Post EMS, Kuaidi100), ``bills``
(courier bill files), ``wire`` (Beijing time, kg and yuan at the edge), ``errors``.
"""
