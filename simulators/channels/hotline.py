"""The hotline agent's console (服务热线): asks the caller's consent by CIBA, naming them by ID number.

Keycloak sends the request to govlink's authentication channel; the citizen approves in the
mobile app; the console's poll then gets tokens that act for the caller.
"""
from __future__ import annotations

from flask import Flask, redirect, render_template_string, request, session, url_for

from config.realm import derived_secret
from kernel.http import http_session
from kernel.identifiers import InvalidIdentifier, mask, validate_resident_id

CLIENT_ID = "hotline"
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>服务热线 hotline</title>
{% if waiting %}<meta http-equiv="refresh" content="1">{% endif %}</head><body>
<h1>服务热线 hotline console</h1>
{% if me %}<p id="status" data-signed-in="yes">来电人已确认 caller confirmed: <span id="name">{{ me.name }}</span>
  (<span id="resident-id">{{ me.resident_id }}</span>)</p>
{% elif waiting %}<p id="status" data-signed-in="no">等待来电人在手机上确认 waiting for {{ masked }}</p>
{% else %}{% if error %}<p id="error">{{ error }}</p>{% endif %}
<form method="post" action="{{ url_for('ask') }}"><label>居民身份证号码 <input name="resident_id" id="resident-id-input"></label>
<button id="ask">发送确认 ask</button></form>{% endif %}
</body></html>"""


def create_hotline(settings) -> Flask:
    app = Flask("channel-hotline")
    app.secret_key = settings.gateway_client_secret + ":hotline"
    app.config.update(SESSION_COOKIE_NAME="hotline_session")
    http = http_session(settings.http_timeout_seconds)
    oidc = f"{settings.issuer}/protocol/openid-connect"
    secret = derived_secret(settings, CLIENT_ID)

    @app.post("/ask")
    def ask():
        try:
            resident_id = validate_resident_id(request.form.get("resident_id", ""))
        except InvalidIdentifier as exc:
            session["error"] = str(exc)
            return redirect(url_for("home"))
        r = http.post(f"{oidc}/ext/ciba/auth", data={"client_id": CLIENT_ID, "client_secret": secret, "scope": "openid",
                                                     "login_hint": resident_id, "binding_message": "HOTLINE-12345"})
        if r.ok:
            session.update(auth_req_id=r.json()["auth_req_id"], masked=mask(resident_id), error=None)
        else:
            session["error"] = r.json().get("error_description") or r.json().get("error")
        return redirect(url_for("home"))

    @app.get("/")
    def home():
        me = None
        if session.get("auth_req_id"):
            r = http.post(f"{oidc}/token", data={"grant_type": "urn:openid:params:grant-type:ciba", "client_id": CLIENT_ID,
                                                 "client_secret": secret, "auth_req_id": session["auth_req_id"]})
            if r.ok:
                session.pop("auth_req_id")
                session["token"] = r.json()["access_token"]
            elif r.json().get("error") not in ("authorization_pending", "slow_down"):
                session.pop("auth_req_id")
                session["error"] = r.json().get("error")
        if session.get("token"):
            r = http.get(f"{settings.public_base_url.rstrip('/')}/api/v1/me",
                         headers={"Authorization": f"Bearer {session['token']}"})
            me = r.json() if r.ok else None
        return render_template_string(PAGE, me=me, waiting=bool(session.get("auth_req_id")), masked=session.get("masked"),
                                      error=session.get("error"))

    return app
