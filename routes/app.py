"""The Flask app factory: settings in, an app out, no global state beyond the app."""
from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface
from prometheus_client import Counter, Histogram

from config.logging import configure_logging, correlation_id
from config.settings import Settings
from routes.errors import ApiError, register_error_handlers
from routes.openapi import GovlinkApi
from bus.runtime import Runtime

log = logging.getLogger("govlink.gateway")

REQUESTS = Counter("govlink_http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"])
LATENCY = Histogram("govlink_http_request_seconds", "HTTP request duration", ["method", "endpoint"])
_CID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    configure_logging(settings)
    app = Flask("govlink")
    app.json.ensure_ascii = False  # names and messages in Chinese as UTF-8, not \uXXXX (Flask 3 has no JSON_AS_ASCII)
    app.session_interface = CookieOnlySessions()
    app.extensions["govlink"] = Runtime(settings, name="gateway")
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

    from routes import callbacks, health, logistics_callbacks

    app.register_blueprint(health.blp)
    app.register_blueprint(callbacks.blp)  # payment platforms' callbacks (signed by the platform, no token)
    app.register_blueprint(logistics_callbacks.blp)  # courier pushes (re-queried or signed, no token)
    api = GovlinkApi(app)
    app.extensions["govlink_api"] = api
    for blueprint in _api_blueprints():
        api.register_blueprint(blueprint)
    register_error_handlers(app)  # after Api(), which installs its own HTTPException handler
    from routes import finance_console

    finance_console.init_app(app)  # the finance staff's reconciliation pages (R7), staff-console sign-in
    from routes import supervision_console
    from supervision.metrics import install_metrics

    supervision_console.init_app(app)  # the supervisors' pages (电子监察), OIDC sign-in
    install_metrics(app)  # supervision figures on /metrics, read from the database per scrape
    from supervision import calendar_health

    calendar_health.install(app)  # a calendar without next year's holidays: logged now, on /readyz and /metrics
    from routes.token_reads import TokenReads

    app.wsgi_app = TokenReads(app, app.wsgi_app)  # `GET /api/v1/me` with a known token, below Flask
    return app


class CookieOnlySessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building a signer for requests that carry no
    session cookie (every API call with a Bearer token): those start with an empty session, as
    Flask's own interface would give them, only sooner."""

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def _api_blueprints():
    """The flask-smorest blueprints of every area, in the order the OpenAPI document lists them."""
    from routes.api import identity, logistics, payments, reconciliation, services, supervision, system

    return [system.blp, identity.blp, identity.keycloak_blp, services.blp, payments.blp, logistics.blp, supervision.blp,
            reconciliation.blp]


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
        response.headers["X-Correlation-ID"] = g.get("correlation_id", "")
        _security_headers(response)
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        record_request(request.method, endpoint, request.path, response.status_code,
                       time.monotonic() - g.get("started", time.monotonic()))
        return response

    @app.teardown_request
    def _reset(_exc):
        token = g.pop("correlation_token", None)
        if token is not None:
            correlation_id.reset(token)


# Every answer may not be framed (clickjacking) nor sniffed; pages also get a CSP that forbids framing
# and plugins and pins <base>, and keep no referrer across sites (sign-in codes live in our URLs).
PAGE_CSP = "frame-ancestors 'none'; base-uri 'self'; object-src 'none'"


def _security_headers(response) -> None:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", PAGE_CSP)
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if g.get("staff_principal") is not None:
            headers.setdefault("Cache-Control", "no-store")  # staff pages stay out of caches


def correlation_id_from(incoming: str | None) -> str:
    """The caller's correlation id if it is well-formed, else a new one."""
    return incoming if incoming and _CID.match(incoming) else str(uuid.uuid4())


def record_request(method: str, endpoint: str, path: str, status: int, elapsed: float) -> None:
    """Count and time an answered request, and log it (not health checks and scrapes)."""
    REQUESTS.labels(method, endpoint, status).inc()
    LATENCY.labels(method, endpoint).observe(elapsed)
    if endpoint not in ("/healthz", "/metrics"):
        log.info("%s %s -> %s", method, path, status, extra={"status": status, "ms": round(elapsed * 1000, 1)})


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
