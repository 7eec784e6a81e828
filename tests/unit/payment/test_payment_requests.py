"""A notice request's checks, once (the service and the API schema both use these), without a database."""
from datetime import datetime, timedelta, timezone

import pytest

from payment_bridge.errors import Refused
from payment_bridge.requests import (MAX_ITEMS, PLATFORMS, Item, NoticeRequest, check_notice_request, refund_no_for,
                                     request_hash)

NOW = datetime(2031, 5, 6, 7, 8, tzinfo=timezone.utc)
AGENCIES = {"A01": "某局"}
SAMPLE_ID = "11010519491231002X"
SAMPLE_USCC = "91350100M000100Y43"


def _request(**changes) -> NoticeRequest:
    fields = dict(agency_code="A01", payer_key=SAMPLE_ID, payer_name="张三",
                  items=(Item("GA-0101", "工本费", "项", 1000, 1),))
    fields.update(changes)
    return NoticeRequest(**fields)


def _refusal(request, platforms=PLATFORMS) -> Refused:
    with pytest.raises(Refused) as caught:
        check_notice_request(request, agencies=AGENCIES, platforms=platforms, now=NOW)
    return caught.value


def test_a_good_request_passes_with_the_payers_kind():
    assert check_notice_request(_request(), agencies=AGENCIES, platforms=PLATFORMS, now=NOW) == (SAMPLE_ID, "resident")
    assert check_notice_request(_request(payer_key=SAMPLE_USCC), agencies=AGENCIES, platforms=PLATFORMS,
                                now=NOW) == (SAMPLE_USCC, "enterprise")


def test_the_platform_list_is_one_list():
    assert PLATFORMS == ("nontax", "wechatpay")
    refused = _refusal(_request(platform="alipay"))
    assert (refused.status, refused.code) == (422, "unknown_platform")
    refused = _refusal(_request(platform="wechatpay"), platforms=("nontax",))
    assert refused.code == "unknown_platform"


def test_the_api_schema_uses_the_same_platform_list_and_item_count():
    from routes.api.payments import NoticeCreateSchema

    schema = NoticeCreateSchema()
    assert schema.validate({"items": [{"code": "X"}], "platform": "alipay"}).get("platform")
    assert not schema.validate({"items": [{"code": "X"}], "platform": PLATFORMS[-1]}).get("platform")
    assert schema.validate({"items": [{"code": "X"}] * (MAX_ITEMS + 1)}).get("items")
    assert not schema.validate({"items": [{"code": "X"}] * MAX_ITEMS}).get("items")


@pytest.mark.parametrize(("changes", "code"), [
    ({"agency_code": "ZZ"}, "unknown_agency"),
    ({"payer_key": "110105194912310021"}, "invalid_payer_key"),
    ({"items": ()}, "invalid_items"),
    ({"items": (Item("X", "n", "项", 1, 1),) * (MAX_ITEMS + 1)}, "invalid_items"),
    ({"items": (Item("X", "n", "项", 0, 1),)}, "invalid_items"),
    ({"items": (Item("X", "n", "项", 1, 0),)}, "invalid_items"),
    ({"items": (Item("X", "a|b", "项", 1, 1),)}, "invalid_items"),
    ({"items": (Item("X", "n", "#", 1, 1),)}, "invalid_items"),
    ({"items": (Item("X", "n", "项", 10**12, 10),)}, "invalid_amount"),
    ({"due_at": NOW}, "invalid_due_at"),
])
def test_bad_requests_are_refused_422(changes, code):
    refused = _refusal(_request(**changes))
    assert (refused.status, refused.code) == (422, code)


def test_invalid_payer_key_names_the_rule_not_the_key():
    refused = _refusal(_request(payer_key="110105194912310021"))
    assert refused.details.get("rule") and "110105194912310021" not in refused.message


def test_future_due_at_passes():
    check_notice_request(_request(due_at=NOW + timedelta(minutes=1)), agencies=AGENCIES, platforms=PLATFORMS, now=NOW)


def test_request_hash_ignores_key_order_and_refund_numbers_fit_both_platforms():
    assert request_hash({"a": 1, "b": [1, 2]}) == request_hash({"b": [1, 2], "a": 1})
    assert request_hash({"a": 1}) != request_hash({"a": 2})
    number = refund_no_for("refund-0001")
    assert len(number) == 32 and number.startswith("R") and number == refund_no_for("refund-0001")
