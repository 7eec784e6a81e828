"""The self-service kiosk (自助终端): signs in by the OAuth 2.0 device authorization grant.

The kiosk shows a user code and a link (a QR code in the hall); the citizen opens it on the
phone or browser where they are already signed in and grants access; the kiosk's poll then
gets the tokens. No password is typed at the kiosk.
"""
from __future__ import annotations

from flask import Flask, redirect, render_template_string, session, url_for

from kernel.http import http_session

CLIENT_ID = "kiosk"
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>自助终端 kiosk</title>
{% if waiting %}<meta http-equiv="refresh" content="{{ interval }}">{% endif %}</head><body>
<h1>自助终端 self-service kiosk</h1>
{% if me %}<p id="status" data-signed-in="yes">已登录 signed in: <span id="name">{{ me.name }}</span>,
  等级 level <span id="level">{{ me.acr }}</span></p><p><a href="{{ url_for('start') }}">下一位 next</a></p>
{% elif waiting %}<p>请用已登录的手机打开 open on your signed-in phone:</p>
  <p><a id="verification-link" href="{{ link }}">{{ link }}</a></p>
  <p>用户码 user code: <strong id="user-code">{{ user_code }}</strong></p>
  <p id="status" data-signed-in="no">等待确认 waiting{% if error %} ({{ error }}){% endif %}</p>
{% else %}<p id="status" data-signed-in="no">未登录 signed out{% if error %} ({{ error }}){% endif %}</p>
  <p><a id="start" href="{{ url_for('start') }}">开始 start</a></p>{% endif %}
</body></html>"""


def create_kiosk(settings) -> Flask:
    app = Flask("channel-kiosk")
    app.secret_key = settings.gateway_client_secret + ":kiosk"
    app.config.update(SESSION_COOKIE_NAME="kiosk_session")
    http = http_session(settings.http_timeout_seconds)
    oidc = f"{settings.issuer}/protocol/openid-connect"

    @app.get("/start")
    def start():
        session.clear()
        device = http.post(f"{oidc}/auth/device", data={"client_id": CLIENT_ID, "scope": "openid"}).json()
        session["device"] = {k: device[k] for k in ("device_code", "user_code", "verification_uri_complete", "interval")}
        return redirect(url_for("home"))

    @app.get("/")
    def home():
        error = None
        device = session.get("device")
        if device and "token" not in session:
            r = http.post(f"{oidc}/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                                                 "device_code": device["device_code"], "client_id": CLIENT_ID})
            body = r.json()
            if r.ok:
                session["token"] = body["access_token"]
            elif body.get("error") not in ("authorization_pending", "slow_down"):
                session.pop("device")
                device, error = None, body.get("error")
        me = None
        if "token" in session:
            r = http.get(f"{settings.public_base_url.rstrip('/')}/api/v1/me",
                         headers={"Authorization": f"Bearer {session['token']}"})
            me = r.json() if r.ok else None
            if me is None:
                session.clear()
                error = "会话已结束 session ended"
        return render_template_string(PAGE, me=me, waiting=bool(device) and me is None, error=error,
                                      link=(device or {}).get("verification_uri_complete"),
                                      user_code=(device or {}).get("user_code"), interval=(device or {}).get("interval", 2))

    return app
