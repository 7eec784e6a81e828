"""SF msgData builders, reply parsing, route push, and the adapter over a fake transport."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from logistics_bridge.address import validate_address
from logistics_bridge.carriers.base import DeclaredItem, ShipmentRequest, TransportResponse
from logistics_bridge.carriers.sf import SfCarrier, SfSettings, make_push, make_reply, parse_push, verify_request
from logistics_bridge.carriers.sf import messages, units
from logistics_bridge.errors import CarrierError
from logistics_bridge.tracking import Status, apply_events
from logistics_bridge.wire import loads

CHECK_WORD = "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci"
SENDER = validate_address(
    {"name": "合肥市政务服务中心", "phone": "0551-63538000", "province": "安徽省", "city": "合肥市",
     "district": "蜀山区", "detail": "怀宁路1890号"}
)
RECIPIENT = validate_address(
    {"name": "张三", "phone": "13812345678", "province": "安徽省", "city": "合肥市", "district": "包河区",
     "detail": "徽州大道1号"}
)
REQUEST = ShipmentRequest(
    leg_id="LEG-2024-000001-R", sender=SENDER, recipient=RECIPIENT, weight_g=1250,
    items=(DeclaredItem("营业执照正本", 1),), service="standard",
)


def test_create_order_msg():
    msg = messages.create_order_msg(REQUEST, monthly_card="5510000001")
    assert msg["orderId"] == "LEG-2024-000001-R"
    assert msg["expressTypeId"] == 2 and msg["payMethod"] == 1 and msg["totalWeight"] == 1.25
    sender, recipient = msg["contactInfoList"]
    assert sender["contactType"] == 1 and sender["tel"] == "0551-63538000" and sender["county"] == "蜀山区"
    assert recipient["contactType"] == 2 and recipient["mobile"] == "13812345678"
    assert msg["cargoDetails"][0]["name"] == "营业执照正本"
    with pytest.raises(CarrierError) as exc:
        messages.create_order_msg(ShipmentRequest(**{**REQUEST.__dict__, "service": "drone"}), monthly_card="x")
    assert exc.value.code == "unknown_service"


def test_cancel_and_routes_msgs():
    assert messages.cancel_order_msg("LEG-1", "SF1")["dealType"] == 2
    msg = messages.search_routes_msg("SF1234567890123", phone="13812345678")
    assert msg["trackingNumber"] == ["SF1234567890123"] and msg["checkPhoneNo"] == "5678"


def test_reply_a1000_success_unwraps_msg_data():
    body = make_reply({"orderId": "LEG-1", "waybillNoInfoList": [{"waybillType": 1, "waybillNo": "SF1"}]})
    assert messages.parse_reply(body)["orderId"] == "LEG-1"


def test_reply_a1006_is_a_refused_digest():
    with pytest.raises(CarrierError) as exc:
        messages.parse_reply(make_reply(api_result_code="A1006"))
    assert exc.value.code == "bad_digest"
    assert "digest" in exc.value.message and "refused" in exc.value.message
    assert exc.value.carrier_code == "A1006" and not exc.value.retryable


def test_reply_a1000_with_business_error_is_not_success():
    with pytest.raises(CarrierError) as exc:
        messages.parse_reply(make_reply(error_code="8016", error_msg="重复下单"))
    assert exc.value.code == "duplicate_order" and exc.value.carrier_code == "8016"
    with pytest.raises(CarrierError) as exc:
        messages.parse_reply(make_reply(error_code="1010", error_msg="寄件地址不能为空"))
    assert exc.value.code == "rejected" and "1010" in exc.value.message


def test_reply_gateway_codes_and_garbage():
    with pytest.raises(CarrierError) as exc:
        messages.parse_reply(make_reply(api_result_code="A1005"))
    assert exc.value.code == "gateway_rejected" and exc.value.retryable
    with pytest.raises(CarrierError) as exc:
        messages.parse_reply(b"<html>502</html>")
    assert exc.value.code == "bad_reply"


def test_parse_create_and_cancel():
    msg = {"waybillNoInfoList": [{"waybillType": 1, "waybillNo": "SF7444400031887"}]}
    waybill = messages.parse_create(msg, "L1")
    assert waybill.waybill_no == "SF7444400031887" and waybill.carrier == "sf" and waybill.fee_fen is None
    with pytest.raises(CarrierError) as exc:
        messages.parse_create({"filterResult": 3}, "L1")
    assert exc.value.code == "not_serviceable"
    messages.parse_cancel({"resStatus": 2})
    with pytest.raises(CarrierError):
        messages.parse_cancel({"resStatus": 1})


# A real SF route trace (github.com/honghua-kd/website, logisticsRoutes.ts), shortened.
ROUTES = {
    "routeResps": [
        {
            "mailNo": "SF1234567890123",
            "routes": [
                {"acceptTime": "2023-11-04 10:30:56", "acceptAddress": "上海市",
                 "remark": "顺丰速运 已收取快件", "opCode": "54"},
                {"acceptTime": "2023-11-04 13:16:02", "acceptAddress": "上海市",
                 "remark": "快件在【上海浦东康桥店】完成分拣", "opCode": "30"},
                {"acceptTime": "2023-11-06 07:27:18", "acceptAddress": "佛山市",
                 "remark": "快件交给陈啟旋，正在派送途中", "opCode": "204"},
                {"acceptTime": "2023-11-06 07:58:31", "acceptAddress": "佛山市",
                 "remark": "您的快件已签收，如有疑问请电联快递员", "opCode": "80"},
            ],
        }
    ]
}


def test_parse_routes_beijing_time_to_utc_and_statuses():
    events = messages.parse_routes(ROUTES)
    assert [e.status for e in events] == [
        Status.PICKED_UP, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERED
    ]
    assert events[0].occurred_at == datetime(2023, 11, 4, 2, 30, 56, tzinfo=timezone.utc)
    assert events[-1].signed_by_other is False
    status, accepted = apply_events("created", events)
    assert status is Status.DELIVERED and len(accepted) == 4


@pytest.mark.parametrize(
    ("op_code", "remark", "status"),
    [
        ("50", "", Status.PICKED_UP),
        ("31", "", Status.IN_TRANSIT),
        ("44", "", Status.OUT_FOR_DELIVERY),
        ("8000", "", Status.DELIVERED),
        ("70", "收方客户不在，派件不成功", Status.DELIVERY_FAILED),
        ("33", "收方客户拒收", Status.REFUSED),
        ("648", "", Status.RETURN_TO_SENDER),
        ("9999", "", Status.UNKNOWN),
    ],
)
def test_route_status_table(op_code, remark, status):
    assert units.route_status(op_code, remark) is status


PUSH = make_push(
    [
        {"id": "1001", "mailno": "SF1234567890123", "orderid": "LEG-1", "acceptTime": "2024-03-15 12:42:20",
         "acceptAddress": "合肥市", "remark": "已签收,签收人是: 代收点", "opCode": "80"},
        {"id": "1000", "mailno": "SF1234567890123", "orderid": "LEG-1", "acceptTime": "2024-03-15 08:57:00",
         "acceptAddress": "合肥市", "remark": "正在派送途中", "opCode": "44"},
    ]
)


def test_route_push_is_parsed_answered_and_untrusted():
    result = parse_push(PUSH)
    assert json.loads(result.reply) == {"return_code": "0000", "return_msg": "成功"}
    assert result.trusted is False
    delivered = next(e for e in result.events if e.status is Status.DELIVERED)
    assert delivered.signed_by_other is True
    assert delivered.occurred_at == datetime(2024, 3, 15, 4, 42, 20, tzinfo=timezone.utc)
    status, accepted = apply_events("in_transit", result.events)
    assert status is Status.DELIVERED
    assert [e.status for e in accepted] == [Status.OUT_FOR_DELIVERY, Status.DELIVERED]


def test_push_and_poll_of_the_same_scan_share_an_event_id():
    route = {"id": "9", "mailno": "SF1", "acceptTime": "2024-03-15 08:00:00", "opCode": "50"}
    pushed = parse_push(make_push([route]))
    polled = messages.parse_routes(
        {"routeResps": [{"mailNo": "SF1", "routes": [{"acceptTime": "2024-03-15 08:00:00", "opCode": "50"}]}]}
    )
    assert pushed.events[0].event_id == polled[0].event_id


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{}",
        b'{"Body":{"WaybillRoute":"x"}}',
        b'{"Body":{"WaybillRoute":[{"opCode":"80"}]}}',
        b'{"Body":{"WaybillRoute":[{"mailno":"SF1","acceptTime":"yesterday","opCode":"80"}]}}',
    ],
)
def test_bad_pushes_are_refused(body):
    with pytest.raises(CarrierError) as exc:
        parse_push(body)
    assert exc.value.code == "bad_push"


def test_waybill_fee_query_parses_to_a_bill_line():
    line = messages.parse_waybill_fees(
        {"waybillNo": "SF1", "consignedTime": "2024-03-01 10:00:00", "meterageWeightQty": loads("1.5"),
         "waybillFeeList": [{"type": "1", "name": "运费", "value": loads("23.0")},
                            {"type": "3", "name": "保价", "value": loads("1.50")}]}
    )
    assert (line.fee_fen, line.surcharge_fen, line.weight_g) == (2300, 150, 1500)
    assert line.billed_at == datetime(2024, 3, 1, 2, 0, tzinfo=timezone.utc)


class FakeSf:
    """An in-memory SF gateway: checks the digest as SF does and answers per service."""

    def __init__(self, check_word=CHECK_WORD):
        self.check_word = check_word
        self.calls = []

    def __call__(self, url, *, data=None, body=None, headers=None):
        try:
            msg = verify_request(data, self.check_word)
        except Exception:
            return TransportResponse(200, make_reply(api_result_code="A1006").encode())
        self.calls.append((data["serviceCode"], msg))
        service = data["serviceCode"]
        if service == units.CREATE_ORDER:
            reply = {"orderId": msg["orderId"], "filterResult": 2,
                     "waybillNoInfoList": [{"waybillType": 1, "waybillNo": "SF7444400031887"}]}
        elif service == units.UPDATE_ORDER:
            reply = {"orderId": msg["orderId"], "resStatus": 2}
        elif service == units.SEARCH_ROUTES:
            reply = ROUTES
        else:
            reply = {"waybillNo": msg["trackingNum"], "consignedTime": "2024-03-01 10:00:00",
                     "meterageWeightQty": 1.2,
                     "waybillFeeList": [{"type": "1", "value": 12}, {"type": "2", "value": 2.5}]}
        return TransportResponse(200, make_reply(reply).encode())


def _carrier(check_word=CHECK_WORD, send=None):
    settings = SfSettings(partner_id="GOVLINK", check_word=check_word, monthly_card="5510000001")
    return SfCarrier(
        settings, send or FakeSf(), clock_ms=lambda: 1_710_000_000_000, new_request_id=lambda: "req-1"
    )


def test_adapter_round_trip_over_fake_gateway():
    gateway = FakeSf()
    sf = _carrier(send=gateway)
    waybill = sf.create_waybill(REQUEST)
    assert waybill.waybill_no == "SF7444400031887" and waybill.leg_id == REQUEST.leg_id
    sf.cancel(REQUEST.leg_id, waybill.waybill_no)
    assert [e.status for e in sf.track("SF1234567890123", phone="13812345678")][-1] is Status.DELIVERED
    (line,) = sf.fetch_bill(["SF7444400031887"])
    assert (line.fee_fen, line.surcharge_fen, line.weight_g) == (1200, 250, 1200)
    assert [service for service, _ in gateway.calls] == [
        units.CREATE_ORDER, units.UPDATE_ORDER, units.SEARCH_ROUTES, units.QUERY_WAYBILL]


def test_adapter_with_wrong_check_word_gets_bad_digest():
    sf = _carrier(check_word="wrong", send=FakeSf())
    with pytest.raises(CarrierError) as exc:
        sf.create_waybill(REQUEST)
    assert exc.value.code == "bad_digest"


def test_adapter_http_errors_are_retryable_when_5xx():
    sf = _carrier(send=lambda url, **kw: TransportResponse(503, b""))
    with pytest.raises(CarrierError) as exc:
        sf.track("SF1")
    assert exc.value.code == "http_503" and exc.value.retryable


def test_settings_repr_hides_the_check_word():
    assert CHECK_WORD not in repr(SfSettings(partner_id="P", check_word=CHECK_WORD, monthly_card="M"))


def test_route_query_language_is_sfs_code_not_a_locale():
    """EXP_RECE_SEARCH_ROUTES `language`: 0 中文, 1 English, 2 繁體 (SF open platform's route query
    fields; public clients send "0", e.g. {"language": "0", "trackingType": "1", ...}). create/update
    orders take "zh-CN", a different field convention."""
    assert messages.search_routes_msg("SF1234567890123")["language"] == "0"
    assert messages.create_order_msg(REQUEST, monthly_card="x")["language"] == "zh-CN"
