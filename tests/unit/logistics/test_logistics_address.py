"""Address validation, phone normalisation and masking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logistics_bridge.address import Address, mask_phone, normalise_phone, validate_address
from logistics_bridge.errors import InvalidAddress

GOOD = {
    "name": "张三",
    "phone": "13812345678",
    "province": "安徽省",
    "city": "合肥市",
    "district": "蜀山区",
    "detail": "长江西路100号政务服务中心",
}


def test_good_address_is_normalised():
    address = validate_address({**GOOD, "province": "安徽", "detail": "  长江西路１００号   政务服务中心 "})
    assert address == Address(
        name="张三", phone="13812345678", province="安徽省", city="合肥市", district="蜀山区",
        detail="长江西路100号 政务服务中心",
    )
    assert validate_address(address) == address


def test_municipality_city_defaults_to_itself():
    address = validate_address({**GOOD, "province": "上海", "city": "", "district": "浦东新区"})
    assert address.province == "上海市" and address.city == "上海市"
    address = validate_address({**GOOD, "province": "北京市", "city": "市辖区", "district": "朝阳区"})
    assert address.city == "北京市"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "张" * 31),
        ("name", "张\x00三"),
        ("province", "香港特别行政区"),
        ("province", "火星"),
        ("city", ""),
        ("district", ""),
        ("detail", ""),
        ("detail", "蜀山区"),
        ("detail", "x" * 121),
        ("phone", "12812345678"),
        ("phone", "1381234567"),
        ("phone", "12345678"),
        ("phone", "0551-123"),
        ("phone", "551-12345678"),
        ("phone", "0101-1234567"),
        ("phone", "abc"),
    ],
)
def test_bad_address_names_the_field(field, value):
    with pytest.raises(InvalidAddress) as exc:
        validate_address({**GOOD, field: value})
    assert exc.value.field == field
    assert exc.value.code == "invalid_address"


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("13812345678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("0551-12345678", "0551-12345678"),
        ("055112345678", "0551-12345678"),
        ("(0551)12345678", "0551-12345678"),
        ("010-12345678", "010-12345678"),
        ("02112345678", "021-12345678"),
        ("0551-1234567-8001", "0551-1234567-8001"),
    ],
)
def test_phone_normalisation(raw, normal):
    assert normalise_phone(raw) == normal


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13812345678", "138****5678"),
        ("0551-12345678", "0551-****5678"),
        ("010-1234567-8", "010-***4567"),
        ("", ""),
    ],
)
def test_mask_phone(phone, masked):
    assert mask_phone(phone) == masked


def test_repr_keeps_personal_data_out_of_logs():
    text = repr(validate_address(GOOD))
    assert "张三" not in text and "13812345678" not in text and "长江西路" not in text
    assert "138****5678" in text


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_every_mainland_mobile_passes_and_masks_to_its_ends(mobile):
    assert normalise_phone(mobile) == mobile
    masked = mask_phone(mobile)
    assert masked[:3] == mobile[:3] and masked[-4:] == mobile[-4:] and "****" in masked
