"""EMS: SM4 sealing, form both sides, reply and trace parsing, push, adapter over a fake."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logistics_bridge.address import validate_address
from logistics_bridge.carriers.base import ShipmentRequest, TransportResponse
from logistics_bridge.carriers.ems import (
    EmsCarrier,
    EmsSettings,
    build_form,
    make_push,
    make_reply,
    open_sealed,
    parse_push,
    seal,
    verify_form,
)
from logistics_bridge.carriers.ems import crypto, messages, units
from logistics_bridge.errors import CarrierError, LogisticsError, SignatureError
from logistics_bridge.tracking import Status, apply_events

SIGN_KEY = base64.b64encode(bytes.fromhex("00112233445566778899aabbccddeeff")).decode()
NOW = datetime(2024, 3, 15, 4, 0, tzinfo=timezone.utc)


def test_sm4_standard_vector():
    # GB/T 32907-2016 example 1: key = plaintext = 0123456789abcdeffedcba9876543210.
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    ciphertext = crypto.sm4_ecb_encrypt(key, key)
    assert ciphertext[:16].hex() == "681edf34d206965e86b3e94f536e4246"
    assert len(ciphertext) == 32  # a whole block of PKCS#5 padding follows
    assert crypto.sm4_ecb_decrypt(key, ciphertext) == key


@given(st.binary(max_size=200))
def test_sm4_matches_gmssl(plaintext):
    # An independent SM4 implementation (gmssl, pure Python) agrees, padding included.
    from gmssl import sm4  # an independent SM4 implementation (test dependency)
    key = crypto.sm4_key(SIGN_KEY)
    reference = sm4.CryptSM4()
    reference.set_key(key, sm4.SM4_ENCRYPT)
    assert crypto.sm4_ecb_encrypt(key, plaintext) == reference.crypt_ecb(plaintext)


def test_sealed_value_layout():
    value = seal('{"waybillNo":"1"}', SIGN_KEY)
    assert value.startswith("|$4|")
    plain = crypto.sm4_ecb_decrypt(crypto.sm4_key(SIGN_KEY), base64.b64decode(value[4:]))
    assert plain == ('{"waybillNo":"1"}' + SIGN_KEY).encode()


@given(st.text(max_size=300))
def test_seal_open_round_trip(text):
    assert open_sealed(seal(text, SIGN_KEY), SIGN_KEY) == text


def test_open_refuses_wrong_key_missing_prefix_and_missing_sign_key():
    other = base64.b64encode(b"\x01" * 16).decode()
    with pytest.raises(SignatureError):
        open_sealed(seal('{"a":1}', SIGN_KEY), other)
    with pytest.raises(SignatureError) as exc:
        open_sealed(seal('{"a":1}', SIGN_KEY)[4:], SIGN_KEY)
    assert exc.value.code == "malformed"
    no_suffix = "|$4|" + base64.b64encode(crypto.sm4_ecb_encrypt(crypto.sm4_key(SIGN_KEY), b'{"a":1}')).decode()
    with pytest.raises(SignatureError):
        open_sealed(no_suffix, SIGN_KEY)
    assert open_sealed(no_suffix, SIGN_KEY, require_sign_key=False) == '{"a":1}'
    with pytest.raises(LogisticsError) as bad:
        crypto.sm4_key("not base64 of 16 bytes")
    assert bad.value.code == "bad_config"


def test_form_both_sides():
    form = build_form("040001", {"waybillNo": "1151234567890"}, sender_no="1100000000001",
                      authorization="AUTH", sign_key=SIGN_KEY, now=NOW)
    assert form["timeStamp"] == "2024-03-15 12:00:00"  # Beijing wall clock on the wire
    assert {"senderNo", "apiCode", "authorization", "msgType", "timeStamp", "logitcsInterface"} <= set(form)
    assert verify_form(form, sign_key=SIGN_KEY, authorization="AUTH") == ("040001", {"waybillNo": "1151234567890"})
    with pytest.raises(SignatureError):
        verify_form(form, sign_key=SIGN_KEY, authorization="OTHER")
    with pytest.raises(SignatureError) as exc:
        verify_form({k: v for k, v in form.items() if k != "logitcsInterface"}, sign_key=SIGN_KEY)
    assert exc.value.code == "malformed"


def test_reply_parsing():
    assert messages.parse_reply(make_reply({"waybillNo": "1151234567890"})) == {"waybillNo": "1151234567890"}
    with pytest.raises(CarrierError) as exc:
        messages.parse_reply(make_reply(ret_code="B00001", ret_msg="授权码无效"))
    assert exc.value.code == "rejected" and exc.value.carrier_code == "B00001"
    with pytest.raises(CarrierError) as exc:
        messages.parse_reply(b"not json")
    assert exc.value.code == "bad_reply"


# A real EMS API trace (code search: a Rails test "AirMailTest"), trimmed; opTime is Beijing time.
TRACE = {
    "responseItems": [
        {"waybillNo": "1272448151316", "opTime": "2024-12-25 18:00:00", "opCode": "203", "opName": "收寄计费信息",
         "opDesc": "中国邮政 已收取快件", "opOrgCity": "广州市"},
        {"waybillNo": "1272448151316", "opTime": "2024-12-26 05:59:32", "opCode": "954", "opName": "邮件到达处理中心",
         "opDesc": "快件到达【上海市寄递事业部航空中心嘉民包件车间】", "opOrgCity": "上海市"},
        {"waybillNo": "1272448151316", "opTime": "2024-12-26 15:31:55", "opCode": "702", "opName": "投递邮件接收-下段",
         "opDesc": "快件正在派送中", "opOrgCity": "上海市"},
        {"waybillNo": "1272448151316", "opTime": "2024-12-26 18:28:09", "opCode": "705", "opName": "投递结果反馈-未妥投",
         "opDesc": "因收件人名址有误/不详且电话无法接通，将再次联系收件人进行投递", "opOrgCity": "上海市"},
        {"waybillNo": "1272448151316", "opTime": "2024-12-27 11:29:59", "opCode": "702", "opName": "投递邮件接收-下段",
         "opDesc": "快件正在派送中", "opOrgCity": "上海市"},
        {"waybillNo": "1272448151316", "opTime": "2024-12-27 12:32:28", "opCode": "704", "opName": "投递结果反馈-妥投",
         "opDesc": "您的快件已代签收【家人，，】，如有疑问请电联快递员", "opOrgCity": "上海市"},
    ]
}


def test_parse_trace():
    events = messages.parse_trace(TRACE)
    assert [e.status for e in events] == [
        Status.PICKED_UP, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERY_FAILED,
        Status.OUT_FOR_DELIVERY, Status.DELIVERED,
    ]
    assert events[-1].signed_by_other is True
    assert events[-1].occurred_at == datetime(2024, 12, 27, 4, 32, 28, tzinfo=timezone.utc)
    status, accepted = apply_events("created", events)
    assert status is Status.DELIVERED and len(accepted) == 6


@pytest.mark.parametrize(
    ("code", "name", "desc", "status"),
    [
        ("705", "投递结果反馈-未妥投", "收件人拒收", Status.REFUSED),
        ("999", "邮件退回", "", Status.RETURN_TO_SENDER),
        ("998", "something new", "", Status.UNKNOWN),
    ],
)
def test_trace_status_fallbacks(code, name, desc, status):
    assert units.trace_status(code, name, desc) is status


def test_push_json_and_form_bodies():
    item = TRACE["responseItems"][-1]
    body = make_push(item, sign_key=SIGN_KEY, serial_no="S-1")
    result = parse_push(body, "application/json", sign_key=SIGN_KEY, sender_no="1100000000001")
    assert result.trusted is False
    assert json.loads(result.reply) == {
        "serialNo": "S-1", "code": "00000", "codeMessage": "", "senderNo": "1100000000001"
    }
    assert result.events[0].status is Status.DELIVERED
    form_body = urlencode(json.loads(body)).encode()
    again = parse_push(form_body, "application/x-www-form-urlencoded", sign_key=SIGN_KEY, sender_no="1")
    assert again.events[0].event_id == result.events[0].event_id


def test_forged_push_is_refused():
    other = base64.b64encode(b"\x02" * 16).decode()
    body = make_push(TRACE["responseItems"][0], sign_key=other, serial_no="S-2")
    with pytest.raises(SignatureError):
        parse_push(body, "application/json", sign_key=SIGN_KEY, sender_no="1")
    with pytest.raises(CarrierError):
        parse_push(b'{"serialNo":"x"}', "application/json", sign_key=SIGN_KEY, sender_no="1")


class FakeEms:
    def __init__(self):
        self.calls = []

    def __call__(self, url, *, data=None, body=None, headers=None):
        try:
            api_code, payload = verify_form(data, sign_key=SIGN_KEY, authorization="AUTH")
        except SignatureError:
            return TransportResponse(200, make_reply(ret_code="S00002", ret_msg="签名错误").encode())
        self.calls.append((api_code, payload))
        if api_code == units.CREATE_ORDER:
            reply = {"waybillNo": "1151234567890", "logisticsOrderNo": payload["logisticsOrderNo"]}
            return TransportResponse(200, make_reply(reply).encode())
        if api_code == units.CANCEL_ORDER:
            return TransportResponse(200, make_reply(None).encode())
        return TransportResponse(200, make_reply(TRACE).encode())


def test_adapter_round_trip_over_fake_gateway():
    fake = FakeEms()
    settings = EmsSettings(sender_no="1100000000001", authorization="AUTH", sign_key=SIGN_KEY)
    ems = EmsCarrier(settings, fake, clock=lambda: NOW)
    sender = validate_address({"name": "政务中心", "phone": "0551-63538000", "province": "安徽", "city": "合肥市",
                               "district": "蜀山区", "detail": "怀宁路1890号"})
    recipient = validate_address({"name": "李四", "phone": "13912345678", "province": "上海", "city": "",
                                  "district": "虹口区", "detail": "飞虹路1号"})
    request = ShipmentRequest(leg_id="LEG-9", sender=sender, recipient=recipient, weight_g=300)
    waybill = ems.create_waybill(request)
    assert waybill.waybill_no == "1151234567890" and waybill.carrier == "ems"
    created = fake.calls[0][1]
    assert created["weight"] == 300 and created["receiver"]["prov"] == "上海市"
    assert created["sender"]["phone"] == "0551-63538000"
    assert created["createdTime"] == "2024-03-15 12:00:00"
    ems.cancel("LEG-9", waybill.waybill_no)
    assert ems.track("1272448151316")[-1].status is Status.DELIVERED
    with pytest.raises(CarrierError) as exc:
        ems.fetch_bill(["1151234567890"])
    assert exc.value.code == "unsupported"
    repr_text = repr(EmsSettings(sender_no="1", authorization="AUTH-SECRET", sign_key=SIGN_KEY))
    assert "AUTH-SECRET" not in repr_text and SIGN_KEY not in repr_text
