"""SF Express adapter: the pure builders and parsers, wired to an injected transport."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from logistics_bridge.carriers.base import (
    BillLine,
    Carrier,
    PushResult,
    Send,
    ShipmentRequest,
    Waybill,
    require_ok,
)
from logistics_bridge.carriers.sf import messages, push, units
from logistics_bridge.carriers.sf.digest import build_form, dump_msg_data
from logistics_bridge.tracking import TrackingEvent

SANDBOX_URL = "https://sfapi-sbox.sf-express.com/std/service"


@dataclass(frozen=True)
class SfSettings:
    """SF open platform credentials. The check word never appears in a repr."""

    partner_id: str
    check_word: str = field(repr=False)
    monthly_card: str
    url: str = SANDBOX_URL


class SfCarrier(Carrier):
    """SF Express over its open platform (丰桥)."""

    name = units.CARRIER

    def __init__(
        self,
        settings: SfSettings,
        send: Send,
        *,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        new_request_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._settings = settings
        self._send = send
        self._clock_ms = clock_ms
        self._new_request_id = new_request_id

    def _call(self, service_code: str, msg: Mapping[str, Any]) -> dict[str, Any]:
        form = build_form(
            partner_id=self._settings.partner_id,
            request_id=self._new_request_id(),
            service_code=service_code,
            timestamp_ms=self._clock_ms(),
            msg_data=dump_msg_data(msg),
            check_word=self._settings.check_word,
        )
        response = self._send(
            self._settings.url,
            data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
        )
        return messages.parse_reply(require_ok(response, self.name))

    def create_waybill(self, request: ShipmentRequest) -> Waybill:
        """Book the leg; SF answers 8016 (``duplicate_order``) if the leg was booked before."""
        msg = messages.create_order_msg(request, monthly_card=self._settings.monthly_card)
        return messages.parse_create(self._call(units.CREATE_ORDER, msg), request.leg_id)

    def cancel(self, leg_id: str, waybill_no: str) -> None:
        """Cancel the order (dealType 2)."""
        messages.parse_cancel(self._call(units.UPDATE_ORDER, messages.cancel_order_msg(leg_id, waybill_no)))

    def track(self, waybill_no: str, *, phone: str | None = None) -> list[TrackingEvent]:
        """Query the routes of one waybill."""
        msg = messages.search_routes_msg(waybill_no, phone=phone)
        return messages.parse_routes(self._call(units.SEARCH_ROUTES, msg))

    def parse_push(self, body: bytes, content_type: str = "") -> PushResult:
        """Parse a route push (unsigned: the result is untrusted)."""
        return push.parse_push(body)

    def fetch_bill(self, waybill_nos: Sequence[str]) -> list[BillLine]:
        """Billed fees and weight per waybill, one EXP_RECE_QUERY_SFWAYBILL call each."""
        return [
            messages.parse_waybill_fees(self._call(units.QUERY_WAYBILL, messages.query_waybill_msg(no)))
            for no in waybill_nos
        ]
