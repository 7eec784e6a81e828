"""Kuaidi100: signatures, query/subscribe builders, reply and push parsing, the tracker."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode

import pytest

from logistics_bridge.carriers.base import TransportResponse
from logistics_bridge.carriers.kuaidi100 import (
    Kuaidi100Settings,
    Kuaidi100Tracker,
    callback_sign,
    make_callback,
    make_result,
    parse_callback,
    parse_query_reply,
    query_form,
    query_sign,
    subscribe_form,
    verify_callback,
    verify_query,
)
from logistics_bridge.carriers.kuaidi100 import messages
from logistics_bridge.errors import CarrierError, SignatureError
from logistics_bridge.tracking import Status, apply_events

KEY, CUSTOMER, SALT = "kd100-key", "CUSTOMER01", "salt-123"


def test_query_sign_is_upper_md5_of_param_key_customer():
    param = '{"com":"ems","num":"em263999513jp"}'
    expected = hashlib.md5((param + KEY + CUSTOMER).encode()).hexdigest().upper()
    assert query_sign(param, KEY, CUSTOMER) == expected
    verify_query(param, expected.lower(), KEY, CUSTOMER)  # hex case does not matter
    with pytest.raises(SignatureError):
        verify_query(param, expected, "other-key", CUSTOMER)


def test_callback_sign_and_verify():
    param = '{"status":"polling"}'
    sign = callback_sign(param, SALT)
    assert sign == hashlib.md5((param + SALT).encode()).hexdigest().upper()
    verify_callback(param, sign, SALT)
    with pytest.raises(SignatureError):
        verify_callback(param + " ", sign, SALT)
    with pytest.raises(SignatureError):
        verify_callback(param, sign, "other-salt")


def test_query_form_signs_the_exact_param_text():
    form = query_form(company="shunfeng", number="SF1", customer=CUSTOMER, key=KEY, phone="13812345678")
    assert json.loads(form["param"]) == {"com": "shunfeng", "num": "SF1", "resultv2": "4", "phone": "13812345678"}
    verify_query(form["param"], form["sign"], KEY, CUSTOMER)


def test_subscribe_form():
    form = subscribe_form(company="ems", number="1151234567890", key=KEY,
                          callback_url="https://govlink.example/callbacks/kuaidi100", salt=SALT)
    assert form["schema"] == "json"
    param = json.loads(form["param"])
    assert param["company"] == "ems" and param["key"] == KEY
    assert param["parameters"] == {
        "callbackurl": "https://govlink.example/callbacks/kuaidi100", "salt": SALT, "resultv2": "4"
    }


def test_subscribe_reply_codes():
    messages.parse_subscribe_reply('{"result":true,"returnCode":"200","message":"提交成功"}'.encode())
    messages.parse_subscribe_reply('{"result":false,"returnCode":"501","message":"重复订阅"}')
    with pytest.raises(CarrierError) as exc:
        messages.parse_subscribe_reply('{"result":false,"returnCode":"600","message":"您不是合法的订阅者"}')
    assert exc.value.carrier_code == "600"


ITEMS = [  # newest first, as Kuaidi100 sends them
    {"time": "2024-03-15 12:42:20", "ftime": "2024-03-15 12:42:20", "context": "您的快件已由驿站代收",
     "status": "签收", "statusCode": "304", "areaName": "北京市,东城区"},
    {"time": "2024-03-15 08:57:00", "ftime": "2024-03-15 08:57:00", "context": "快件正在派送中",
     "status": "派件", "statusCode": "5"},
    {"time": "2024-03-13 17:31:00", "ftime": "2024-03-13 17:31:00", "context": "快件离开【咸阳市渭城镇揽投部】",
     "status": "在途", "statusCode": "1002"},
    {"time": "2024-03-13 07:01:00", "ftime": "2024-03-13 07:01:00", "context": "中国邮政 已收取快件",
     "status": "揽收", "statusCode": "1"},
]


def test_query_reply_with_advanced_codes():
    events = parse_query_reply(json.dumps(make_result("9858638312956", "ems", "304", ITEMS), ensure_ascii=False))
    by_code = {e.raw_code: e for e in events}
    assert by_code["304"].status is Status.DELIVERED and by_code["304"].signed_by_other is True
    assert by_code["304"].occurred_at == datetime(2024, 3, 15, 4, 42, 20, tzinfo=timezone.utc)
    assert by_code["304"].location == "北京市,东城区"
    assert by_code["1002"].status is Status.IN_TRANSIT and by_code["1"].status is Status.PICKED_UP
    status, accepted = apply_events("created", events)
    assert status is Status.DELIVERED and len(accepted) == 4


def test_items_without_codes_use_names_then_the_reply_state_for_the_newest():
    items = [{"ftime": "2024-03-15 12:00:00", "context": "已签收,签收人是:本人"},
             {"ftime": "2024-03-14 12:00:00", "context": "运输中"}]
    events = parse_query_reply(json.dumps(make_result("SF1", "shunfeng", "3", items)))
    assert events[0].status is Status.DELIVERED and events[0].signed_by_other is False
    assert events[1].status is Status.UNKNOWN


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("14", Status.REFUSED), ("6", Status.RETURN_TO_SENDER), ("4", Status.RETURN_TO_SENDER),
        ("401", Status.CANCELLED), ("501", Status.READY_FOR_PICKUP), ("2", Status.UNKNOWN),
        ("101", Status.CREATED), ("303", Status.DELIVERED),
    ],
)
def test_state_table(code, status):
    item = {"ftime": "2024-03-15 12:00:00", "context": "x", "statusCode": code}
    (event,) = parse_query_reply(json.dumps(make_result("SF1", "shunfeng", code, [item])))
    assert event.status is status
    assert event.signed_by_other is (code == "303")


def test_query_refusal():
    with pytest.raises(CarrierError) as exc:
        parse_query_reply('{"result":false,"returnCode":"400","message":"找不到对应公司"}')
    assert exc.value.code == "rejected" and exc.value.carrier_code == "400"


def _push_body(last_result, salt=SALT, **kw):
    return urlencode(make_callback(last_result, salt, **kw)).encode()


def test_push_is_verified_and_parsed():
    body = _push_body(make_result("9858638312956", "ems", "304", ITEMS), status="shutdown")
    callback = parse_callback(body, SALT)
    assert callback.monitor_status == "shutdown" and len(callback.events) == 4
    assert json.loads(messages.callback_reply()) == {"result": True, "returnCode": "200", "message": "成功"}


def test_forged_or_unsigned_push_is_refused():
    body = _push_body(make_result("SF1", "shunfeng", "3", ITEMS), salt="attacker-salt")
    with pytest.raises(SignatureError):
        parse_callback(body, SALT)
    fields = dict(parse_qsl(_push_body(make_result("SF1", "shunfeng", "3", ITEMS)).decode()))
    with pytest.raises(SignatureError) as exc:
        parse_callback(urlencode({"param": fields["param"]}).encode(), SALT)
    assert exc.value.code == "malformed"


def test_abort_push_without_result():
    body = urlencode(make_callback({}, SALT, status="abort", message="3天查询无记录")).encode()
    callback = parse_callback(body, SALT)
    assert callback.monitor_status == "abort" and callback.events == ()


class FakeKuaidi100:
    def __init__(self):
        self.calls = []

    def __call__(self, url, *, data=None, body=None, headers=None):
        self.calls.append((url, data))
        if url.endswith("query.do"):
            verify_query(data["param"], data["sign"], KEY, CUSTOMER)
            param = json.loads(data["param"])
            result = make_result(param["num"], param["com"], "304", ITEMS)
            return TransportResponse(200, json.dumps(result).encode())
        return TransportResponse(200, b'{"result":true,"returnCode":"200","message":"ok"}')


def test_tracker_over_fake_gateway():
    fake = FakeKuaidi100()
    settings = Kuaidi100Settings(customer=CUSTOMER, key=KEY, salt=SALT, callback_url="https://govlink.example/cb")
    tracker = Kuaidi100Tracker(settings, fake, carrier="sf")
    events = tracker.track("SF1234567890123", phone="13812345678")
    assert events[0].carrier == "kuaidi100" and events[0].waybill == "SF1234567890123"
    assert json.loads(fake.calls[0][1]["param"])["com"] == "shunfeng"
    tracker.subscribe("SF1234567890123")
    result = tracker.parse_push(_push_body(make_result("SF1234567890123", "shunfeng", "304", ITEMS)))
    assert result.trusted is True and len(result.events) == 4
    assert KEY not in repr(settings) and SALT not in repr(settings)
    with pytest.raises(CarrierError):
        Kuaidi100Tracker(settings, fake, carrier="dhl")


def test_a_tracker_bound_to_no_courier_reads_pushes_only():
    fake = FakeKuaidi100()
    settings = Kuaidi100Settings(customer=CUSTOMER, key=KEY, salt=SALT)
    tracker = Kuaidi100Tracker(settings, fake)
    assert tracker.parse_push(_push_body(make_result("SF1", "shunfeng", "304", ITEMS))).trusted is True
    for call in (lambda: tracker.track("SF1"), lambda: tracker.subscribe("SF1")):
        with pytest.raises(CarrierError) as exc:
            call()
        assert exc.value.code == "unknown_carrier"
    assert fake.calls == []


def test_no_scans_yet_is_an_empty_trace():
    assert parse_query_reply('{"result":false,"returnCode":"500","message":"查询无结果，请隔段时间再查"}') == []


# Kuaidi100's advanced sub-states of 2 疑难 (resultv2=4), names as published in its real-time query
# documentation (api.kuaidi100.com; the same table is quoted in public clients' status maps:
# 201 超时未签收, 202 超时未更新, 203 拒收, 204 派件异常, 205 柜或驿站超时未取, 206 无法联系, 207 超区,
# 208 滞留, 209 破损, 210 销单).
ADVANCED_2XX = [
    ("201", "超时未签收", Status.DELIVERY_FAILED),
    ("202", "超时未更新", Status.UNKNOWN),  # no scans: nothing is known about where it is
    ("203", "拒收", Status.REFUSED),
    ("204", "派件异常", Status.DELIVERY_FAILED),
    ("205", "柜或驿站超时未取", Status.READY_FOR_PICKUP),
    ("206", "无法联系", Status.DELIVERY_FAILED),
    ("207", "超区", Status.DELIVERY_FAILED),
    ("208", "滞留", Status.DELIVERY_FAILED),
    ("209", "破损", Status.DELIVERY_FAILED),
    ("210", "销单", Status.CANCELLED),
]


@pytest.mark.parametrize(("code", "name", "status"), ADVANCED_2XX)
def test_advanced_problem_sub_states_are_mapped(code, name, status):
    item = {"ftime": "2024-03-15 12:00:00", "context": "x", "statusCode": code, "status": name}
    (event,) = parse_query_reply(json.dumps(make_result("SF1", "shunfeng", "2", [item])))
    assert event.status is status
    # the same without the code: by the published name
    named = {"ftime": "2024-03-15 12:00:00", "context": "x", "status": name}
    (event,) = parse_query_reply(json.dumps(make_result("SF1", "shunfeng", "0", [named])))
    assert event.status is status
    # and as the reply's state for the newest item
    bare = {"ftime": "2024-03-15 12:00:00", "context": "x"}
    (event,) = parse_query_reply(json.dumps(make_result("SF1", "shunfeng", code, [bare])))
    assert event.status is status


def test_refusal_sub_state_moves_an_out_for_delivery_parcel():
    items = [{"ftime": "2024-03-15 12:00:00", "context": "收件人拒收", "statusCode": "203", "status": "拒收"},
             {"ftime": "2024-03-15 09:00:00", "context": "派件中", "statusCode": "5", "status": "派件"}]
    events = parse_query_reply(json.dumps(make_result("SF1", "shunfeng", "2", items)))
    status, _ = apply_events("in_transit", events)
    assert status is Status.REFUSED
