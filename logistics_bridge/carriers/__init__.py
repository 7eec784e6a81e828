"""Carrier adapters, one package per carrier (Karrio's shape): ``units`` for codes and
their mapping, pure builders and parsers, and a thin adapter over an injected transport.
The interface they implement is in ``base``.
"""
