"""WeChat Pay API v3: callbacks, signatures and message builders, with fresh keys."""

import base64
import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from payment_bridge.channels.wechatpay import (
    ApiRequest,
    PrepayOrder,
    Refund,
    RefundOrder,
    Transaction,
    build_authorization,
    build_close,
    build_jsapi_prepay,
    build_native_prepay,
    build_notification,
    build_query_by_out_trade_no,
    build_refund,
    build_refund_query,
    decrypt_resource,
    encrypt_resource,
    jsapi_pay_params,
    parse_api_error,
    parse_authorization,
    parse_notification,
    parse_notification_event,
    parse_prepay_request,
    parse_prepay_response,
    parse_refund,
    parse_refund_request,
    parse_transaction,
    refund_resource,
    sign_message,
    signed_headers,
    transaction_resource,
    verify_authorization,
    verify_signed_headers,
)
from payment_bridge.errors import ChannelError, InvalidMessage, SignatureError

SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
MCHID = "1900000001"
APPID = "wxd678efh567hg6787"
NOW = 1_704_420_900  # 2024-01-05 10:15:00 Beijing


@pytest.fixture(scope="module")
def platform_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def merchant_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def api_v3_key():
    return os.urandom(32)


def pem(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def keys(platform_key):
    return {SERIAL: pem(platform_key.public_key())}


TRANSACTION = Transaction(
    appid=APPID,
    mchid=MCHID,
    out_trade_no="34010024300000000123",
    trade_state="SUCCESS",
    total_fen=12030,
    transaction_id="4200002024010512345678901",
    trade_type="NATIVE",
    trade_state_desc="支付成功",
    bank_type="OTHERS",
    attach="case-1",
    success_time=datetime(2024, 1, 5, 2, 14, 58, tzinfo=UTC),
    payer_openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    payer_total_fen=12030,
)


def make_callback(platform_key, api_v3_key, **overrides):
    arguments = dict(
        private_key=platform_key,
        serial=SERIAL,
        api_v3_key=api_v3_key,
        resource=transaction_resource(TRANSACTION),
        timestamp=NOW,
        notification_id="EV-2018022511223320873",
    )
    arguments.update(overrides)
    return build_notification(**arguments)


def test_notification_round_trip(platform_key, api_v3_key, keys):
    headers, body = make_callback(platform_key, api_v3_key)
    envelope = json.loads(body)
    assert envelope["resource"]["algorithm"] == "AEAD_AES_256_GCM"
    assert envelope["create_time"].endswith("+08:00")
    assert set(headers) >= {
        "Wechatpay-Timestamp",
        "Wechatpay-Nonce",
        "Wechatpay-Signature",
        "Wechatpay-Serial",
    }
    resource = parse_notification(headers, body, platform_keys=keys, api_v3_key=api_v3_key, now=NOW + 10)
    assert parse_transaction(resource) == TRANSACTION
    event = parse_notification_event(headers, body, platform_keys=keys, api_v3_key=api_v3_key, now=NOW)
    assert (event.id, event.event_type, event.resource_type) == (
        "EV-2018022511223320873",
        "TRANSACTION.SUCCESS",
        "encrypt-resource",
    )
    assert event.create_time.tzinfo is not None


def test_header_lookup_is_case_insensitive(platform_key, api_v3_key, keys):
    headers, body = make_callback(platform_key, api_v3_key)
    lowered = {name.lower(): value for name, value in headers.items()}
    assert parse_notification(lowered, body, platform_keys=keys, api_v3_key=api_v3_key, now=NOW)
    # platform key as a loaded object, serial in lower case
    loaded = {SERIAL.lower(): platform_key.public_key()}
    assert parse_notification(headers, body, platform_keys=loaded, api_v3_key=api_v3_key, now=NOW)


def test_api_v3_key_as_string(platform_key, keys):
    text_key = "a" * 16 + "B" * 16
    headers, body = make_callback(platform_key, text_key)
    assert parse_notification(headers, body, platform_keys=keys, api_v3_key=text_key, now=NOW)
    with pytest.raises(ValueError):
        parse_notification(headers, body, platform_keys=keys, api_v3_key="short", now=NOW)


def tamper_body(headers, body):
    return headers, body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESX"')


def drop(name):
    return lambda headers, body: ({k: v for k, v in headers.items() if k != name}, body)


def replace_header(name, value):
    return lambda headers, body: ({**headers, name: value}, body)


@pytest.mark.parametrize(
    "attack",
    [
        tamper_body,
        drop("Wechatpay-Signature"),
        drop("Wechatpay-Timestamp"),
        drop("Wechatpay-Nonce"),
        drop("Wechatpay-Serial"),
        replace_header("Wechatpay-Serial", "0123456789ABCDEF"),  # unknown serial
        replace_header("Wechatpay-Timestamp", str(NOW - 301)),  # stale
        replace_header("Wechatpay-Timestamp", str(NOW + 301)),  # from the future
        replace_header("Wechatpay-Timestamp", "not-a-number"),
        replace_header("Wechatpay-Nonce", "other-nonce"),
        replace_header("Wechatpay-Signature", "!!!not base64!!!"),
        replace_header("Wechatpay-Signature", base64.b64encode(b"\0" * 256).decode()),
        replace_header("Wechatpay-Signature-Type", "WECHATPAY2-SM2-WITH-SM3"),
    ],
)
def test_forged_notifications_refused(platform_key, api_v3_key, keys, attack):
    headers, body = attack(*make_callback(platform_key, api_v3_key))
    with pytest.raises(SignatureError):
        parse_notification(headers, body, platform_keys=keys, api_v3_key=api_v3_key, now=NOW)


def test_stale_timestamp_refused_with_real_clock(platform_key, api_v3_key, keys):
    headers, body = make_callback(platform_key, api_v3_key, timestamp=int(time.time()) - 600)
    with pytest.raises(SignatureError, match="window"):
        parse_notification(headers, body, platform_keys=keys, api_v3_key=api_v3_key)
    now = datetime.fromtimestamp(NOW, UTC) + timedelta(minutes=4)
    headers, body = make_callback(platform_key, api_v3_key)
    assert parse_notification(headers, body, platform_keys=keys, api_v3_key=api_v3_key, now=now)


def test_signature_by_another_key_refused(platform_key, api_v3_key, keys):
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers, body = make_callback(impostor, api_v3_key)
    with pytest.raises(SignatureError):
        parse_notification(headers, body, platform_keys=keys, api_v3_key=api_v3_key, now=NOW)


def test_non_rsa_platform_key_refused(platform_key, api_v3_key):
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    headers, body = make_callback(platform_key, api_v3_key)
    with pytest.raises(SignatureError):
        parse_notification(headers, body, platform_keys={SERIAL: pem(ec_key)}, api_v3_key=api_v3_key, now=NOW)


def test_wrong_api_v3_key_refused(platform_key, api_v3_key, keys):
    headers, body = make_callback(platform_key, api_v3_key)
    with pytest.raises(SignatureError, match="decrypt"):
        parse_notification(headers, body, platform_keys=keys, api_v3_key=os.urandom(32), now=NOW)


def test_signed_but_malformed_bodies_refused(platform_key, api_v3_key, keys):
    bad_resource = encrypt_resource(api_v3_key, "[1, 2]", "0123456789ab", "transaction")
    for body in (
        b"not json",
        b"[]",
        json.dumps(
            {"id": "1", "create_time": "2024-01-05T10:15:00+08:00", "event_type": "X", "resource_type": "r"}
        ).encode(),
        json.dumps(
            {
                "id": "1",
                "create_time": "yesterday",
                "event_type": "X",
                "resource_type": "r",
                "resource": encrypt_resource(api_v3_key, "{}", "0123456789ab", "transaction"),
            }
        ).encode(),
        json.dumps(
            {
                "id": "1",
                "create_time": "2024-01-05T10:15:00+08:00",
                "event_type": "X",
                "resource_type": "r",
                "resource": bad_resource,
            }
        ).encode(),
    ):
        headers = signed_headers(platform_key, SERIAL, body, timestamp=NOW)
        with pytest.raises(SignatureError):
            parse_notification(headers, body, platform_keys=keys, api_v3_key=api_v3_key, now=NOW)


def test_resource_tampering_and_algorithm(api_v3_key):
    resource = encrypt_resource(api_v3_key, '{"a":1}', "0123456789ab", "transaction")
    assert decrypt_resource(api_v3_key, resource) == b'{"a":1}'
    for change in (
        {"associated_data": "refund"},
        {"nonce": "0123456789ac"},
        {"algorithm": "AES_CBC"},
        {"ciphertext": "%%%"},
        {"ciphertext": base64.b64encode(b"short").decode()},
    ):
        with pytest.raises(SignatureError):
            decrypt_resource(api_v3_key, {**resource, **change})


def test_refund_notification_round_trip(platform_key, api_v3_key, keys):
    refund = Refund(
        out_refund_no="RF-34010024300000000123-1",
        refund_id="50000000382019052709732678859",
        out_trade_no=TRANSACTION.out_trade_no,
        transaction_id=TRANSACTION.transaction_id,
        status="SUCCESS",
        refund_fen=30,
        total_fen=12030,
        payer_refund_fen=30,
        payer_total_fen=12030,
        user_received_account="招商银行信用卡0403",
        success_time=datetime(2024, 1, 6, 1, 0, tzinfo=UTC),
        mchid=MCHID,
    )
    headers, body = make_callback(
        platform_key,
        api_v3_key,
        resource=refund_resource(refund, for_notification=True),
        event_type="REFUND.SUCCESS",
        summary="退款成功",
    )
    assert json.loads(body)["resource"]["original_type"] == "refund"
    resource = parse_notification(headers, body, platform_keys=keys, api_v3_key=api_v3_key, now=NOW)
    assert "refund_status" in resource and "status" not in resource
    assert parse_refund(resource) == refund


def test_response_signature_round_trip(platform_key, keys):
    body = b'{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}'
    headers = signed_headers(platform_key, SERIAL, body, timestamp=NOW, nonce="abc")
    assert verify_signed_headers(headers, body, platform_keys=keys, now=NOW) == SERIAL
    assert parse_prepay_response(body) == "weixin://wxpay/bizpayurl?pr=p4lpSuKzz"
    duplicated = {**headers, "wechatpay-nonce": "other"}
    with pytest.raises(SignatureError, match="more than once"):
        verify_signed_headers(duplicated, body, platform_keys=keys, now=NOW)


def test_sign_message_is_pkcs1v15_sha256(platform_key):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signature = base64.b64decode(sign_message(platform_key, NOW, "nonce", b"{}"))
    platform_key.public_key().verify(
        signature, f"{NOW}\nnonce\n{{}}\n".encode(), padding.PKCS1v15(), hashes.SHA256()
    )


# --- requests we send --------------------------------------------------------

ORDER = PrepayOrder(
    appid=APPID,
    mchid=MCHID,
    description="护照工本费",
    out_trade_no="34010024300000000123",
    notify_url="https://govlink.example.gov.cn/callbacks/wechatpay",
    total_fen=12030,
    time_expire=datetime(2024, 1, 12, 2, 15, tzinfo=UTC),
    attach="case-1",
)


def test_native_prepay_request():
    request = build_native_prepay(ORDER)
    assert (request.method, request.url) == ("POST", "/v3/pay/transactions/native")
    body = request.json()
    assert body["amount"] == {"total": 12030, "currency": "CNY"}
    assert body["time_expire"] == "2024-01-12T10:15:00+08:00"
    assert "护照工本费".encode() in request.body  # UTF-8, not \u escapes
    assert parse_prepay_request(request) == ORDER


def test_jsapi_prepay_and_pay_params(merchant_key):
    order = PrepayOrder(**{**ORDER.__dict__, "payer_openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})
    request = build_jsapi_prepay(order)
    assert (
        request.url == "/v3/pay/transactions/jsapi"
        and request.json()["payer"]["openid"] == order.payer_openid
    )
    assert parse_prepay_request(request) == order
    with pytest.raises(InvalidMessage):
        build_jsapi_prepay(ORDER)  # no openid
    params = jsapi_pay_params(
        appid=APPID,
        prepay_id="wx201410272009395522657a690389285100",
        private_key=merchant_key,
        timestamp=NOW,
        nonce="n1",
    )
    assert (
        params["package"] == "prepay_id=wx201410272009395522657a690389285100" and params["signType"] == "RSA"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"total_fen": 0},
        {"total_fen": -1},
        {"total_fen": True},
        {"out_trade_no": "abc"},
        {"out_trade_no": "中文订单号号号"},
        {"description": ""},
        {"description": "x" * 128},
        {"notify_url": "http://insecure.example"},
        {"appid": "wx 1"},
    ],
)
def test_prepay_builder_refuses_bad_orders(change):
    with pytest.raises(InvalidMessage):
        build_native_prepay(PrepayOrder(**{**ORDER.__dict__, **change}))


def test_query_close_and_refund_requests():
    assert build_query_by_out_trade_no(MCHID, "34010024300000000123") == ApiRequest(
        "GET", "/v3/pay/transactions/out-trade-no/34010024300000000123?mchid=1900000001"
    )
    close = build_close(MCHID, "34010024300000000123")
    assert close.url.endswith("/close") and close.json() == {"mchid": MCHID}
    refund_order = RefundOrder(
        out_refund_no="RF-1",
        refund_fen=30,
        total_fen=12030,
        out_trade_no="34010024300000000123",
        reason="多收退还",
        notify_url="https://govlink.example.gov.cn/callbacks/wechatpay",
    )
    request = build_refund(refund_order)
    assert request.url == "/v3/refund/domestic/refunds"
    assert request.json()["amount"] == {"refund": 30, "total": 12030, "currency": "CNY"}
    assert parse_refund_request(request) == refund_order
    assert build_refund_query("RF-1").url == "/v3/refund/domestic/refunds/RF-1"
    for bad in ({"refund_fen": 12031}, {"transaction_id": "42000"}, {"out_trade_no": None}):
        with pytest.raises(InvalidMessage):
            build_refund(RefundOrder(**{**refund_order.__dict__, **bad}))


def test_transaction_and_refund_answers_round_trip():
    assert parse_transaction(json.dumps(transaction_resource(TRANSACTION))) == TRANSACTION
    unpaid = Transaction(
        appid=APPID, mchid=MCHID, out_trade_no="34010024300000000123", trade_state="NOTPAY", total_fen=1
    )
    assert parse_transaction(transaction_resource(unpaid)) == unpaid
    refund = Refund(
        "RF-1",
        "5000",
        "34010024300000000123",
        "4200",
        "PROCESSING",
        30,
        12030,
        channel="ORIGINAL",
        create_time=datetime(2024, 1, 6, 1, 0, tzinfo=UTC),
    )
    answer = refund_resource(refund)
    assert answer["status"] == "PROCESSING" and answer["amount"]["currency"] == "CNY"
    assert parse_refund(json.dumps(answer).encode()) == refund


@pytest.mark.parametrize(
    "data",
    [
        {**transaction_resource(TRANSACTION), "trade_state": "PAID?"},
        {**transaction_resource(TRANSACTION), "amount": {"total": "12030"}},
        {**transaction_resource(TRANSACTION), "amount": {"total": 1, "currency": "USD"}},
        {k: v for k, v in transaction_resource(TRANSACTION).items() if k != "success_time"},
        {**transaction_resource(TRANSACTION), "success_time": "2024-01-05 10:15:00"},
    ],
)
def test_malformed_transactions_refused(data):
    with pytest.raises(InvalidMessage):
        parse_transaction(data)


def test_api_error():
    error = parse_api_error(400, b'{"code":"PARAM_ERROR","message":"out_trade_no invalid"}')
    assert isinstance(error, ChannelError) and error.platform_code == "PARAM_ERROR"
    assert parse_api_error(502, b"<html>").platform_code == "HTTP_502"


# --- Authorization header ------------------------------------------------------


def test_authorization_round_trip(merchant_key):
    request = build_native_prepay(ORDER)
    merchant_keys = {"MERCHANT-SERIAL-1": merchant_key.public_key()}
    value = build_authorization(
        mchid=MCHID,
        serial_no="MERCHANT-SERIAL-1",
        private_key=merchant_key,
        method=request.method,
        url=request.url,
        body=request.body,
        timestamp=NOW,
        nonce="N1",
    )
    assert value.startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="N1",signature="')
    auth = verify_authorization(
        value, method="POST", url=request.url, body=request.body, merchant_keys=merchant_keys, now=NOW
    )
    assert (auth.mchid, auth.serial_no, auth.timestamp) == (MCHID, "MERCHANT-SERIAL-1", str(NOW))
    assert parse_authorization(value) == auth
    attempts = [
        dict(value=value, method="POST", url=request.url + "x", body=request.body),
        dict(value=value, method="GET", url=request.url, body=request.body),
        dict(value=value, method="POST", url=request.url, body=request.body + b" "),
        dict(
            value=value.replace("MERCHANT-SERIAL-1", "OTHER"),
            method="POST",
            url=request.url,
            body=request.body,
        ),
    ]
    for attempt in attempts:
        with pytest.raises(SignatureError):
            verify_authorization(attempt.pop("value"), merchant_keys=merchant_keys, now=NOW, **attempt)
    with pytest.raises(SignatureError, match="window"):
        verify_authorization(
            value,
            method="POST",
            url=request.url,
            body=request.body,
            merchant_keys=merchant_keys,
            now=NOW + 400,
        )
    # mchid is not covered by the signature: the verifier checks it against the key's owner
    other = value.replace('mchid="1900000001"', 'mchid="1900000002"')
    with pytest.raises(SignatureError, match="mchid"):
        verify_authorization(
            other,
            method="POST",
            url=request.url,
            body=request.body,
            merchant_keys=merchant_keys,
            now=NOW,
            expected_mchid=MCHID,
        )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Bearer abc",
        'WECHATPAY2-SHA256-RSA2048 mchid="1"',
        'WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",signature="s",timestamp="1",serial_no="x",'
        'extra="y"',
        'WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="1",signature="s",timestamp="1",serial_no="x"',
        'WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str="n",signature="s",timestamp="1",serial_no="x"',
    ],
)
def test_malformed_authorization_refused(value):
    with pytest.raises(SignatureError):
        parse_authorization(value)
