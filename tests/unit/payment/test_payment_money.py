"""Money conversion: exact, strict, and never through float."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payment_bridge.errors import AmountError
from kernel.money import MAX_FEN, fen_to_yuan, require_fen, yuan_to_fen


@given(st.integers(min_value=0, max_value=MAX_FEN))
def test_fen_yuan_fen_round_trip(fen):
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


@given(st.integers(min_value=-MAX_FEN, max_value=MAX_FEN))
def test_signed_round_trip(fen):
    assert yuan_to_fen(fen_to_yuan(fen, allow_negative=True), allow_negative=True) == fen


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("0", 0),
        ("0.00", 0),
        ("0.01", 1),
        ("12.3", 1230),
        ("12.30", 1230),
        ("1", 100),
        ("99999999999.99", MAX_FEN),
    ],
)
def test_valid_yuan(text, fen):
    assert yuan_to_fen(text) == fen


def test_fen_to_yuan_formats_two_decimals():
    assert fen_to_yuan(1230) == "12.30"
    assert fen_to_yuan(5) == "0.05"
    assert fen_to_yuan(0) == "0.00"
    assert fen_to_yuan(-7, allow_negative=True) == "-0.07"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "-1",
        "-0.01",
        "+1",
        "1.234",
        "1.",
        ".5",
        "01",
        "00.10",
        "1e3",
        "1E2",
        "NaN",
        "inf",
        "Infinity",
        "1,000",
        "1 000",
        " 1",
        "1 ",
        "1\n",
        "\uff11\uff12",
        "١٢",
        "0x10",
        "12.3.4",
        "--1",
        "100000000000",
        "999999999999999999999999",
        "1_000",
        "¥1",
        "1元",
    ],
)
def test_hostile_yuan_refused(text):
    with pytest.raises(AmountError):
        yuan_to_fen(text)


@pytest.mark.parametrize("value", [12.3, 1230, None, b"12.30", ["1"]])
def test_non_string_refused(value):
    with pytest.raises(AmountError):
        yuan_to_fen(value)


@given(st.text(max_size=40))
def test_arbitrary_text_either_parses_or_raises_amount_error(text):
    try:
        fen = yuan_to_fen(text)
    except AmountError:
        return
    assert 0 <= fen <= MAX_FEN
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


@pytest.mark.parametrize("value", [-1, MAX_FEN + 1, True, 1.5, "100"])
def test_fen_to_yuan_refuses(value):
    with pytest.raises(AmountError):
        fen_to_yuan(value)


def test_require_fen():
    assert require_fen(5, minimum=1) == 5
    with pytest.raises(AmountError):
        require_fen(0, minimum=1)
