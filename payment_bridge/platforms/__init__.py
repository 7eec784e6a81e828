"""Platform adapters behind one small interface (`base.PaymentPlatform`); one module per platform.

A new payment channel is one module here plus its profile in config/payments.yaml.
"""
from __future__ import annotations

from payment_bridge.platforms.base import (CallbackAnswer, ConfirmedPayment, IncomingCallback, PaymentPlatform,
                                           PlatformUnavailable, QueryResult, Registration, RefundResult)


def build_platforms(profiles) -> dict[str, PaymentPlatform]:
    """Every platform adapter by name (the names are `payment_bridge.requests.PLATFORMS`)."""
    from payment_bridge.platforms.nontax import NontaxPlatform
    from payment_bridge.platforms.wechatpay import WechatPayPlatform
    from payment_bridge.requests import PLATFORMS

    adapters = {"nontax": NontaxPlatform, "wechatpay": WechatPayPlatform}
    assert set(adapters) == set(PLATFORMS), "one adapter per platform name"
    return {name: adapters[name](profiles) for name in PLATFORMS}


__all__ = ["CallbackAnswer", "ConfirmedPayment", "IncomingCallback", "PaymentPlatform", "PlatformUnavailable",
           "QueryResult", "Registration", "RefundResult", "build_platforms"]
