"""Send an SMS through Tencent Cloud SMS (SendSms, API 2021-01-11) with a TC3-signed JSON POST."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import requests

from connectors.sms import tc3
from connectors.sms.profile import SmsProfile


class SmsSendError(RuntimeError):
    """The gateway refused the message; `code` is Tencent's error code (e.g. LimitExceeded.PhoneNumberDailyLimit)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass(frozen=True)
class SentMessage:
    serial_no: str
    request_id: str


def send_sms_request(profile: SmsProfile, phone: str, purpose: str, params: list[str], timestamp: int) -> tuple[dict, bytes]:
    """(headers, body) of the SendSms call: phone in E.164 (+86...), the purpose's template."""
    template = profile.templates[purpose]
    body = json.dumps({"PhoneNumberSet": [e164(phone)], "SmsSdkAppId": profile.sdk_app_id,
                       "SignName": profile.sign_name, "TemplateId": template.id,
                       "TemplateParamSet": [str(p) for p in params]}, ensure_ascii=False).encode("utf-8")
    headers = {"Authorization": tc3.authorization(profile.secret_id, profile.secret_key, body, profile.host, timestamp,
                                                  profile.service),
               "Content-Type": tc3.CONTENT_TYPE, "Host": profile.host, "X-TC-Action": "SendSms",
               "X-TC-Timestamp": str(timestamp), "X-TC-Version": profile.version, "X-TC-Region": profile.region}
    return headers, body


def send_sms(profile: SmsProfile, phone: str, purpose: str, params: list[str], *, timeout: float = 5.0,
             now=time.time) -> SentMessage:
    headers, body = send_sms_request(profile, phone, purpose, params, int(now()))
    answer = requests.post(profile.api_base + "/", data=body, headers=headers, timeout=timeout).json()["Response"]
    if "Error" in answer:
        raise SmsSendError(answer["Error"].get("Code", "InternalError"), answer["Error"].get("Message", ""))
    status = answer["SendStatusSet"][0]
    if status.get("Code") != "Ok":
        raise SmsSendError(status.get("Code", "FailedOperation"), status.get("Message", ""))
    return SentMessage(status.get("SerialNo", ""), answer.get("RequestId", ""))


def e164(phone: str) -> str:
    """A mainland mobile number as Tencent wants it: +86 and 11 digits."""
    digits = phone.strip().removeprefix("+86")
    return "+86" + digits
