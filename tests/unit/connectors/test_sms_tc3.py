"""The SMS gateway's TC3-HMAC-SHA256 signature, its profile and the simulator that checks it (issue 21).

The expected values are the worked example of Tencent Cloud's "Signature v3" page (CVM
DescribeInstances, timestamp 1551113065, the EXAMPLE key pair); the SDK test cross-checks against
Tencent's own Python SDK (tencentcloud-sdk-python-common), an implementation independent of ours.
"""
from __future__ import annotations

import json

import pytest

from config.settings import Settings
from connectors.sms import tc3
from connectors.sms.client import SmsSendError, send_sms, send_sms_request
from connectors.sms.profile import SmsProfileError, load_sms_profile

EXAMPLE_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
EXAMPLE_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
EXAMPLE_BODY = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
EXAMPLE_TS = 1551113065


def test_published_example_step_by_step():
    canonical = tc3.canonical_request(EXAMPLE_BODY, "cvm.tencentcloudapi.com")
    assert canonical == ("POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
                         "content-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    to_sign = tc3.string_to_sign(canonical, EXAMPLE_TS, "cvm")
    assert to_sign == ("TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
                       "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")
    assert tc3.signature(EXAMPLE_KEY, to_sign, EXAMPLE_TS, "cvm") == \
        "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_published_example_authorization_header():
    assert tc3.authorization(EXAMPLE_ID, EXAMPLE_KEY, EXAMPLE_BODY, "cvm.tencentcloudapi.com", EXAMPLE_TS, "cvm") == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168")


def test_date_is_utc_not_beijing():
    # 00:44 on the 26th in Beijing is still the 25th in UTC (the doc's own warning).
    assert tc3.utc_date(EXAMPLE_TS) == "2019-02-25"


def test_sdk_derives_the_same_signature():
    from tencentcloud.common.sign import Sign

    to_sign = tc3.string_to_sign(tc3.canonical_request(EXAMPLE_BODY, "sms.tencentcloudapi.com"), EXAMPLE_TS, "sms")
    assert tc3.signature(EXAMPLE_KEY, to_sign, EXAMPLE_TS, "sms") == Sign.sign_tc3(EXAMPLE_KEY, "2019-02-25", "sms", to_sign)


def test_verify_refuses_tampering_and_old_timestamps():
    header = tc3.authorization(EXAMPLE_ID, EXAMPLE_KEY, EXAMPLE_BODY, "h", EXAMPLE_TS, "sms")
    keys = {EXAMPLE_ID: EXAMPLE_KEY}.get
    ct = tc3.CONTENT_TYPE
    assert tc3.verify(header, keys, EXAMPLE_BODY, "h", ct, EXAMPLE_TS, EXAMPLE_TS + 10) is None
    assert tc3.verify(header, keys, EXAMPLE_BODY + b" ", "h", ct, EXAMPLE_TS, EXAMPLE_TS) == "AuthFailure.SignatureFailure"
    assert tc3.verify(header, keys, EXAMPLE_BODY, "other", ct, EXAMPLE_TS, EXAMPLE_TS) == "AuthFailure.SignatureFailure"
    assert tc3.verify(header, keys, EXAMPLE_BODY, "h", ct, EXAMPLE_TS, EXAMPLE_TS + 301) == "AuthFailure.SignatureExpire"
    assert tc3.verify(header, {}.get, EXAMPLE_BODY, "h", ct, EXAMPLE_TS, EXAMPLE_TS) == "AuthFailure.SecretIdNotFound"
    assert tc3.verify("Bearer x", keys, EXAMPLE_BODY, "h", ct, EXAMPLE_TS, EXAMPLE_TS) == "AuthFailure.InvalidAuthorization"


def test_profile_refuses_development_credentials_in_production():
    with pytest.raises(SmsProfileError, match="GOVLINK_SMS_SECRET_ID"):
        load_sms_profile(Settings(env="production", gateway_client_secret="x" * 32))
    profile = load_sms_profile(Settings(env="production", sms_secret_id="AKIDreal", sms_secret_key="real-key",
                                        sms_api_base=TENCENT))
    assert profile.secret_key == "real-key" and "real-key" not in repr(profile)


TENCENT = "https://sms.tencentcloudapi.com"


def test_production_refuses_the_simulator_or_plain_http_as_sms_gateway():
    """Without GOVLINK_SMS_API_BASE the profile fell back to the simulator, in production too: every
    code would go to {simulators_url}/tencent-sms and no citizen would get one."""
    real = {"env": "production", "sms_secret_id": "AKIDreal", "sms_secret_key": "real-key"}
    with pytest.raises(SmsProfileError, match="GOVLINK_SMS_API_BASE"):
        load_sms_profile(Settings(**real))
    with pytest.raises(SmsProfileError, match="https"):
        load_sms_profile(Settings(**real, sms_api_base="http://sms.tencentcloudapi.com"))
    assert load_sms_profile(Settings(**real, sms_api_base=TENCENT)).host == "sms.tencentcloudapi.com"


@pytest.fixture()
def sms_gateway():
    from simulators.server import run_in_thread

    url, stop = run_in_thread()
    yield url
    stop()


def test_message_reaches_the_simulator_signed(sms_gateway):
    import requests

    profile = load_sms_profile(Settings(simulators_url=sms_gateway))
    send_sms(profile, "13800138000", "signin", ["246810", "5"])
    messages = requests.get(f"{sms_gateway}/tencent-sms/_admin/messages", params={"phone": "13800138000"}).json()["messages"]
    assert [m["params"] for m in messages] == [["246810", "5"]]
    assert messages[0]["text"] == "【合肥政务服务】您的登录验证码为246810，5分钟内有效，请勿泄露。"


def test_simulator_refuses_a_wrong_key(sms_gateway):
    profile = load_sms_profile(Settings(simulators_url=sms_gateway, sms_secret_key="not-the-key"))
    with pytest.raises(SmsSendError) as refused:
        send_sms(profile, "13800138000", "signin", ["1", "5"])
    assert refused.value.code == "AuthFailure.SignatureFailure"


def test_sdk_request_passes_the_simulator():
    """Tencent's own SDK signs a SendSms call; the simulator (our verifier) accepts it. Served at the
    root of its own port: the SDK signs the endpoint as the Host, which has no path."""
    from simulators import tencent_sms
    from simulators.channels.serving import serve_in_thread
    from tencentcloud.common.common_client import CommonClient
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    app = tencent_sms.create_app()
    url, stop = serve_in_thread(app, "127.0.0.1", 0, quiet=True)
    settings = Settings()
    http = HttpProfile(endpoint=url.removeprefix("http://"), protocol="http")
    http.scheme = "http"
    client = CommonClient("sms", "2021-01-11", Credential(settings.sms_secret_id, settings.sms_secret_key),
                          "ap-guangzhou", profile=ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http))
    answer = client.call_json("SendSms", {"PhoneNumberSet": ["+8613900139000"], "SmsSdkAppId": settings.sms_sdk_app_id,
                                          "SignName": "合肥政务服务", "TemplateId": "2110003",
                                          "TemplateParamSet": ["135790", "5"]})
    stop()
    assert answer["Response"]["SendStatusSet"][0]["Code"] == "Ok"
    assert app.data.of_phone("13900139000")[0]["params"] == ["135790", "5"]


def test_request_body_is_tencents_send_sms():
    profile = load_sms_profile(Settings())
    headers, body = send_sms_request(profile, "13800138000", "reset", ["111222", "5"], EXAMPLE_TS)
    assert json.loads(body) == {"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400000001",
                                "SignName": "合肥政务服务", "TemplateId": "2110002", "TemplateParamSet": ["111222", "5"]}
    assert headers["X-TC-Action"] == "SendSms" and headers["X-TC-Version"] == "2021-01-11"
