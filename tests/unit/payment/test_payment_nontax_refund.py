"""The parts added for the integration: the 8998/5998 refund messages, the payer in a 5996, profiles."""
from datetime import UTC, date, datetime

import pytest

from payment_bridge.channels.nontax import sign
from payment_bridge.channels.nontax.confirmation import Confirmation, build_confirmation, parse_confirmation
from payment_bridge.channels.nontax.envelope import CfxHead
from payment_bridge.channels.nontax.replies import Reply
from payment_bridge.channels.nontax.refund import (RefundAnswer, RefundRequest, build_refund_answer,
                                                   build_refund_request, parse_refund_answer, parse_refund_request)
from payment_bridge.errors import InvalidMessage, SignatureError
from payment_bridge.requests import refund_no_for, request_hash

TOKEN = "shared-token"
HEAD = CfxHead(src="340100GOVLINK", des="340000NTS", msg_id="m1", work_date=date(2026, 1, 5))
CODE = "34010026300000000001"


def test_refund_request_round_trips_and_is_mac_checked():
    request = RefundRequest("340100", CODE, "R" + "a" * 31, 300, "多收工本费")
    raw = build_refund_request(HEAD, request)
    assert parse_refund_request(raw, sign(raw, TOKEN), TOKEN).body == request
    with pytest.raises(SignatureError):
        parse_refund_request(raw, sign(raw, "other"), TOKEN)


def test_refund_answer_carries_details_exactly_when_ok():
    ok = RefundAnswer(Reply("00000"), "R1", 300, "RF01")
    raw = build_refund_answer(HEAD, ok)
    assert parse_refund_answer(raw, sign(raw, TOKEN), TOKEN).body == ok
    refused = build_refund_answer(HEAD, RefundAnswer(Reply("10004", "退付金额超过可退金额")))
    assert parse_refund_answer(refused, sign(refused, TOKEN), TOKEN).body.refund_no is None
    with pytest.raises(InvalidMessage):
        build_refund_answer(HEAD, RefundAnswer(Reply("00000")))


def test_confirmation_may_name_the_payer():
    c = Confirmation(CODE, datetime(2026, 1, 5, 2, 15, tzinfo=UTC), 3000, "3", "B1", payer_credit_code="340104198506150213")
    raw = build_confirmation(HEAD, c)
    assert parse_confirmation(raw, sign(raw, TOKEN), TOKEN).body == c
    plain = build_confirmation(HEAD, Confirmation(CODE, c.confirmed_at, 3000, "3", "B1"))
    assert b"PayerCreditCode" not in plain


def test_request_hash_ignores_key_order_and_refund_numbers_fit_both_platforms():
    assert request_hash({"a": 1, "b": [1, 2]}) == request_hash({"b": [1, 2], "a": 1})
    assert request_hash({"a": 1}) != request_hash({"a": 2})
    number = refund_no_for("a-long-refund-request-id-from-the-finance-console:0001")
    assert len(number) == 32 and number.isalnum() and number == refund_no_for("a-long-refund-request-id-from-the-finance-console:0001")


def test_profiles_resolve_settings_and_refuse_dev_secrets_in_production(tmp_path):
    from config.settings import Settings
    from payment_bridge.profiles import ProfileError, load_profiles

    profiles = load_profiles(Settings(simulators_url="http://sim:1"))
    assert profiles.nontax.url == "http://sim:1/nontax/api" and profiles.code_profile.length == 20
    assert profiles.wechatpay.api_base == "http://sim:1/wechatpay"
    assert profiles.wechatpay.merchant_private_key_file.endswith("var/payment-keys/wechatpay-merchant-private.pem")
    elsewhere = load_profiles(Settings.from_env({"GOVLINK_WECHATPAY_API_BASE": "https://api.mch.weixin.qq.com/",
                                                 "GOVLINK_NONTAX_MAC_TOKEN": "from-the-environment"}))
    assert elsewhere.wechatpay.api_base == "https://api.mch.weixin.qq.com"
    assert elsewhere.nontax.mac_token == "from-the-environment" and "from-the-environment" not in repr(elsewhere)
    prod = Settings(env="production", gateway_client_secret="x" * 20, keycloak_admin_password="y" * 20)
    with pytest.raises(ProfileError, match="GOVLINK_NONTAX_MAC_TOKEN"):
        load_profiles(prod)
