"""How the payment bridge is put together: its profiles, platforms and service, from what a process shares.

The process's runtime calls `build_payments` once and keeps the result (`runtime.payments`).
"""
from __future__ import annotations


def build_payments(settings, db, publisher, message_log):
    """The payment service on `db`, publishing through `publisher`, with the configured platforms."""
    from payment_bridge.platforms import build_platforms
    from payment_bridge.profiles import load_profiles
    from payment_bridge.service import PaymentService

    profiles = load_profiles(settings)
    return PaymentService(db, profiles, build_platforms(profiles), publisher=publisher, message_log=message_log)
