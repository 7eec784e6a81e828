"""Sign-in for the staff pages (finance console, supervision, ...): one shared module.

OpenID Connect against Keycloak (realm from Settings) with authlib's Flask client, authorization
code + PKCE, as the confidential client ``staff-console`` (config/realm.py). The sign-in is kept
server-side (:class:`idp.sessions.ConsoleSessions`: access, refresh and ID token, encrypted); the
signed cookie carries only its random id, so logout (which sends ``id_token_hint`` to Keycloak) and
Keycloak's back-channel logout end it for every copy of the cookie. Every protected page checks the
access token as the API does
(:func:`routes.auth.principal_of`: signature, issuer, audience ``govlink``, expiry; sessions ended
by back-channel logout refused), refreshes it once when it expired, and checks the realm roles:

    from routes.console_auth import console_login_required, current_staff, csrf_protect

    @blp.get("/")
    @console_login_required(roles=("finance",))
    def runs(): ... current_staff().username ...

A person who is not signed in is sent to Keycloak and back; one signed in without a needed role
gets the consoles' 403 page (``console/forbidden.html`` in the shared layout and language). POST forms carry
``csrf_token()`` (a per-session secret) and are checked by :func:`csrf_protect`.
Call :func:`init_console_auth` once from the app factory (idempotent).
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from authlib.integrations.flask_client import OAuth
from flask import (Blueprint, abort, current_app, g, redirect, render_template, render_template_string, request,
                   session, url_for)
from markupsafe import Markup, escape

from config.realm import derived_secret
from idp.principal import Principal
from idp.tokens import TokenError
from idp.sessions import console_sessions_for, ended_sessions_for
from routes.auth import SessionEnded, principal_of
from routes.console_i18n import consoles_for, current_language, translator

CLIENT_ID = "staff-console"
SESSION_KEY = "staff_session"  # the id of the server-side console session
NEXT_KEY = "staff_next"
CSRF_KEY = "staff_csrf"
EXTENSION = "console_oauth"

blp = Blueprint("console_auth", __name__, url_prefix="/console/auth",
                template_folder=str(Path(__file__).resolve().parent / "templates"))  # console/forbidden.html


def init_console_auth(app) -> None:
    """Register the OIDC client and the /console/auth routes on ``app`` (once)."""
    if EXTENSION in app.extensions:
        return
    settings = app.extensions["govlink"].settings
    if not app.secret_key:
        # The session cookie is signed with a key derived from the gateway secret (one secret to set).
        app.secret_key = hmac.new(settings.gateway_client_secret.encode(), b"govlink-session",
                                  hashlib.sha256).hexdigest()
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SECURE"] = settings.public_base_url.startswith("https://")
    oauth = OAuth()
    oauth.init_app(app)
    oauth.register("staff_console", client_id=CLIENT_ID, client_secret=derived_secret(settings, CLIENT_ID),
                   server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid", "code_challenge_method": "S256"})
    app.extensions[EXTENSION] = oauth
    app.register_blueprint(blp)
    app.context_processor(lambda: {"csrf_token": csrf_token})


def _client():
    return current_app.extensions[EXTENSION].staff_console


def _lang() -> str:
    return current_language()


# ------------------------------------------------------------------------------------ CSRF
def csrf_token() -> str:
    """The session's CSRF secret, for a hidden ``csrf`` field in every POST form."""
    token = session.get(CSRF_KEY)
    if not token:
        token = session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_field() -> Markup:
    return Markup(f'<input type="hidden" name="csrf" value="{escape(csrf_token())}">')


def check_csrf() -> None:
    """400 unless the form's ``csrf`` equals the session's secret (constant-time)."""
    sent = request.form.get("csrf", "")
    expected = session.get(CSRF_KEY, "")
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        abort(400, description="CSRF token missing or wrong; reload the page and try again.")


def csrf_protect(view):
    """Decorate a POST view so it runs only with the right CSRF token."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        check_csrf()
        return view(*args, **kwargs)

    return wrapper


# ------------------------------------------------------------------------------------ sign-in
def signed_in_principal() -> Principal | None:
    """The signed-in person, refreshing the access token once if it expired; None if signed out."""
    if "staff_principal" in g:
        return g.staff_principal
    store = console_sessions_for(current_app)
    session_id = session.get(SESSION_KEY)
    token = store.tokens(session_id)
    principal = None
    if token:
        for attempt in (1, 2):
            try:
                principal = principal_of(token["access_token"])
            except SessionEnded:  # logged out in another channel: sign in again
                break
            except TokenError:
                if attempt == 2 or not token.get("refresh_token"):
                    break
                try:
                    fresh = _client().fetch_access_token(grant_type="refresh_token",
                                                         refresh_token=token["refresh_token"])
                except Exception:  # noqa: BLE001 - an expired or revoked refresh token: sign in again
                    break
                token = {"access_token": fresh["access_token"],
                         "refresh_token": fresh.get("refresh_token", token["refresh_token"]),
                         "id_token": fresh.get("id_token", token.get("id_token"))}
                store.update(session_id, token)
                continue
            break
    if principal is None and session_id:
        store.close(session_id)
        session.pop(SESSION_KEY, None)
    g.staff_principal = principal
    return principal


def current_staff() -> Principal:
    """The principal of a view protected by :func:`console_login_required`."""
    principal = g.get("staff_principal")
    if principal is None:
        raise RuntimeError("current_staff() outside a view protected by console_login_required")
    return principal


def _forbidden_context(principal: Principal, roles) -> dict:
    """The shared layout's context for the 403 page, whichever console (or none) the page belongs to."""
    lang = current_language()
    console = g.get("console", "common")
    return {"user": principal.username or principal.subject, "roles": list(roles), "lang": lang,
            "html_lang": "zh-CN" if lang == "zh" else "en", "t": translator(lang, console), "console": console,
            "consoles": consoles_for(principal.roles)}


def console_login_required(roles: tuple[str, ...] = (), *, forbidden_template: str | None = None):
    """Decorate a page: signed-in staff with one of ``roles`` only (sign-in redirect, else 403)."""
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = signed_in_principal()
            if principal is None:
                if request.method != "GET":
                    abort(401)
                return redirect(url_for("console_auth.login", next=request.full_path if request.query_string
                                        else request.path))
            if roles and not principal.roles.intersection(roles):
                return render_template(forbidden_template or "console/forbidden.html",
                                       **_forbidden_context(principal, roles)), 403
            return view(*args, **kwargs)

        wrapper._console_roles = roles
        return wrapper

    return decorator


# What a browser drops or reads differently in a URL (WHATWG URL parsing): C0 controls and space
# (trimmed at the ends, tab and newlines removed anywhere), DEL, and the backslash (a slash in http URLs).
_UNSAFE_IN_NEXT = frozenset(map(chr, range(0x21))) | {"\x7f", "\\"}


def _safe_next(target: str | None) -> str:
    """`target` if a browser reads it as a path on this site, else "/" (never an open redirect).

    Refuses the value as a whole rather than cleaning it: anything the browser would strip or
    reinterpret (``/\t/evil.example`` becomes ``//evil.example``), any scheme or authority, and
    anything longer than a URL should be. The result is also safe in a Location header (no newline).
    """
    if not target or len(target) > 2048 or not _UNSAFE_IN_NEXT.isdisjoint(target):
        return "/"
    if not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


@blp.get("/login")
def login():
    session[NEXT_KEY] = _safe_next(request.args.get("next"))
    return _client().authorize_redirect(url_for(".callback", _external=True),
                                        ui_locales="en" if _lang() == "en" else "zh-CN")


@blp.get("/callback")
def callback():
    token = _client().authorize_access_token()
    try:
        principal = principal_of(token["access_token"])  # verified before anything is kept
    except TokenError as exc:
        abort(401, description=f"The sign-in could not be verified ({exc.description}); sign in again.")
    store = console_sessions_for(current_app)
    store.close(session.pop(SESSION_KEY, None))
    session.pop(CSRF_KEY, None)  # a new sign-in, a new CSRF secret
    session[SESSION_KEY] = store.open({k: token[k] for k in ("access_token", "refresh_token", "id_token") if k in token},
                                      sid=principal.claims.get("sid"), subject=principal.subject)
    return redirect(_safe_next(session.pop(NEXT_KEY, None)))


@blp.get("/logout")
def logout():
    tokens = console_sessions_for(current_app).close(session.pop(SESSION_KEY, None)) or {}
    session.clear()
    params = {"client_id": CLIENT_ID, "post_logout_redirect_uri": url_for(".signed_out", _external=True)}
    if tokens.get("id_token"):
        # With the hint Keycloak ends the session without asking, and tells every client (back-channel).
        params["id_token_hint"] = tokens["id_token"]
        try:
            principal = principal_of(tokens["access_token"])
        except TokenError:
            principal = None
        if principal is not None and principal.claims.get("sid"):  # refused here at once, whatever Keycloak does
            ended_sessions_for(current_app).end(principal.claims["sid"], principal.subject, CLIENT_ID)
    end = _client().load_server_metadata()["end_session_endpoint"]
    return redirect(f"{end}?{urlencode(params)}")


@blp.get("/signed-out")
def signed_out():
    return render_template_string(
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>已退出 Signed out</title></head>'
        '<body><main><p>您已退出登录。You are signed out.</p></main></body></html>')
