"""SF Express (顺丰) open platform: digest, msgData builders, reply and push parsers, adapter.

``units`` holds the codes and their mapping; ``digest`` the signed form (both sides);
``messages`` the pure builders and parsers; ``push`` the route push; ``client`` the
adapter that wires them to an injected transport.
"""

from logistics_bridge.carriers.sf.client import SfCarrier, SfSettings
from logistics_bridge.carriers.sf.digest import build_form, java_url_encode, msg_digest, verify_request
from logistics_bridge.carriers.sf.messages import make_reply, parse_reply
from logistics_bridge.carriers.sf.push import make_push, parse_push, push_reply

__all__ = [
    "SfCarrier",
    "SfSettings",
    "build_form",
    "java_url_encode",
    "make_push",
    "make_reply",
    "msg_digest",
    "parse_push",
    "parse_reply",
    "push_reply",
    "verify_request",
]
