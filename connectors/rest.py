"""REST connector (`kind: rest`): JSON in and out through govlink's HTTP session factory.

Path placeholders (`/licences/{licence_id}`) are filled from canonical payload fields; the other
fields are mapped by `request` and sent as the query string (GET, DELETE) or a JSON body. With
`openapi:` the department's OpenAPI 3 document decides instead (query parameters to the query
string, the rest to the body), every request is validated against it before it is sent
(`invalid_request` naming the field) and every answer after (`bad_response`).
"""
from __future__ import annotations

import json
import threading
from typing import Mapping
from urllib.parse import quote

import requests

from connectors.base import Connector
from connectors.charset import decode_text
from connectors.declaration import OperationDeclaration, ServiceDeclaration
from connectors.errors import ConnectorError
from connectors.openapi import Document, OpenApiProblem, Operation, check_paths, location_of, parse_document, read_location
from connectors.openapi_request import place, request_fields, response_fields
from kernel.http import http_session

_QUERY_METHODS = {"GET", "DELETE"}


def expand_path(template: str, payload: Mapping) -> tuple[str, dict]:
    """Fill `{field}` placeholders from `payload`; returns the path and the unused fields.

    Values are percent-encoded as one segment each, so `../` or `/` in a value cannot change
    which resource is addressed; `.` and `..` are refused. Raises KeyError naming a missing field
    and ValueError naming a field whose value cannot be a path segment.
    """
    rest = dict(payload)
    path = template
    for name in OperationDeclaration(name="", path=template).path_fields:
        if rest.get(name) in (None, ""):
            raise KeyError(name)
        value = str(rest.pop(name))
        if value in (".", ".."):
            raise ValueError(name)
        path = path.replace("{" + name + "}", quote(value, safe=""))
    return path, rest


class RestConnector(Connector):
    """A department service reached by HTTP + JSON."""

    def __init__(self, declaration: ServiceDeclaration, *, secret: str | None = None, **kwargs):
        super().__init__(declaration, **kwargs)
        self._session = http_session(timeout=declaration.timeout_seconds)
        self._session.headers["Accept"] = "application/json"
        auth = declaration.auth
        if auth.type == "basic":
            self._session.auth = (auth.username, secret)
        elif auth.type == "bearer":
            self._session.headers["Authorization"] = f"Bearer {secret}"
        self._base = declaration.base_url.rstrip("/")
        self._lock = threading.Lock()
        self._document: Document | None = None
        self._checked: dict[str, Operation] = {}

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ the OpenAPI document
    def _openapi(self) -> Document:
        """The department's OpenAPI document, read once (a failure is retried on the next call)."""
        with self._lock:
            if self._document is None:
                decl = self.declaration
                url = location_of(decl.openapi, decl.source)
                try:
                    with http_session(timeout=20) as session:  # no credentials: the document may be elsewhere
                        self._document = Document(parse_document(read_location(url, session), url), url)
                except OpenApiProblem as exc:
                    raise self._misconfigured(exc) from None
            return self._document

    def _operation(self, op: OperationDeclaration) -> Operation | None:
        """The OpenAPI operation of `op` (None without `openapi:`); `misconfigured` naming the file and field."""
        if not self.declaration.openapi:
            return None
        found = self._checked.get(op.name)
        if found is not None:
            return found
        document, where = self._openapi(), f"operations.{op.name}"
        try:
            operation = document.find(op.method, op.path)
            if operation is None:
                same = sorted(f"{o.method.upper()} {o.path}" for o in document.operations() if o.method == op.method.lower())
                raise OpenApiProblem(f"{where}.path: {op.method} {op.path} is not in the OpenAPI document {document.url}; "
                                     f"its {op.method} operations are: {', '.join(same) or 'none'}")
            problems = []
            if op.request:
                problems += [f"{where}.request: {p}" for p in
                             check_paths(op.request.values(), request_fields(document, operation), "request")]
            if op.response:
                problems += [f"{where}.response: {p}" for p in
                             check_paths(op.response, response_fields(document, operation), "response")]
            if problems:
                raise OpenApiProblem("; ".join(problems))
        except OpenApiProblem as exc:
            raise self._misconfigured(exc) from None
        self._checked[op.name] = operation
        return operation

    def _misconfigured(self, problem: OpenApiProblem) -> ConnectorError:
        source = self.declaration.source
        return ConnectorError("misconfigured", f"{source}: {problem}", details={"file": source})

    def check(self) -> list[str]:
        """Every problem of this declaration against its OpenAPI document (read now); [] when it fits or has none."""
        problems = []
        for op in self.declaration.operations.values():
            try:
                self._operation(op)
            except ConnectorError as exc:
                problems.append(exc.message)
                if self._document is None:
                    break  # the document itself: one message
        return problems

    def _prepare(self, op: OperationDeclaration, payload: dict) -> tuple[str, dict]:
        """(path, requests keyword arguments): placeholders filled, fields mapped to query or body."""
        try:
            path, rest = expand_path(op.path, payload)
        except KeyError as missing:
            raise ConnectorError("invalid_request", f"{self.service}/{op.name} needs the field {missing.args[0]}.") from None
        except ValueError as bad:
            raise ConnectorError("invalid_request", f"{self.service}/{op.name}: {bad.args[0]} cannot be . or ..") from None
        request = super()._prepare(op, rest)
        operation = self._operation(op)
        if operation is not None:
            path_values = {name: payload.get(name) for name in op.path_fields}
            try:
                query, body, problems = place(self._openapi(), operation, path_values, request, op.request)
            except OpenApiProblem as exc:
                raise self._misconfigured(exc) from None
            if problems:
                raise ConnectorError("invalid_request", f"{self.service}/{op.name}: " + "; ".join(
                    f"{field} {reason}" for field, reason in problems.items()), details={"fields": list(problems)})
            return path, {"params": query, **({"json": body} if body is not None else {})}
        if op.method not in _QUERY_METHODS:
            return path, {"json": request}
        nested = sorted(k for k, v in request.items() if isinstance(v, (dict, list)))
        if nested:
            raise ConnectorError("invalid_request", f"{self.service}/{op.name}: {', '.join(nested)} must be plain values.")
        return path, {"params": {k: v for k, v in request.items() if v is not None}}

    def _invoke(self, op: OperationDeclaration, request: tuple[str, dict], timeout: float):
        path, kwargs = request
        try:
            response = self._session.request(op.method, self._base + path, timeout=timeout, **kwargs)
        except requests.Timeout:
            raise ConnectorError("timeout", f"{self.service} did not answer {op.name} within {timeout:g} s.",
                                 details={"timeout_seconds": timeout}) from None
        except requests.RequestException as exc:
            raise ConnectorError("unavailable", f"{self.service} could not be reached for {op.name} ({type(exc).__name__}).") from None
        return self._answer(op, response)

    def _answer(self, op: OperationDeclaration, response: requests.Response):
        status = response.status_code
        details = {"status": status}
        if status >= 500 or status == 429:
            raise ConnectorError("unavailable", f"{self.service} failed {op.name} with HTTP {status}; try again later.", details=details)
        if status == 404:
            raise ConnectorError("not_found", f"{self.service} has no record for {op.name}.", details=details)
        if status in (400, 422):
            raise ConnectorError("invalid_request", f"{self.service} refused {op.name} as invalid{self._reason(response)}.", details=details)
        if status in (401, 403):
            raise ConnectorError("rejected", f"{self.service} refused govlink's credentials (HTTP {status}).", details=details)
        if not 200 <= status < 300:
            raise ConnectorError("bad_response", f"{self.service} answered {op.name} with HTTP {status}.", details=details)
        if status == 204 or not response.content:
            return {}
        try:
            body = json.loads(decode_text(response.content, response.headers.get("Content-Type")))
        except (ValueError, LookupError):
            raise ConnectorError("bad_response", f"{self.service} answered {op.name} with a body that is not JSON.", details=details) from None
        self._check_answer(op, status, body)
        # A canonical answer is an object; a bare JSON list becomes {"items": [...]}.
        return {"items": body} if isinstance(body, list) else body

    def _check_answer(self, op: OperationDeclaration, status: int, body) -> None:
        """`bad_response` when the OpenAPI document does not allow this answer (status and fields)."""
        operation = self._checked.get(op.name)
        if operation is None:
            return
        declared, pointer = operation.response_pointer(status)
        if not declared:
            raise ConnectorError("bad_response", f"{self.service} answered {op.name} with HTTP {status}, which its "
                                 f"OpenAPI document does not declare.", details={"status": status})
        try:
            found = self._openapi().errors(pointer, body, "response") if pointer else []
        except OpenApiProblem as exc:
            raise self._misconfigured(exc) from None
        # a list answer arrives as {"items": [...]}
        problems = {("items" + f if f.startswith("[]") else f): reason for f, reason in found}
        if problems:
            raise ConnectorError("bad_response", f"{self.service} answered {op.name} in a shape its OpenAPI document "
                                 "does not allow: " + "; ".join(f"{f} {r}" for f, r in problems.items()),
                                 details={"status": status, "fields": list(problems)})

    @staticmethod
    def _reason(response: requests.Response) -> str:
        """A short reason from a JSON error body (`message` or `error`), if the department gave one."""
        try:
            body = json.loads(decode_text(response.content, response.headers.get("Content-Type")))
        except (ValueError, LookupError):
            return ""
        reason = body.get("message") or body.get("error") if isinstance(body, dict) else None
        return f": {str(reason)[:200]}" if reason else ""
