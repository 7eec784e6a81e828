"""Courier bill files: round trips, totals, malformed files, hashes."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logistics_bridge.bills import (
    parse_ems_bill,
    parse_sf_bill,
    sha256_of,
    write_ems_bill,
    write_sf_bill,
)
from logistics_bridge.carriers.base import BillLine
from logistics_bridge.errors import BillFormatError

BEIJING = timezone(timedelta(hours=8))

SF_SAMPLE = (
    "\ufeff运单号,寄件日期,产品类型,始发地,目的地,计费重量(kg),运费(元),附加费(元),应付金额(元),状态\r\n"
    "SF1234567890123,2024-03-01 10:22:33,顺丰标快,合肥市,合肥市,1.5,12.00,2.00,14.00,正常\r\n"
    "SF1234567890124,2024-03-02 09:00:00,顺丰标快,合肥市,芜湖市,0.5,10,0,10.00,已取消\r\n"
    "SF1234567890125,2024-03-03 16:45:10,顺丰特快,合肥市,上海市,2,23.00,-3.00,20.00,退回\r\n"
    "合计,,,,,,45.00,-1.00,44.00,\r\n"
).encode("utf-8")


def test_parse_real_looking_sf_bill_with_extra_columns():
    lines = parse_sf_bill(SF_SAMPLE)
    assert [line.waybill_no for line in lines] == ["SF1234567890123", "SF1234567890124", "SF1234567890125"]
    first = lines[0]
    assert (first.fee_fen, first.surcharge_fen, first.weight_g, first.status) == (1200, 200, 1500, "billed")
    assert first.billed_at == datetime(2024, 3, 1, 2, 22, 33, tzinfo=timezone.utc)
    assert first.line_no == 2 and first.carrier == "sf"
    assert [line.status for line in lines] == ["billed", "cancelled", "returned"]
    assert lines[2].surcharge_fen == -300


def test_ems_bill_is_gbk_with_grams_and_dates():
    raw = (
        "邮件号,收寄日期,重量(克),资费(元),附加费(元),总资费(元),状态\r\n"
        "1151234567890,2024/03/05,300,8.00,0.00,8.00,正常\r\n"
        "1151234567891,2024/03/06,1200,15.00,1.00,16.00,作废\r\n"
        "合计,,,23.00,1.00,24.00,\r\n"
    ).encode("gbk")
    lines = parse_ems_bill(raw)
    assert [(line.weight_g, line.total_fen, line.status) for line in lines] == [
        (300, 800, "billed"),
        (1200, 1600, "cancelled"),
    ]
    assert lines[0].billed_at == datetime(2024, 3, 4, 16, 0, tzinfo=timezone.utc)  # Beijing midnight
    with pytest.raises(BillFormatError):
        parse_ems_bill(SF_SAMPLE)  # UTF-8 Chinese is not valid GBK here / wrong columns


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda t: t.replace("45.00,-1.00,44.00", "45.00,-1.00,45.00"), "total row"),
        (lambda t: t.replace("合计,,,,,,45.00,-1.00,44.00,\r\n", ""), "truncated"),
        (lambda t: t.replace("12.00,2.00,14.00", "12.00,2.00,15.00"), "line total"),
        (lambda t: t.replace(",正常", ",丢失"), "unknown status"),
        (lambda t: t.replace("1.5,12.00", "1.5kg,12.00"), "weight"),
        (lambda t: t.replace("12.00,2.00", "12.001,2.00"), "amount"),
        (lambda t: t.replace("2024-03-01 10:22:33", "03/01/2024"), "Beijing time"),
        (lambda t: t.replace("应付金额(元)", "金额"), "missing column"),
        (lambda t: t + "SF9,2024-03-04 00:00:00,x,x,x,1,1.00,0.00,1.00,正常\r\n", "after the total"),
        (lambda t: "", "empty"),
    ],
)
def test_malformed_sf_bills_are_refused_with_a_reason(mutate, needle):
    raw = mutate(SF_SAMPLE.decode("utf-8")).encode("utf-8")
    with pytest.raises(BillFormatError) as exc:
        parse_sf_bill(raw)
    assert needle in exc.value.message
    assert exc.value.code == "bad_bill"


def test_error_names_the_line():
    raw = SF_SAMPLE.decode("utf-8").replace(",退回", ",丢失").encode("utf-8")
    with pytest.raises(BillFormatError) as exc:
        parse_sf_bill(raw)
    assert exc.value.line_no == 4


def test_sha256_of_raw_bytes():
    assert sha256_of(SF_SAMPLE) == hashlib.sha256(SF_SAMPLE).hexdigest()
    assert sha256_of(SF_SAMPLE) != sha256_of(SF_SAMPLE + b"\r\n")


amounts = st.integers(-10_000, 1_000_000)
statuses = st.sampled_from(["billed", "cancelled", "returned"])


def _line(carrier, waybill, fee, surcharge, weight_g, billed_at, status):
    return BillLine(waybill_no=waybill, carrier=carrier, fee_fen=fee, surcharge_fen=surcharge, weight_g=weight_g,
                    billed_at=billed_at, status=status)


sf_lines = st.lists(
    st.builds(
        _line,
        st.just("sf"),
        st.from_regex(r"SF[0-9]{13}", fullmatch=True),
        amounts,
        amounts,
        st.integers(1, 999_999).map(lambda g: g // 10 * 10 or 10),  # SF bills to 10 g
        st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)).map(
            lambda d: d.replace(microsecond=0, tzinfo=BEIJING).astimezone(timezone.utc)
        ),
        statuses,
    ),
    max_size=20,
)

ems_lines = st.lists(
    st.builds(
        _line,
        st.just("ems"),
        st.from_regex(r"1[0-9]{12}", fullmatch=True),
        amounts,
        amounts,
        st.integers(1, 99_999),
        st.dates(date(2020, 1, 1), date(2030, 1, 1)).map(
            lambda d: datetime.combine(d, time(0), tzinfo=BEIJING).astimezone(timezone.utc)
        ),
        statuses,
    ),
    max_size=20,
)


def _without_line_no(lines):
    return [BillLine(**{**line.__dict__, "line_no": None}) for line in lines]


@given(sf_lines)
def test_sf_bill_round_trip(lines):
    raw = write_sf_bill(lines)
    assert raw.startswith("\ufeff".encode("utf-8"))
    parsed = parse_sf_bill(raw)
    assert _without_line_no(parsed) == lines
    assert [line.line_no for line in parsed] == list(range(2, len(lines) + 2))


@given(ems_lines)
def test_ems_bill_round_trip(lines):
    assert _without_line_no(parse_ems_bill(write_ems_bill(lines))) == lines
