"""Platform callbacks (flow 4): `POST /callbacks/payments/<platform>`.

No bearer token here: the platform's own signature is the authentication. The payment bridge's
confirm handler (`payment_bridge.handlers.confirm`) verifies it on the raw body, applies the payment
or refund outcome, logs any refusal, and gives back the answer in the platform's own format.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

blp = Blueprint("payment_callbacks", __name__, url_prefix="/callbacks/payments")


@blp.post("/<platform_name>")
def payment_callback(platform_name: str):
    raw = request.get_data(cache=False)  # the exact bytes the signature covers
    answer = current_app.extensions["govlink"].payments.confirming.callback(
        platform_name, request.headers, raw, remote_addr=request.remote_addr)
    if answer is None:
        return Response(status=404)
    return Response(answer.body, status=answer.status, headers=answer.headers)
