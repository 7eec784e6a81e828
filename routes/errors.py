"""The gateway's one error handler and its JSON shape.

Every error a client sees is `{"code": "...", "message": "...", "details": {...}, "correlation_id": "..."}`
with a fitting HTTP status: a machine-readable code and a sentence a person can act on. `details` is
left out when empty, `correlation_id` when there is none.

Services and handlers raise `kernel.errors.CodedError`s (or subclasses: `Refused`, the bridges' error
families, `ApiError` for the few refusals the gateway makes itself); the handler here answers each
from its `status`, `code`, `message` and `details`, plus any `headers` it carries (e.g. `Retry-After`).
No route translates errors by hand. A CodedError with status 500 is logged with its traceback, other
5xx ones (something upstream is down or slow) in one line.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import exc as orm_exc
from werkzeug.exceptions import HTTPException

from config.logging import correlation_id
from kernel.errors import CodedError, Refused

log = logging.getLogger(__name__)


class ApiError(Refused):
    """A refusal the gateway itself makes (a `Refused` that can carry response `headers`)."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None, headers: dict | None = None):
        super().__init__(status, code, message, details)
        self.headers = dict(headers or {})


def coded_error_response(exc: CodedError):
    """The JSON answer to a CodedError, from its attributes."""
    return error_response(exc.status, exc.code, exc.message, exc.details, getattr(exc, "headers", None))


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


def _is_invalid_json(data) -> bool:
    """webargs' answer to an unparseable JSON body: `{"messages": {"json": ["Invalid JSON body."]}}`."""
    messages = data.get("messages") if isinstance(data, dict) else None
    return isinstance(messages, dict) and set(messages) == {"json"} and messages["json"] == ["Invalid JSON body."]


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(CodedError)
    def _coded_error(exc: CodedError):
        exc = exc.for_caller()
        if exc.status == 500:  # ours to fix: with the traceback
            log.error("request failed: %s (%s)", exc.code, type(exc).__name__, exc_info=exc)
        elif exc.status > 500:  # a department, the bus or a database is down or slow: one line
            log.warning("request failed: %s (%s)", exc.code, type(exc).__name__)
        return coded_error_response(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        status = exc.code or 500
        details = None
        data = getattr(exc, "data", None)  # flask-smorest / webargs put validation messages here
        if isinstance(data, dict) and data.get("messages"):
            details = {"fields": data["messages"]}
        code, message = _HTTP_CODES.get(status, f"http_{status}"), exc.description
        if status == 422:
            message = "The request did not pass validation; see details.fields."
        elif status == 400 and _is_invalid_json(data):
            code, message = "invalid_json", "The request body is not valid JSON (UTF-8)."
        # webargs passes `headers=None` when it has none to add
        headers = dict((data.get("headers") or {}) if isinstance(data, dict) else {})
        for key, value in exc.get_headers():  # e.g. `Allow` on 405, `Retry-After` on 503
            if key.lower() not in ("content-type", "content-length"):
                headers.setdefault(key, value)
        return error_response(status, code, message, details, headers)

    @app.errorhandler(RecursionError)
    def _too_deep(exc: RecursionError):
        # Python's JSON parser recurses once per nesting level: a body of 100,000 "[" ends up here.
        log.warning("request refused: recursion limit reached (deeply nested body)")
        return error_response(400, "invalid_json", "The request body is nested too deeply.")

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    @app.errorhandler(sa_exc.TimeoutError)
    def _database_unavailable(exc: Exception):
        # The database is down or restarting (connection refused, dropped, pool exhausted): a
        # temporary condition the caller can retry, not a bug. The pool's pre-ping reconnects on
        # its own once the database is back. No SQL or parameters in the answer or the log line.
        log.warning("database unavailable: %s", type(getattr(exc, "orig", None) or exc).__name__)
        return error_response(503, "database_unavailable", "The database is not available right now; try again shortly.",
                              headers={"Retry-After": "5"})

    @app.errorhandler(sa_exc.DataError)
    @app.errorhandler(OverflowError)
    def _out_of_range(exc: Exception):
        # A number or date the database (or datetime) cannot hold, e.g. a run id beyond 64 bits or
        # `until=9999-12-31` plus a day: the caller's value, not a bug. No SQL or value echoed.
        log.info("request refused: value out of range (%s)", type(getattr(exc, "orig", None) or exc).__name__)
        return error_response(422, "out_of_range", "A value in the request is out of the range this service "
                              "accepts (an id, an offset or a date); use a smaller one.")

    @app.errorhandler(sa_exc.StatementError)
    def _statement_error(exc: sa_exc.StatementError):
        # A bound value SQLAlchemy could not convert (e.g. a date beyond the calendar in UTC).
        if isinstance(exc.orig, OverflowError):
            return _out_of_range(exc)
        return _unexpected(exc)

    @app.errorhandler(orm_exc.StaleDataError)
    def _concurrent_update(exc: Exception):
        log.info("request refused: concurrent update of the same record")
        return error_response(409, "concurrent_update", "The record was changed by another request at the same "
                              "moment; read it again and retry.", headers={"Retry-After": "1"})

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side; quote the correlation id when you report it.")
