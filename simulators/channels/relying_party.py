"""The portal and the mobile H5 app: real OIDC relying parties of Keycloak (authlib's Flask client).

Both use the authorization code flow with PKCE (S256); the portal is a confidential client, the
mobile app a public one. After sign-in each asks govlink `GET /api/v1/me` with its access token:
that is how a channel finds out it is signed out when Keycloak's back-channel logout ended the
session elsewhere (govlink then refuses the token).
"""
from __future__ import annotations

import hashlib
import hmac

from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, render_template_string, request, session, url_for

from kernel.http import http_session

KC_ACTIONS = ("webauthn-register-passwordless", "govlink-verify-phone")
PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head><body>
<h1>{{ title }}</h1>
{% if me %}
  <p id="status" data-signed-in="yes">已登录 signed in: <span id="name">{{ me.name }}</span>
     (<span id="resident-id">{{ me.resident_id }}</span>), 等级 level <span id="level">{{ me.acr }}</span>
     {% if me.acting_for %}, 代表企业 acting for <span id="enterprise">{{ me.acting_for }}</span>{% endif %}</p>
  {% if requests %}<h2>待确认的登录请求 sign-in requests</h2><ul>
    {% for r in requests %}<li>{{ r.binding_message or r.client_id }}
      <form method="post" action="{{ url_for('decide', request_id=r.id) }}" style="display:inline">
        <button name="decision" value="approve" id="approve-{{ loop.index }}">同意 approve</button>
        <button name="decision" value="deny">拒绝 deny</button></form></li>{% endfor %}</ul>{% endif %}
  <p><a id="register-passkey" href="{{ url_for('login', kc_action='webauthn-register-passwordless') }}">注册通行密钥 add a passkey</a>
     <a id="verify-phone" href="{{ url_for('login', kc_action='govlink-verify-phone') }}">验证手机号 verify phone</a></p>
  <p><a id="logout" href="{{ url_for('logout') }}">退出 log out</a></p>
{% else %}
  <p id="status" data-signed-in="no">未登录 signed out{% if reason %} ({{ reason }}){% endif %}</p>
  <p><a id="login" href="{{ url_for('login') }}">登录 sign in</a></p>
{% endif %}
</body></html>"""


def create_relying_party(settings, *, client_id: str, title: str, client_secret: str | None, cookie: str) -> Flask:
    """A minimal channel web app signed in through Keycloak; mount it under its own path prefix."""
    app = Flask(f"channel-{client_id}")
    app.secret_key = hmac.new(settings.gateway_client_secret.encode(), f"channel-session:{client_id}".encode(),
                              hashlib.sha256).hexdigest()
    app.config.update(SESSION_COOKIE_NAME=cookie, SESSION_COOKIE_SAMESITE="Lax")
    oauth = OAuth(app)
    kwargs = {"scope": "openid", "code_challenge_method": "S256"}
    if client_secret is None:
        kwargs["token_endpoint_auth_method"] = "none"
    keycloak = oauth.register("keycloak", client_id=client_id, client_secret=client_secret,
                              server_metadata_url=f"{settings.issuer}/.well-known/openid-configuration",
                              client_kwargs=kwargs)
    gateway = http_session(settings.http_timeout_seconds)
    api = settings.public_base_url.rstrip("/")

    def me():
        """govlink's view of our token, or (None, reason) when there is none or it is refused."""
        token = session.get("token")
        if not token:
            return None, None
        r = gateway.get(f"{api}/api/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"})
        if r.status_code == 401:
            refreshed = _refresh(token)
            if refreshed is None:
                session.pop("token", None)
                return None, "会话已结束 session ended"
            session["token"] = refreshed
            r = gateway.get(f"{api}/api/v1/me", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
        return (r.json(), None) if r.ok else (None, f"govlink: {r.status_code}")

    def _refresh(token):
        try:
            return keycloak.fetch_access_token(grant_type="refresh_token", refresh_token=token["refresh_token"])
        except Exception:
            return None

    @app.get("/")
    def home():
        profile, reason = me()
        requests_ = []
        if profile and client_id == "mobile-app":
            r = gateway.get(f"{api}/api/v1/identity/ciba/requests",
                            headers={"Authorization": f"Bearer {session['token']['access_token']}"})
            requests_ = r.json() if r.ok else []
        return render_template_string(PAGE, title=title, me=profile, reason=reason, requests=requests_)

    @app.get("/login")
    def login():
        # Application-initiated actions (issue 21): a passkey, a phone verified by SMS code.
        action = request.args.get("kc_action")
        extra = {"kc_action": action} if action in KC_ACTIONS else {}
        return keycloak.authorize_redirect(url_for("callback", _external=True), **extra)

    @app.get("/callback")
    def callback():
        token = keycloak.authorize_access_token()
        session["token"] = {k: token[k] for k in ("access_token", "refresh_token", "id_token") if k in token}
        return redirect(url_for("home"))

    @app.get("/logout")
    def logout():
        token = session.pop("token", None) or {}
        end = keycloak.load_server_metadata()["end_session_endpoint"]
        params = {"post_logout_redirect_uri": url_for("home", _external=True), "client_id": client_id}
        if token.get("id_token"):
            params["id_token_hint"] = token["id_token"]
        from urllib.parse import urlencode

        return redirect(f"{end}?{urlencode(params)}")

    @app.post("/ciba/<request_id>")
    def decide(request_id):
        token = session.get("token") or {}
        gateway.post(f"{api}/api/v1/identity/ciba/requests/{request_id}", json={"decision": request.form["decision"]},
                     headers={"Authorization": f"Bearer {token.get('access_token', '')}"})
        return redirect(url_for("home"))

    return app
