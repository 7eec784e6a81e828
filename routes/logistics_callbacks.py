"""Courier pushes (flow 5): `POST /callbacks/logistics/<carrier>` for sf, ems and kuaidi100.

No bearer token: SF and EMS pushes are unsigned (or only encrypted), so they are treated as a hint
that a waybill has news: events already held are dropped by id and the carrier is asked for the
waybill's routes before anything moves. Kuaidi100 pushes are signed (MD5 with our salt) and applied
as they are once verified. Answers are in each carrier's format: SF `{"return_code":"0000"}`,
Kuaidi100 `{"result":true,"returnCode":"200"}`, EMS `{"code":"00000"}`; a failure answer makes
the carrier resend.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, request

blp = Blueprint("logistics_callbacks", __name__, url_prefix="/callbacks/logistics")


@blp.post("/<source>")
def logistics_callback(source: str):
    raw = request.get_data(cache=False)  # the exact bytes a signature covers
    answer = current_app.extensions["govlink"].logistics.intake.answer_push(
        source, raw, request.content_type or "", remote_addr=request.remote_addr)
    if answer is None:
        return Response(status=404)
    return Response(answer.body, status=answer.status, content_type=answer.content_type)
