"""The Flask app: a runtime and the gateway's parts in, an app out, no global state beyond the app.

`bootstrap.gateway.create_app(settings)` builds the runtime and hands this module the gateway's
blueprints and installers from the process table (`bootstrap.table`); every answer's correlation id,
headers and metrics come from `kernel.telemetry`, as on the token fast path (`routes.token_reads`).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface

from config.logging import configure_logging
from kernel import tracing
from kernel.telemetry import correlation_id, correlation_id_from, record_request, response_headers
from routes.errors import ApiError, register_error_handlers
from routes.openapi import GovlinkApi

log = logging.getLogger("govlink.gateway")


def build_app(runtime, *, blueprints: Iterable = (), api_blueprints: Iterable = (),
              installs: Iterable[Callable[[Flask], None]] = ()) -> Flask:
    """The gateway over `runtime`: plain `blueprints`, the flask-smorest `api_blueprints` (in the order the
    OpenAPI document lists them), then each of `installs(app)` (consoles, metrics collectors)."""
    settings = runtime.settings
    configure_logging(settings)
    app = Flask("govlink")
    app.json.ensure_ascii = False  # names and messages in Chinese as UTF-8, not \uXXXX (Flask 3 has no JSON_AS_ASCII)
    app.session_interface = CookieOnlySessions()
    app.extensions["govlink"] = runtime
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="govlink",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/static/",  # served from the swagger-ui-bundle package: no CDN needed
        API_SPEC_OPTIONS={
            "info": {"description": "Integration middleware for Hefei's online government services."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        },
    )
    _install_request_hooks(app)
    _register_swagger_assets(app)

    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    api = GovlinkApi(app)
    app.extensions["govlink_api"] = api
    for blueprint in api_blueprints:
        api.register_blueprint(blueprint)
    register_error_handlers(app)  # after Api(), which installs its own HTTPException handler
    for install in installs:
        install(app)
    _install_lean_paths(app)
    return app


def _install_lean_paths(app: Flask) -> None:
    """The WSGI layers that answer hot requests with a known token below Flask. Not in a traced gateway:
    there Flask answers every request, and its instrumentation (kernel.tracing) opens each one's span."""
    from routes.call_path import ENDPOINT, DepartmentCalls
    from routes.token_reads import TokenReads

    if tracing.active():
        return
    if ENDPOINT in app.view_functions:  # department calls with a known token
        app.wsgi_app = DepartmentCalls(app, app.wsgi_app)
    app.wsgi_app = TokenReads(app, app.wsgi_app)  # `GET /api/v1/me` with a known token


class CookieOnlySessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building a signer for requests that carry no
    session cookie (every API call with a Bearer token): those start with an empty session, as
    Flask's own interface would give them, only sooner."""

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def _install_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start():
        cid = correlation_id_from(request.headers.get("X-Correlation-ID") or request.headers.get("X-Request-ID"))
        g.correlation_token = correlation_id.set(cid)
        g.correlation_id = cid
        g.started = time.monotonic()
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and request.content_length > limit:
            # Refuse before any view reads the body (Werkzeug would only stop at the first read).
            raise ApiError(413, "body_too_large", f"The request body is larger than {limit} bytes.")
        view = app.view_functions.get(request.endpoint)
        if getattr(view, "_govlink_auth", None) is not None and request.method != "OPTIONS":
            # A protected route checks the token before anything reads the body: an anonymous
            # caller learns nothing of the body's rules (issue 15). Scopes, roles, level: the view.
            from routes.auth import authenticate

            authenticate()
        if _has_body() and not request.is_json and _takes_json(view):
            # Without this a form or XML body reads as "no JSON" and the caller only hears "field missing".
            raise ApiError(415, "unsupported_media_type", "This endpoint takes a JSON body: send "
                           "Content-Type: application/json.", {"content_type": (request.mimetype or "")[:100]})

    @app.after_request
    def _finish(response):
        for name, value in response_headers(g.get("correlation_id", ""), response.mimetype,
                                            staff=g.get("staff_principal") is not None):
            if name == "X-Correlation-ID" or name not in response.headers:  # a view's own headers stay
                response.headers[name] = value
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        record_request(request.method, endpoint, request.path, response.status_code,
                       time.monotonic() - g.get("started", time.monotonic()))
        return response

    @app.teardown_request
    def _reset(_exc):
        token = g.pop("correlation_token", None)
        if token is not None:
            correlation_id.reset(token)


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _takes_json(view) -> bool:
    """Whether a flask-smorest view declares a JSON body (`@blp.arguments(Schema)`)."""
    parameters = getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    return any(p.get("in") == "json" for p in parameters)


def _register_swagger_assets(app: Flask) -> None:
    import swagger_ui_bundle
    from flask import send_from_directory

    @app.get("/api/docs/static/<path:filename>")
    def swagger_static(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)
