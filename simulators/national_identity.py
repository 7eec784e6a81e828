"""Stand-in for the national government service platform's unified identity (国家政务服务平台统一身份认证),
an OpenID Connect provider mounted at `/national-id` (issuer: its own URL, e.g. http://127.0.0.1:8100/national-id).

- `GET /.well-known/openid-configuration`, `GET /jwks` (RS256, a key made at start);
- `GET /authorize` (code flow; PKCE S256 required): a page where the person gives a resident ID
  number (`#id-number`) and consents (`#national-consent`); `POST /authorize` redirects back with a
  code. The platform "knows" every valid Anhui number (34…) under `population.table_name()`, and the
  seeded people of the population simulator under their names; other numbers are refused on the page;
- `POST /token` (client_secret_post or basic; one use per code; redirect_uri and code_verifier checked)
  -> `id_token` + `access_token`; `GET /userinfo` with the access token.
Claims: `sub` (a stable pseudonym), `preferred_username` and `resident_id` (the verified number),
`name`, `family_name`, `given_name`, `acr` "L2", `nonce`.
- `POST /_admin/clients {"client_id", "client_secret"}` registers a relying party; the realm's
  (`hefei-govlink`, secret derived from GOVLINK_GATEWAY_CLIENT_SECRET) is known from the start.
"""
from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from urllib.parse import urlencode

from flask import jsonify, redirect, request
from joserfc import jwk, jwt

from simulators.control import ControlState, Misbehaviour, json_fault, system_app
from simulators.population import SEED_PEOPLE, table_name

_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>国家政务服务平台 统一身份认证</title></head>
<body><h1>国家政务服务平台 统一身份认证</h1><p>{error}</p>
<form method="post" action="{action}">{hidden}
<label>居民身份证号码 <input id="id-number" name="id_number" autocomplete="off"></label>
<button id="national-consent" type="submit">同意授权并登录</button></form></body></html>"""


def _default_clients() -> dict:
    try:
        from config.realm import derived_secret
        from config.settings import Settings

        return {"hefei-govlink": derived_secret(Settings.from_env(), "national-gov")}
    except Exception:  # settings that do not load: register the client through _admin/clients
        return {}


def verified_name(id_number: str) -> str | None:
    """The name the platform verified for this number, or None if it does not know it."""
    for person in SEED_PEOPLE:
        if person.idNumber == id_number:
            return person.name
    try:
        return table_name(id_number) if id_number.startswith("34") else None
    except (ValueError, IndexError):
        return None


class NationalIdData:
    def __init__(self):
        self.lock = threading.Lock()
        self.key = jwk.RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"})
        self.clients = _default_clients()
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}


def _claims(id_number: str, name: str) -> dict:
    sub = hashlib.sha256(("national-gov:" + id_number).encode()).hexdigest()[:32]
    return {"sub": sub, "preferred_username": id_number, "resident_id": id_number, "name": name,
            "family_name": name[:1], "given_name": name[1:], "acr": "L2"}


def create_app(data: NationalIdData | None = None):
    state, data = ControlState(), data or NationalIdData()
    app = system_app(__name__, state)

    def issuer() -> str:
        return request.url_root.rstrip("/")

    @app.get("/.well-known/openid-configuration")
    def discovery():
        base = issuer()
        return jsonify(issuer=base, authorization_endpoint=f"{base}/authorize", token_endpoint=f"{base}/token",
                       userinfo_endpoint=f"{base}/userinfo", jwks_uri=f"{base}/jwks", response_types_supported=["code"],
                       subject_types_supported=["pairwise"], id_token_signing_alg_values_supported=["RS256"],
                       code_challenge_methods_supported=["S256"], scopes_supported=["openid", "profile"],
                       token_endpoint_auth_methods_supported=["client_secret_post", "client_secret_basic"],
                       claims_supported=["sub", "name", "family_name", "given_name", "preferred_username", "resident_id", "acr"])

    @app.get("/jwks")
    def jwks():
        return jsonify(keys=[data.key.as_dict(private=False)])

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize():
        state.served("Authorize")
        params = request.values
        if params.get("client_id") not in data.clients or params.get("response_type", "code") != "code":
            return jsonify(error="unauthorized_client"), 400
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return jsonify(error="invalid_request", error_description="PKCE S256 is required"), 400
        keep = ("client_id", "redirect_uri", "state", "nonce", "code_challenge", "code_challenge_method", "scope")
        hidden = "".join(f'<input type="hidden" name="{k}" value="{html.escape(params.get(k, ""))}">' for k in keep)
        if request.method == "GET":
            return _PAGE.format(error="", action=html.escape(request.base_url), hidden=hidden)
        id_number = (params.get("id_number") or "").strip().upper()
        name = verified_name(id_number)
        if name is None:
            return _PAGE.format(error="身份信息未通过核验", action=html.escape(request.base_url), hidden=hidden), 200
        code = secrets.token_urlsafe(24)
        with data.lock:
            data.codes[code] = {"client_id": params["client_id"], "redirect_uri": params.get("redirect_uri"),
                                "nonce": params.get("nonce"), "challenge": params["code_challenge"],
                                "claims": _claims(id_number, name), "expires": time.time() + 120}
        return redirect(f"{params.get('redirect_uri')}?{urlencode({'code': code, 'state': params.get('state', '')})}")

    @app.post("/token")
    def token():
        state.served("Token")
        form = request.form
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id, secret = request.authorization.username, request.authorization.password
        if not client_id or data.clients.get(client_id) != secret:
            return jsonify(error="invalid_client"), 401
        with data.lock:
            grant = data.codes.pop(form.get("code", ""), None)  # one use
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if (grant is None or grant["expires"] < time.time() or grant["client_id"] != client_id
                or grant["redirect_uri"] != form.get("redirect_uri") or grant["challenge"] != challenge):
            return jsonify(error="invalid_grant"), 400
        now = int(time.time())
        claims = {**grant["claims"], "iss": issuer(), "aud": client_id, "iat": now, "exp": now + 300,
                  "auth_time": now, **({"nonce": grant["nonce"]} if grant["nonce"] else {})}
        id_token = jwt.encode({"alg": "RS256", "kid": data.key.kid}, claims, data.key)
        access = secrets.token_urlsafe(24)
        with data.lock:
            data.tokens[access] = grant["claims"]
        return jsonify(access_token=access, token_type="Bearer", expires_in=300, id_token=id_token, scope="openid profile")

    @app.get("/userinfo")
    def userinfo():
        auth = request.headers.get("Authorization", "")
        claims = data.tokens.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None
        if claims is None:
            return jsonify(error="invalid_token"), 401
        return jsonify(claims)

    @app.post("/_admin/clients")
    def add_client():
        body = request.get_json(silent=True) or {}
        if not body.get("client_id") or not body.get("client_secret"):
            return jsonify(error="invalid_request", message="client_id and client_secret are required"), 400
        data.clients[body["client_id"]] = body["client_secret"]
        return "", 204

    wrapped = Misbehaviour(app.wsgi_app, state, fault=json_fault)
    wrapped.data = data
    return wrapped
