"""Courier pushes (flow 5): `POST /callbacks/logistics/<carrier>` for sf, ems and kuaidi100.

No bearer token: SF and EMS pushes are unsigned (or only encrypted), so they are treated as a hint
that a waybill has news: events already held are dropped by id and the carrier is asked for the
waybill's routes before anything moves. Kuaidi100 pushes are signed (MD5 with our salt) and applied
as they are once verified. Answers are in each carrier's format: SF `{"return_code":"0000"}`,
Kuaidi100 `{"result":true,"returnCode":"200"}`, EMS `{"code":"00000"}`; a failure answer makes
the carrier resend.
"""
from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, current_app, request

from logistics_bridge.carriers.kuaidi100 import callback_reply
from logistics_bridge.carriers.sf import push_reply
from logistics_bridge.errors import LogisticsError, SignatureError

log = logging.getLogger("govlink.logistics.callbacks")

blp = Blueprint("logistics_callbacks", __name__, url_prefix="/callbacks/logistics")

_JSON = "application/json;charset=UTF-8"


def _failure(source: str, message: str) -> bytes:
    if source == "sf":
        return push_reply(False)
    if source == "kuaidi100":
        return callback_reply(False)
    return json.dumps({"code": "S00001", "codeMessage": message[:100]}, ensure_ascii=False).encode("utf-8")


@blp.post("/<source>")
def logistics_callback(source: str):
    service = current_app.extensions["govlink"].logistics
    if source not in service.trackers:
        return Response(status=404)
    raw = request.get_data(cache=False)  # the exact bytes a signature covers
    try:
        reply, content_type, report = service.handle_push(source, raw, request.content_type or "")
    except SignatureError as exc:
        log.warning("logistics push refused: %s", exc.code, extra={"source": source, "error_code": exc.code,
                                                                     "remote_addr": request.remote_addr})
        return Response(_failure(source, exc.message), status=400, content_type=_JSON)
    except LogisticsError as exc:
        log.warning("logistics push not applied: %s (%s)", exc.code, exc.message,
                    extra={"source": source, "error_code": exc.code})
        status = 503 if getattr(exc, "retryable", False) else 400
        return Response(_failure(source, exc.message), status=status, content_type=_JSON)
    log.info("logistics push %s: %d new, %d moved, %d duplicates", source, report.stored, report.moved,
             report.duplicates, extra={"source": source, "unknown_waybills": len(report.unknown_waybills)})
    return Response(reply, status=200, content_type=content_type)
