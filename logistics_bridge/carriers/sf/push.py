"""SF route push (路由推送): parse, answer, and build (for the simulator).

Body: ``{"Body": {"WaybillRoute": [{id, mailno, orderid, acceptTime, acceptAddress,
remark, opCode}]}}``, answered ``{"return_code": "0000"}``. SF does not sign pushes, so
the result is untrusted: dedupe, then re-query the routes before closing a leg.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from logistics_bridge.carriers.base import PushResult
from logistics_bridge.carriers.sf import units
from logistics_bridge.carriers.sf.messages import route_event
from logistics_bridge.errors import CarrierError


def push_reply(ok: bool = True) -> bytes:
    """The reply SF expects: ``0000`` takes the push, anything else makes SF resend."""
    return json.dumps(units.PUSH_OK if ok else units.PUSH_FAIL, ensure_ascii=False).encode("utf-8")


def parse_push(body: bytes) -> PushResult:
    """Parse a route push into events plus the ``0000`` reply. Raises :class:`CarrierError`."""
    try:
        payload = json.loads(body)
        routes = payload["Body"]["WaybillRoute"]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        raise CarrierError("bad_push", "not an SF route push", units.CARRIER) from None
    if not isinstance(routes, list):
        raise CarrierError("bad_push", "WaybillRoute must be a list", units.CARRIER)
    events = []
    for route in routes:
        if not isinstance(route, dict) or not route.get("mailno"):
            raise CarrierError("bad_push", "a route without mailno", units.CARRIER)
        try:
            events.append(
                route_event(
                    str(route["mailno"]),
                    str(route.get("opCode", "")),
                    str(route.get("acceptTime", "")),
                    str(route.get("acceptAddress") or ""),
                    str(route.get("remark") or ""),
                )
            )
        except CarrierError as exc:
            raise CarrierError("bad_push", exc.message, units.CARRIER) from None
    return PushResult(events=tuple(events), reply=push_reply(True), trusted=False)


def make_push(routes: Iterable[Mapping[str, Any]]) -> bytes:
    """Build a route push body from route dicts (the simulator's side)."""
    return json.dumps({"Body": {"WaybillRoute": list(routes)}}, ensure_ascii=False).encode("utf-8")
