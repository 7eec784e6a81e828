"""Kuaidi100 adapter: a tracker (not a carrier) bound to one courier's waybills."""

from __future__ import annotations

from dataclasses import dataclass, field

from logistics_bridge.carriers.base import PushResult, Send, Tracker, require_ok
from logistics_bridge.carriers.kuaidi100 import messages, units
from logistics_bridge.errors import CarrierError
from logistics_bridge.tracking import TrackingEvent

_FORM = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}


@dataclass(frozen=True)
class Kuaidi100Settings:
    """Kuaidi100 enterprise credentials. Secrets never appear in a repr."""

    customer: str
    key: str = field(repr=False)
    salt: str = field(repr=False)  # signs the pushes of our subscriptions
    callback_url: str = ""
    query_url: str = units.QUERY_URL
    subscribe_url: str = units.SUBSCRIBE_URL


class Kuaidi100Tracker(Tracker):
    """Tracking of one courier's waybills (``carrier`` = ``sf`` or ``ems``) through Kuaidi100.

    Without ``carrier`` it only reads pushes (which name their waybills' company themselves).
    """

    name = units.SOURCE

    def __init__(self, settings: Kuaidi100Settings, send: Send, *, carrier: str | None = None) -> None:
        self._settings = settings
        self._send = send
        self._company = messages.company_code(carrier) if carrier is not None else None

    @property
    def company(self) -> str:
        """Kuaidi100's code of the courier this tracker queries and subscribes for."""
        if self._company is None:
            raise CarrierError("unknown_carrier", "this Kuaidi100 tracker is bound to no courier", self.name)
        return self._company

    def track(self, waybill_no: str, *, phone: str | None = None) -> list[TrackingEvent]:
        """Real-time query (SF waybills need a phone of either party)."""
        form = messages.query_form(
            company=self.company,
            number=waybill_no,
            customer=self._settings.customer,
            key=self._settings.key,
            phone=phone,
        )
        response = self._send(self._settings.query_url, data=form, headers=_FORM)
        return messages.parse_query_reply(require_ok(response, self.name))

    def subscribe(self, waybill_no: str, *, phone: str | None = None) -> None:
        """Ask Kuaidi100 to push every change of this waybill to our callback URL."""
        form = messages.subscribe_form(
            company=self.company,
            number=waybill_no,
            key=self._settings.key,
            callback_url=self._settings.callback_url,
            salt=self._settings.salt,
            phone=phone,
        )
        response = self._send(self._settings.subscribe_url, data=form, headers=_FORM)
        messages.parse_subscribe_reply(require_ok(response, self.name))

    def parse_push(self, body: bytes, content_type: str = "") -> PushResult:
        """Verify the push's salted signature and parse it (trusted once verified)."""
        callback = messages.parse_callback(body, self._settings.salt)
        return PushResult(events=callback.events, reply=messages.callback_reply(True), trusted=True)
