"""Kuaidi100 (快递100), the tracking aggregator: signatures, query/subscribe/push, adapter.

``units`` holds the state codes and their mapping; ``sign`` the MD5 signatures (both
sides, constant-time checks); ``messages`` the pure builders and parsers; ``client``
the tracker adapter.
"""

from logistics_bridge.carriers.kuaidi100.client import Kuaidi100Settings, Kuaidi100Tracker
from logistics_bridge.carriers.kuaidi100.messages import (
    callback_reply,
    make_callback,
    make_result,
    parse_callback,
    parse_query_reply,
    query_form,
    subscribe_form,
)
from logistics_bridge.carriers.kuaidi100.sign import callback_sign, query_sign, verify_callback, verify_query

__all__ = [
    "Kuaidi100Settings",
    "Kuaidi100Tracker",
    "callback_reply",
    "callback_sign",
    "make_callback",
    "make_result",
    "parse_callback",
    "parse_query_reply",
    "query_form",
    "query_sign",
    "subscribe_form",
    "verify_callback",
    "verify_query",
]
