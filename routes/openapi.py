"""The OpenAPI document's error side: govlink's error shape, and the error statuses every route can answer.

flask-smorest documents errors with its own schema (`code` an integer); govlink answers
`{"code", "message", "details", "correlation_id"}` (routes/errors.py), so `GovlinkApi` swaps the
schema in. `ErrorResponses` then adds, to every operation, the statuses the shared machinery
answers on its own: bad JSON (400), token (401, 403), unknown id in the path (404), body too large
(413), not JSON (415), validation (422), a backing service down (503). Statuses only a route knows
(409, 502, 504, a second success status) stay next to the route as `@blp.alt_response`.
"""
from __future__ import annotations

from apispec import BasePlugin
from flask_smorest import Api
from marshmallow import Schema, fields


class ErrorSchema(Schema):
    """Every error answer of the API (routes/errors.py)."""

    code = fields.String(required=True, metadata={"description": "machine-readable, e.g. invalid_token"})
    message = fields.String(required=True, metadata={"description": "what went wrong and how to fix the request"})
    details = fields.Dict(metadata={"description": "fields that failed validation, ids, limits"})
    correlation_id = fields.String(metadata={"description": "quote it when reporting a problem"})


_BODY = {"400": "BAD_REQUEST", "413": "REQUEST_ENTITY_TOO_LARGE", "415": "UNSUPPORTED_MEDIA_TYPE",
         "422": "UNPROCESSABLE_ENTITY"}
_SECURED = {"401": "UNAUTHORIZED", "403": "FORBIDDEN"}


class ErrorResponses(BasePlugin):
    """An apispec plugin: document the shared error statuses on every operation."""

    def operation_helper(self, path=None, operations=None, **kwargs):
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict) or method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            extra = {"503": "SERVICE_UNAVAILABLE"}
            if operation.get("security"):
                extra.update(_SECURED)
            if "{" in (path or ""):
                extra["404"] = "NOT_FOUND"
            if "requestBody" in operation:
                extra.update(_BODY)
            if any(p.get("in") == "query" for p in operation.get("parameters", []) if isinstance(p, dict)):
                extra["422"] = "UNPROCESSABLE_ENTITY"
            for status, name in extra.items():
                if status not in responses and int(status) not in responses:
                    responses[status] = name


class GovlinkApi(Api):
    """flask-smorest's Api with govlink's error schema and error statuses in the document."""

    ERROR_SCHEMA = ErrorSchema

    def __init__(self, app):
        super().__init__(app, spec_kwargs={"extra_plugins": [ErrorResponses()]})
