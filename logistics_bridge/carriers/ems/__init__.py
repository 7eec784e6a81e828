"""China Post EMS (中国邮政): SM4-sealed payloads, builders and parsers, adapter.

``units`` holds the codes and their mapping; ``crypto`` the SM4 sealing (both sides);
``messages`` the pure builders and parsers, pushes included; ``client`` the adapter.
"""

from logistics_bridge.carriers.ems.client import EmsCarrier, EmsSettings
from logistics_bridge.carriers.ems.crypto import open_sealed, seal
from logistics_bridge.carriers.ems.messages import build_form, make_push, make_reply, parse_push, verify_form

__all__ = [
    "EmsCarrier",
    "EmsSettings",
    "build_form",
    "make_push",
    "make_reply",
    "open_sealed",
    "parse_push",
    "seal",
    "verify_form",
]
