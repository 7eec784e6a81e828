"""Platform adapters behind one small interface (`base.PaymentPlatform`); one module per platform.

A new payment channel is one module here plus its profile in config/payments.yaml.
"""
from __future__ import annotations

from payment_bridge.platforms.base import (CallbackAnswer, ConfirmedPayment, IncomingCallback, PaymentPlatform,
                                           PlatformUnavailable, QueryResult, Registration, RefundResult)


def build_platforms(profiles) -> dict[str, PaymentPlatform]:
    """Every configured platform adapter by name."""
    from payment_bridge.platforms.nontax import NontaxPlatform
    from payment_bridge.platforms.wechatpay import WechatPayPlatform

    return {"nontax": NontaxPlatform(profiles), "wechatpay": WechatPayPlatform(profiles)}


__all__ = ["CallbackAnswer", "ConfirmedPayment", "IncomingCallback", "PaymentPlatform", "PlatformUnavailable",
           "QueryResult", "Registration", "RefundResult", "build_platforms"]
