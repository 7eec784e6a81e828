"""The supervision page (电子监察) for the `supervisor` role: open warnings, a case's timeline,
statistics with charts, complaints. Server-rendered, Simplified Chinese by default (English with
`?lang=en` or Accept-Language).

Sign-in: OpenID Connect against Keycloak with authlib's Flask client (authorization code + PKCE)
as the confidential client `supervision-console` (config/realm.py). The tokens live in the signed
session cookie; every page verifies the access token like the API does (`idp.tokens`, audience
`govlink`, sessions ended by back-channel logout refused), refreshes it when it expired, and
answers a signed-in person without the `supervisor` role with a 403 page.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth
from flask import (Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for)

from config.realm import derived_secret
from idp.principal import Principal
from payment_bridge.beijing_time import to_beijing
from idp.sessions import ended_sessions_for
from idp.tokens import TokenError, verifier_for
from routes.api.supervision import complaint_view, period, timeline_view, warning_view
from store.models.supervision import CaseSatisfaction, Complaint
from supervision import feedback
from supervision.access import SUPERVISOR_ROLE
from supervision.console import bar_chart, pick_language, translator
from supervision.statistics import open_warnings, statistics
from supervision.timeline import case_timeline

CLIENT_ID = "supervision-console"
TOKEN_KEY = "supervision_token"
TEMPLATES = Path(__file__).resolve().parent.parent / "supervision" / "templates"

blp = Blueprint("supervision_console", __name__, url_prefix="/supervision", template_folder=str(TEMPLATES))


def init_app(app) -> None:
    """Register the page and its OIDC client on the gateway app."""
    settings = app.extensions["govlink"].settings
    if not app.secret_key:
        # The session cookie is signed with a key derived from the gateway secret (one secret to set).
        app.secret_key = hmac.new(settings.gateway_client_secret.encode(), b"govlink-session", hashlib.sha256).hexdigest()
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = settings.public_base_url.startswith("https://")
    oauth = OAuth(app)
    oauth.register("supervision_console", client_id=CLIENT_ID, client_secret=derived_secret(settings, CLIENT_ID),
                   server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
                   client_kwargs={"scope": "openid", "code_challenge_method": "S256"})
    app.extensions["supervision_oauth"] = oauth
    app.register_blueprint(blp)


def _client():
    return current_app.extensions["supervision_oauth"].supervision_console


def _runtime():
    return current_app.extensions["govlink"]


# ---------------------------------------------------------------------------------- language
@blp.before_request
def _language():
    lang = pick_language(request.args.get("lang"), session.get("lang"), request.accept_languages)
    if request.args.get("lang") in ("zh", "en"):
        session["lang"] = lang
    g.lang = lang


@blp.app_context_processor
def _template_helpers():
    lang = g.get("lang", "zh")
    return {"t": translator(lang), "lang": lang, "html_lang": "zh-CN" if lang == "zh" else "en"}


def _csrf_token() -> str:
    token = session.get("supervision_csrf")
    if not token:
        token = session["supervision_csrf"] = secrets.token_urlsafe(24)
    return token


def _check_csrf() -> None:
    sent = request.form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent, session.get("supervision_csrf", "")):
        abort(400)


# ---------------------------------------------------------------------------------- sign-in
def _principal() -> Principal | None:
    """The signed-in person, refreshing the access token once if it expired; None if signed out."""
    token = session.get(TOKEN_KEY)
    if not token:
        return None
    verifier = verifier_for(_runtime().settings)
    for attempt in (1, 2):
        try:
            claims = verifier.verify(token["access_token"])
        except TokenError:
            if attempt == 2 or not token.get("refresh_token"):
                break
            try:
                fresh = _client().fetch_access_token(grant_type="refresh_token", refresh_token=token["refresh_token"])
            except Exception:
                break
            token = {k: fresh.get(k, token.get(k)) for k in ("access_token", "refresh_token", "id_token")}
            session[TOKEN_KEY] = token
            continue
        if ended_sessions_for(current_app).is_ended(claims.get("sid")):
            break
        return Principal.from_claims(claims)
    session.pop(TOKEN_KEY, None)
    return None


def _supervisor():
    """The signed-in supervisor, or a response: the sign-in redirect or the 403 page."""
    principal = _principal()
    if principal is None:
        return None, redirect(url_for(".login", next=request.full_path if request.query_string else request.path))
    if SUPERVISOR_ROLE not in principal.roles:
        return None, (render_template("supervision/forbidden.html", user=principal.username), 403)
    g.user = principal
    return principal, None


@blp.get("/login")
def login():
    target = request.args.get("next") or url_for(".dashboard")
    session["supervision_next"] = target if target.startswith("/supervision") else url_for(".dashboard")
    return _client().authorize_redirect(url_for(".callback", _external=True),
                                        ui_locales="zh-CN" if g.lang == "zh" else "en")


@blp.get("/callback")
def callback():
    token = _client().authorize_access_token()
    session[TOKEN_KEY] = {k: token[k] for k in ("access_token", "refresh_token", "id_token") if k in token}
    return redirect(session.pop("supervision_next", None) or url_for(".dashboard"))


@blp.get("/logout")
def logout():
    token = session.pop(TOKEN_KEY, None) or {}
    end = _client().load_server_metadata()["end_session_endpoint"]
    params = {"post_logout_redirect_uri": url_for(".dashboard", _external=True), "client_id": CLIENT_ID}
    if token.get("id_token"):
        params["id_token_hint"] = token["id_token"]
    return redirect(f"{end}?{urlencode(params)}")


# ---------------------------------------------------------------------------------- pages
@blp.get("/")
def dashboard():
    principal, refused = _supervisor()
    if refused:
        return refused
    t = translator(g.lang)
    service = (request.args.get("service") or "").strip()[:100] or None
    since, until = period({})
    with _runtime().db.unit_of_work() as session_:
        warnings = [warning_view(w, g.lang) for w in open_warnings(session_)
                    if service is None or w["service"] == service]
        stats = statistics(session_, since=since, until=until, service=service)
        complaints = [complaint_view(c) for c in feedback.complaints(session_, limit=50)]
    charts = [
        bar_chart(t("chart_p95"), [(g_["key"], round(g_["p95_ms"] / 1000, 2)) for g_ in stats["by_service"]
                                   if g_["p95_ms"] is not None][:20], fmt=lambda v: f"{v:g} s"),
        bar_chart(t("chart_overdue"), [(g_["key"], g_["overdue_rate"]) for g_ in stats["by_system"]][:20],
                  fmt=lambda v: f"{v:.0%}"),
    ]
    return render_template("supervision/dashboard.html", warnings=warnings, stats=stats, charts=charts,
                           complaints=complaints, service=service or "", user=principal.username,
                           period_text=f"{to_beijing(since):%Y-%m-%d} — {to_beijing(until - timedelta(seconds=1)):%Y-%m-%d}")


@blp.get("/cases")
def find_case():
    case_id = (request.args.get("case_id") or "").strip()
    return redirect(url_for(".case", case_id=case_id) if case_id else url_for(".dashboard"))


@blp.get("/cases/<case_id>")
def case(case_id):
    principal, refused = _supervisor()
    if refused:
        return refused
    with _runtime().db.unit_of_work() as session_:
        timeline = case_timeline(session_, case_id[:64])
        view = timeline_view(timeline, session_.get(CaseSatisfaction, case_id[:64]), g.lang)
        complaints = [complaint_view(c) for c in feedback.complaints(session_, case_id=case_id[:64])]
    status = 200 if timeline.entries else 404
    return render_template("supervision/case.html", case=view, complaints=complaints, user=principal.username), status


@blp.get("/complaints/<complaint_id>")
def complaint(complaint_id):
    principal, refused = _supervisor()
    if refused:
        return refused
    with _runtime().db.unit_of_work() as session_:
        row = session_.get(Complaint, complaint_id[:36])
        if row is None:
            abort(404)
        view = complaint_view(row)
    return render_template("supervision/complaint.html", complaint=view, csrf=_csrf_token(), user=principal.username)


@blp.post("/complaints/<complaint_id>/<action>")
def complaint_action(complaint_id, action):
    principal, refused = _supervisor()
    if refused:
        return refused
    _check_csrf()
    if action not in feedback.TRANSITIONS:
        abort(404)
    kwargs = {}
    if action == "assign":
        kwargs["assignee"] = (request.form.get("assignee") or "").strip()[:200]
    elif action == "reply":
        kwargs["reply"] = (request.form.get("reply") or "").strip()[:2000]
    try:
        with _runtime().db.unit_of_work() as session_:
            feedback.act(session_, complaint_id[:36], action, principal.username or principal.subject, **kwargs)
    except feedback.FeedbackError as exc:
        return render_template("supervision/complaint_error.html", message=exc.message,
                               complaint_id=complaint_id, user=principal.username), exc.status
    return redirect(url_for(".complaint", complaint_id=complaint_id))
