"""WeChat Pay API v3, the pure parts: signatures, callbacks, order and refund messages.

Modules: :mod:`.signing` (SHA256withRSA both ways, ``Authorization`` header),
:mod:`.notifications` (callback verify/decrypt and build), :mod:`.transactions`
(prepay, query, close), :mod:`.refunds`, :mod:`.api` (request value, JSON and
error helpers). The transport that sends an :class:`~.api.ApiRequest` lives
outside this package. The names below are the package's public surface.
"""

from payment_bridge.channels.wechatpay.api import ApiRequest, parse_api_error
from payment_bridge.channels.wechatpay.notifications import (
    NotificationEvent,
    build_notification,
    decrypt_resource,
    encrypt_resource,
    parse_notification,
    parse_notification_event,
)
from payment_bridge.channels.wechatpay.refunds import (
    Refund,
    RefundOrder,
    build_refund,
    build_refund_query,
    parse_refund,
    parse_refund_request,
    refund_resource,
)
from payment_bridge.channels.wechatpay.signing import (
    build_authorization,
    jsapi_pay_params,
    parse_authorization,
    sign_message,
    signed_headers,
    verify_authorization,
    verify_signed_headers,
)
from payment_bridge.channels.wechatpay.transactions import (
    PrepayOrder,
    Transaction,
    build_close,
    build_jsapi_prepay,
    build_native_prepay,
    build_query_by_out_trade_no,
    parse_prepay_request,
    parse_prepay_response,
    parse_transaction,
    transaction_resource,
)

__all__ = [
    "ApiRequest",
    "NotificationEvent",
    "PrepayOrder",
    "Refund",
    "RefundOrder",
    "Transaction",
    "build_authorization",
    "build_close",
    "build_jsapi_prepay",
    "build_native_prepay",
    "build_notification",
    "build_query_by_out_trade_no",
    "build_refund",
    "build_refund_query",
    "decrypt_resource",
    "encrypt_resource",
    "jsapi_pay_params",
    "parse_api_error",
    "parse_authorization",
    "parse_notification",
    "parse_notification_event",
    "parse_prepay_request",
    "parse_prepay_response",
    "parse_refund",
    "parse_refund_request",
    "parse_transaction",
    "refund_resource",
    "sign_message",
    "signed_headers",
    "transaction_resource",
    "verify_authorization",
    "verify_signed_headers",
]
