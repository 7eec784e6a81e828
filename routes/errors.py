"""The gateway's one error type and its JSON shape.

Every error a client sees is `{"code": "...", "message": "...", "details": {...}, "correlation_id": "..."}`
with a fitting HTTP status: a machine-readable code and a sentence a person can act on.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from config.logging import correlation_id

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raise anywhere in a request to answer with `status` and a JSON error body."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, details: dict | None = None, headers: dict | None = None):
    body = {"code": code, "message": message}
    if details:
        body["details"] = details
    cid = correlation_id.get()
    if cid:
        body["correlation_id"] = cid
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


# Codes for the statuses Werkzeug and flask-smorest raise on their own.
_HTTP_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    406: "not_acceptable", 409: "conflict", 413: "body_too_large", 415: "unsupported_media_type",
    422: "validation_failed", 429: "too_many_requests", 503: "unavailable",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        details = None
        data = getattr(exc, "data", None)  # flask-smorest / webargs put validation messages here
        if isinstance(data, dict) and data.get("messages"):
            details = {"fields": data["messages"]}
        message = exc.description if status != 422 else "The request did not pass validation; see details.fields."
        headers = dict(getattr(exc, "data", {}).get("headers", {}) if isinstance(data, dict) else {})
        return error_response(status, _HTTP_CODES.get(status, f"http_{status}"), message, details, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side; quote the correlation id when you report it.")
