"""Payment codes (缴款码) under a configurable profile."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payment_bridge.errors import InvalidMessage
from payment_bridge.payment_code import (
    DEFAULT_PROFILE,
    PaymentCodeProfile,
    format_payment_code,
    parse_payment_code,
)


def test_default_layout():
    code = format_payment_code(DEFAULT_PROFILE, "340100", 2024, 123)
    assert code == "34010024300000000123"
    assert len(code) == DEFAULT_PROFILE.length == 20
    parsed = parse_payment_code(DEFAULT_PROFILE, code)
    assert (parsed.division, parsed.year, parsed.sequence, parsed.text) == ("340100", "24", 123, code)


@given(
    st.from_regex(r"[1-9][0-9]{5}", fullmatch=True),
    st.integers(min_value=2000, max_value=2099),
    st.integers(min_value=0, max_value=10**10 - 1),
)
def test_round_trip(division, year, sequence):
    code = format_payment_code(DEFAULT_PROFILE, division, year, sequence)
    parsed = parse_payment_code(DEFAULT_PROFILE, code)
    assert (parsed.division, int(parsed.year), parsed.sequence) == (division, year % 100, sequence)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3401002430000000012",  # 19 digits
        "340100243000000001234",  # 21 digits
        "34010024310000000123",  # marker 31, not 30
        "00000024300000000123",  # division all zeros
        "3401002430000000012X",
        " 3401002430000000012",
        "\uff134010024300000000123",  # full-width digit
        "٣٤٠١٠٠٢٤٣٠٠٠٠٠٠٠٠١٢٣",  # Arabic-Indic digits
        "3401002430000000012\x00",
        "3401002430000000-123",
    ],
)
def test_hostile_codes_refused(text):
    with pytest.raises(InvalidMessage) as caught:
        parse_payment_code(DEFAULT_PROFILE, text)
    assert caught.value.code == "invalid_payment_code"


@pytest.mark.parametrize("value", [None, 34010024300000000123, b"34010024300000000123"])
def test_non_string_refused(value):
    with pytest.raises(InvalidMessage):
        parse_payment_code(DEFAULT_PROFILE, value)


@pytest.mark.parametrize(
    ("division", "year", "sequence"),
    [
        ("34010", 2024, 1),
        ("000000", 2024, 1),
        ("34010A", 2024, 1),
        ("340100", 2024, 10**10),
        ("340100", 2024, -1),
        ("340100", -1, 1),
        ("340100", True, 1),
    ],
)
def test_format_refuses_bad_fields(division, year, sequence):
    with pytest.raises(InvalidMessage):
        format_payment_code(DEFAULT_PROFILE, division, year, sequence)


def test_custom_profile():
    profile = PaymentCodeProfile(name="anhui-test", year_digits=4, marker="9", sequence_digits=8)
    code = format_payment_code(profile, "340100", 2024, 42)
    assert code == "340100" + "2024" + "9" + "00000042"
    assert len(code) == profile.length == 19
    assert parse_payment_code(profile, code).sequence == 42
    with pytest.raises(InvalidMessage):
        parse_payment_code(DEFAULT_PROFILE, code)
    with pytest.raises(ValueError):
        PaymentCodeProfile(name="bad", marker="3a")
