"""A lean path for department calls: `POST /api/v1/services/{service}/{operation}` below Flask.

A case system calls department services many times a second with one access token. In issue 18's
service_call profile, Flask, flask-smorest and webargs around the call were a fifth of the gateway's
CPU per call. Once the token is known good (verified and kept by `routes.auth`, as for
`routes.token_reads`), this WSGI middleware takes the call itself. It uses the same pieces Flask would:
- the request schema (`CallRequestSchema`) and the result schema (`CallResultSchema`);
- the one use case (`routes.service_calls`), with the same grant checks;
- the same JSON provider, headers, metrics and log line (`kernel.telemetry`).

Flask keeps every request this path does not take plainly, with its body given back unread. That is:
another method or path, a cookie, no body or not `application/json`, a body over the limit, no token,
an unknown or logged-out token, a caller short of the route's own `require_token` (scopes, roles, level),
a body the schema refuses, and a caller the grants refuse. Flask then
answers, refusals included, as it always has.

A failure of the call itself (the department's fault, a timeout, a case that is not the caller's) comes
after the call was recorded, so the request cannot be handed to Flask again. It is answered by Flask's
own error handler (`routes/errors.py`) in a request context made for it, with Flask's response hooks.
Every error a client sees is still written in one place.
"""
from __future__ import annotations

import io
import json
import re
import time

from marshmallow import ValidationError

from kernel.errors import CodedError
from kernel.telemetry import correlated, record_request, response_headers

PATH = re.compile(r"/api/v1/services/([A-Za-z0-9._~-]+)/([A-Za-z0-9._~-]+)")
ENDPOINT = "services.call"


class DepartmentCalls:
    """WSGI middleware: `app.wsgi_app = DepartmentCalls(app, app.wsgi_app)`."""

    def __init__(self, app, wsgi_app):
        from routes import service_calls
        from routes.api.services import CallRequestSchema, CallResultSchema
        from routes.auth import check_requirements, known_bearer

        self.app = app
        self.next = wsgi_app
        self.known_bearer, self.check_requirements = known_bearer, check_requirements
        # The route's own require_token (scopes, roles, level, channel): a caller short of them goes to Flask.
        self.requirements = app.view_functions[ENDPOINT]._govlink_auth
        self.use_case = service_calls
        self.request_schema, self.result_schema = CallRequestSchema(), CallResultSchema()
        self.rule = next(rule.rule for rule in app.url_map.iter_rules(ENDPOINT))
        self.runtime = app.extensions["govlink"]

    def __call__(self, environ, start_response):
        taken = self._take(environ)
        if taken is None:
            return self.next(environ, start_response)
        principal, service, operation, body, grant = taken
        started = time.monotonic()
        with correlated(environ) as cid:
            wait = "respond-async" not in environ.get("HTTP_PREFER", "")
            try:
                outcome = self.use_case.call(self.runtime, principal, service, operation, body, wait=wait,
                                             correlation_id=cid, status_url=self._status_url(environ), grant=grant)
            except Exception as exc:  # noqa: BLE001 (answered by Flask's own error handler, as in Flask)
                return self._flask_answer(environ, start_response, exc, cid, started)
            status = 200 if wait else 202
            answer = self.app.json.response(self.result_schema.dump(
                {**outcome, "service": service, "operation": operation})).get_data()
            start_response(f"{status} {'OK' if wait else 'ACCEPTED'}", [
                ("Content-Type", "application/json"), ("Content-Length", str(len(answer))),
                ("Location", outcome["status_url"]), *response_headers(cid, "application/json")])
            record_request("POST", self.rule, environ.get("PATH_INFO", ""), status, time.monotonic() - started)
            return [answer]

    def _take(self, environ):
        """(principal, service, operation, body, grant) for a call this path answers, else None; the body,
        if read, is given back to `environ` for Flask."""
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        path = PATH.fullmatch(environ.get("PATH_INFO", ""))
        if path is None or environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != "application/json":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if not 0 < length <= self.app.config["MAX_CONTENT_LENGTH"]:
            return None
        _token, principal = self.known_bearer(environ, self.app)  # never a verification here
        if principal is None:
            return None
        try:
            self.check_requirements(principal, **self.requirements)
        except CodedError:
            return None
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)  # Flask reads the same body if it answers
        try:
            body = self.request_schema.load(json.loads(raw))
        except (ValueError, ValidationError, TypeError, RecursionError):  # Flask answers 400/422 as it always has
            return None
        service, operation = path.groups()
        try:
            grant = self.use_case.authorize(self.runtime, principal, service, operation, body["payload"])
        except CodedError:  # refused before anything was recorded: Flask refuses it the same way
            return None
        return principal, service, operation, body, grant

    def _status_url(self, environ):
        """The status URL of a call, as `url_for("services.call_status")` builds it."""
        adapter = self.app.url_map.bind("", script_name=environ.get("SCRIPT_NAME") or "/")
        return lambda call_id: adapter.build("services.call_status", {"call_id": call_id})

    def _flask_answer(self, environ, start_response, exc: Exception, cid: str, started: float):
        """The answer Flask gives when its view raises `exc`: its error handler and response hooks."""
        from flask import g

        with self.app.request_context(environ):
            g.correlation_id, g.started = cid, started
            try:  # as Flask's full_dispatch_request and wsgi_app do with what a view raises
                response = self.app.finalize_request(self.app.handle_user_exception(exc))
            except Exception as unhandled:  # noqa: BLE001
                response = self.app.handle_exception(unhandled)
        return response(environ, start_response)
