"""The carriers' transport: the `Send` callable the adapters take, over the one HTTP session factory.

No retries here (the bus's retry tiers and the poller own them); a connection failure or timeout
becomes a retryable `CarrierError` so the caller can tell it from a refusal.
"""
from __future__ import annotations

from collections.abc import Mapping

import requests

from kernel.http import http_session
from logistics_bridge.carriers.base import Send, TransportResponse
from logistics_bridge.errors import CarrierError


def http_send(carrier: str, timeout: float, *, user_agent: str = "govlink-logistics/0.1") -> Send:
    """A transport that POSTs form fields or a raw body to a carrier and returns status, body and headers."""
    session = http_session(timeout, user_agent=user_agent)

    def send(url: str, *, data: Mapping[str, str] | None = None, body: bytes | None = None,
             headers: Mapping[str, str] | None = None) -> TransportResponse:
        try:
            response = session.post(url, data=dict(data) if data is not None else body, headers=dict(headers or {}))
        except requests.Timeout:
            raise CarrierError("timeout", f"no answer within {timeout:.0f} s", carrier, retryable=True) from None
        except requests.RequestException as exc:
            raise CarrierError("unreachable", f"carrier not reachable ({type(exc).__name__})", carrier,
                               retryable=True) from None
        return TransportResponse(response.status_code, response.content, dict(response.headers))

    return send


def http_get(carrier: str, timeout: float):
    """GET for bill downloads: returns the raw bytes of a 200, else raises `CarrierError`."""
    session = http_session(timeout, user_agent="govlink-logistics/0.1")

    def get(url: str) -> bytes:
        try:
            response = session.get(url)
        except requests.RequestException as exc:
            raise CarrierError("unreachable", f"carrier not reachable ({type(exc).__name__})", carrier,
                               retryable=True) from None
        if response.status_code != 200:
            raise CarrierError(f"http_{response.status_code}", f"HTTP {response.status_code} for the bill",
                               carrier, retryable=response.status_code >= 500)
        return response.content

    return get
