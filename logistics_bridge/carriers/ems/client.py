"""China Post EMS adapter: the pure builders and parsers, wired to an injected transport."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from logistics_bridge.carriers.base import Carrier, PushResult, Send, ShipmentRequest, Waybill, require_ok
from logistics_bridge.carriers.ems import messages, units
from logistics_bridge.tracking import TrackingEvent

PRODUCTION_URL = "https://api.ems.com.cn/amp-prod-api/f/amp/api/open"


@dataclass(frozen=True)
class EmsSettings:
    """EMS agreement-customer credentials. Secrets never appear in a repr.

    ``biz_product_no`` and ``contents_attribute`` are agreed per contract with the
    local post office; the defaults are the ones a public integration uses.
    """

    sender_no: str  # 协议客户号
    authorization: str = field(repr=False)  # 授权码
    sign_key: str = field(repr=False)  # Base64 SM4 key
    url: str = PRODUCTION_URL
    biz_product_no: str = "10"
    contents_attribute: str = "3"


class EmsCarrier(Carrier):
    """China Post EMS over its agreement-customer API."""

    name = units.CARRIER

    def __init__(
        self,
        settings: EmsSettings,
        send: Send,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._settings = settings
        self._send = send
        self._clock = clock

    def _call(self, api_code: str, payload: Mapping[str, Any]) -> Any:
        form = messages.build_form(
            api_code,
            payload,
            sender_no=self._settings.sender_no,
            authorization=self._settings.authorization,
            sign_key=self._settings.sign_key,
            now=self._clock(),
        )
        response = self._send(
            self._settings.url,
            data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"},
        )
        return messages.parse_reply(require_ok(response, self.name))

    def create_waybill(self, request: ShipmentRequest) -> Waybill:
        """Book the leg (apiCode 020003)."""
        payload = messages.create_order_payload(
            request,
            sender_no=self._settings.sender_no,
            biz_product_no=self._settings.biz_product_no,
            contents_attribute=self._settings.contents_attribute,
            now=self._clock(),
        )
        return messages.parse_create(self._call(units.CREATE_ORDER, payload), request.leg_id)

    def cancel(self, leg_id: str, waybill_no: str) -> None:
        """Cancel the order (apiCode 020006); a non-00000 retCode raises CarrierError."""
        self._call(units.CANCEL_ORDER, messages.cancel_order_payload(leg_id, waybill_no))

    def track(self, waybill_no: str, *, phone: str | None = None) -> list[TrackingEvent]:
        """Query the trace (apiCode 040001)."""
        return messages.parse_trace(self._call(units.TRACK, messages.track_payload(waybill_no)))

    def parse_push(self, body: bytes, content_type: str = "") -> PushResult:
        """Open and parse a trace push (no integrity: the result is untrusted)."""
        return messages.parse_push(
            body, content_type, sign_key=self._settings.sign_key, sender_no=self._settings.sender_no
        )
