"""Platform callbacks (flow 4): `POST /callbacks/payments/<platform>`.

No bearer token here: the platform's own signature is the authentication, verified on the raw body
before anything is parsed (non-tax MAC; WeChat RSA signature, 5-minute window, AES-256-GCM). The
payment is then checked against the notice (amount, payer) and applied once per platform
transaction id. Answers are in the platform's format (non-tax 8001 GBK XML with MAC; WeChat
`{"code": "SUCCESS"}` or 4xx/5xx `{"code": "FAIL", "message": ...}`); every refusal is logged with
its error code, identifiers masked.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from payment_bridge.errors import PaymentError
from payment_bridge.platforms.base import PlatformUnavailable
from payment_bridge.service import Refused

log = logging.getLogger("govlink.payments.callbacks")

blp = Blueprint("payment_callbacks", __name__, url_prefix="/callbacks/payments")


@blp.post("/<platform_name>")
def payment_callback(platform_name: str):
    service = current_app.extensions["govlink"].payments
    platform = service.platforms.get(platform_name)
    if platform is None:
        return Response(status=404)
    raw = request.get_data(cache=False)  # the exact bytes the signature covers
    callback = None
    try:
        callback = platform.parse_callback(request.headers, raw)
        if callback.kind == "payment":
            outcome = service.apply_confirmation(platform_name, callback.payment, source="callback")
            log.info("payment callback %s: %s", platform_name, outcome.outcome,
                     extra={"platform": platform_name, "outcome": outcome.outcome,
                            "transaction_id": callback.payment.transaction_id})
        elif callback.kind == "refund":
            service.apply_refund_update(callback.refund.refund_no, callback.refund.status,
                                        callback.refund.platform_refund_id)
        answer = platform.callback_answer(callback, True, "ok", "ok")
    except (Refused, PaymentError) as exc:
        code = exc.code
        log.warning("payment callback refused: %s (%s)", code, exc.message,
                    extra={"platform": platform_name, "error_code": code, "remote_addr": request.remote_addr,
                           **(getattr(exc, "details", None) or {})})
        status_code = "platform_unavailable" if isinstance(exc, PlatformUnavailable) else code
        answer = platform.callback_answer(callback, False, status_code, exc.message)
    return Response(answer.body, status=answer.status, headers=answer.headers)
