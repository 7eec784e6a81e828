"""Stand-in for Tencent Cloud SMS (腾讯云短信, API 3.0 SendSms 2021-01-11), mounted at `/tencent-sms`.

- `POST /tencent-sms/` with `X-TC-Action: SendSms`, `X-TC-Version: 2021-01-11`, `X-TC-Timestamp` and a
  TC3-HMAC-SHA256 `Authorization` (checked: unknown id, wrong signature, timestamp more than 5 minutes
  off, bad JSON, unknown app, sign name or template and a phone that is not +86 and 11 digits are
  answered as Tencent does, `{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`);
  success: `{"Response": {"SendStatusSet": [{"SerialNo", "PhoneNumber", "Fee", "Code": "Ok", ...}], "RequestId"}}`.
- `GET /tencent-sms/_admin/messages?phone=138...` -> `{"messages": [...]}` (newest last): what it sent,
  with `phone` (11 digits), `templateId`, `params`, `text` (the template filled in) and `sentAt`, so
  tests read the code; `DELETE /tencent-sms/_admin/messages` forgets them.
- `POST /tencent-sms/_admin/credentials {"secretId", "secretKey"}` adds a key pair; the development
  pair of `config.settings` (and SdkAppId, sign name, templates of config/sms.yaml) is known from the start.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timezone

from flask import jsonify, request

from config.settings import Settings
from connectors.sms import tc3
from simulators.control import ControlState, Misbehaviour, json_fault, system_app

TEMPLATES = {  # the approved templates of config/sms.yaml: {1}, {2} are filled from TemplateParamSet
    "2110001": "您的登录验证码为{1}，{2}分钟内有效，请勿泄露。",
    "2110002": "您正在找回密码，验证码为{1}，{2}分钟内有效。",
    "2110003": "您正在验证手机号码，验证码为{1}，{2}分钟内有效。",
}
SIGN_NAMES = {"合肥政务服务"}


class SmsData:
    """Credentials and sent messages; thread-safe."""

    def __init__(self):
        defaults = Settings()
        self._lock = threading.Lock()
        self.credentials = {defaults.sms_secret_id: defaults.sms_secret_key}
        self.apps = {defaults.sms_sdk_app_id}
        self.messages: list[dict] = []

    def record(self, message: dict) -> None:
        with self._lock:
            self.messages.append(message)

    def of_phone(self, phone: str | None) -> list[dict]:
        with self._lock:
            return [m for m in self.messages if phone is None or m["phone"] == phone]


def _error(code: str, message: str, status: int = 200):
    # Tencent answers API errors with HTTP 200 and an Error object.
    return jsonify(Response={"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}), status


def _fill(template: str, params: list[str]) -> str:
    for i, value in enumerate(params, start=1):
        template = template.replace("{%d}" % i, value)
    return template


def create_app(data: SmsData | None = None):
    """The SMS gateway as one WSGI app (`/`, `/_admin`, `/_control`)."""
    state, data = ControlState(), data or SmsData()
    app = system_app(__name__, state)

    @app.post("/")
    def api():
        action = request.headers.get("X-TC-Action", "")
        if action != "SendSms" or request.headers.get("X-TC-Version") != "2021-01-11":
            return _error("InvalidAction", f"action {action!r} of this version is not served")
        state.served("SendSms")
        try:
            timestamp = int(request.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            return _error("MissingParameter", "X-TC-Timestamp is required")
        problem = tc3.verify(request.headers.get("Authorization", ""), data.credentials.get, request.get_data(),
                             request.host, request.content_type or "", timestamp, int(time.time()))
        if problem:
            return _error(problem, "the request signature does not match (TC3-HMAC-SHA256)")
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return _error("InvalidParameter", "the body is not JSON")
        if body.get("SmsSdkAppId") not in data.apps:
            return _error("FailedOperation.SmsSdkAppIdVerifyFail", "unknown SmsSdkAppId")
        if body.get("SignName") not in SIGN_NAMES:
            return _error("FailedOperation.SignatureIncorrectOrUnapproved", "sign name not approved")
        template = TEMPLATES.get(str(body.get("TemplateId")))
        if template is None:
            return _error("FailedOperation.TemplateIncorrectOrUnapproved", "template not approved")
        params = [str(p) for p in body.get("TemplateParamSet") or []]
        statuses = []
        for number in body.get("PhoneNumberSet") or []:
            if not (isinstance(number, str) and number.startswith("+861") and len(number) == 14 and number[1:].isdigit()):
                return _error("InvalidParameterValue.IncorrectPhoneNumber", f"bad phone number {number!r}")
            serial = uuid.uuid4().hex
            data.record({"phone": number[3:], "templateId": str(body["TemplateId"]), "params": params,
                         "signName": body["SignName"], "text": f"【{body['SignName']}】" + _fill(template, params),
                         "serialNo": serial, "sentAt": datetime.now(timezone.utc).isoformat()})
            statuses.append({"SerialNo": serial, "PhoneNumber": number, "Fee": 1, "SessionContext": "",
                             "Code": "Ok", "Message": "send success", "IsoCode": "CN"})
        if not statuses:
            return _error("MissingParameter", "PhoneNumberSet is empty")
        return jsonify(Response={"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())})

    @app.get("/_admin/messages")
    def messages():
        return jsonify(messages=data.of_phone(request.args.get("phone")))

    @app.delete("/_admin/messages")
    def forget():
        with data._lock:
            data.messages.clear()
        return "", 204

    @app.post("/_admin/credentials")
    def add_credentials():
        body = request.get_json(silent=True) or {}
        if not body.get("secretId") or not body.get("secretKey"):
            return jsonify(error="invalid_request", message="secretId and secretKey are required"), 400
        data.credentials[body["secretId"]] = body["secretKey"]
        return "", 204

    wrapped = Misbehaviour(app.wsgi_app, state, fault=json_fault)
    wrapped.data = data
    return wrapped
