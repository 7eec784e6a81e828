"""Statements and bills: round trips, backticks, summary lines, totals checks."""

import hashlib
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from payment_bridge.errors import StatementError
from payment_bridge.statements import (
    PAID,
    REFUND,
    StatementLine,
    WechatBillRow,
    parse_nontax_statement,
    parse_wechat_bill,
    sha256_of,
    write_nontax_statement,
    write_wechat_bill,
)

UTC = UTC


def nontax_lines():
    return [
        StatementLine(
            "nontax",
            "34010024300000000123",
            "B2024010500001",
            12030,
            0,
            PAID,
            datetime(2024, 1, 5, 2, 15, tzinfo=UTC),
            3,
        ),
        StatementLine(
            "nontax",
            "34010024300000000124",
            "B2024010500002",
            5000,
            12,
            PAID,
            datetime(2024, 1, 5, 15, 59, 59, tzinfo=UTC),
            4,
        ),  # 23:59:59 Beijing
        StatementLine(
            "nontax",
            "34010024300000000123",
            "B2024010500003",
            30,
            0,
            REFUND,
            datetime(2024, 1, 5, 8, 0, tzinfo=UTC),
            5,
        ),
    ]


def test_nontax_round_trip():
    raw = write_nontax_statement(date(2024, 1, 5), "340100", nontax_lines())
    text = raw.decode("gbk")
    assert text.startswith(
        "非税收入缴款日对账单,20240105,340100\r\n缴款码,交易流水号,交易类型,金额,手续费,确认时间\r\n"
    )
    assert "34010024300000000124,B2024010500002,缴款,50.00,0.12,20240105235959\r\n" in text
    assert text.endswith("合计,3,170.30,0.30,0.12\r\n")
    statement = parse_nontax_statement(raw)
    assert statement.statement_date == date(2024, 1, 5) and statement.adm_div_code == "340100"
    assert list(statement.lines) == nontax_lines()


def test_nontax_empty_day():
    statement = parse_nontax_statement(write_nontax_statement(date(2024, 1, 5), "340100", []))
    assert statement.lines == ()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("合计,3,170.30", "合计,3,170.31"),
        ("合计,3,", "合计,4,"),
        (",0.30,0.12\r\n", ",0.31,0.12\r\n"),
        (",0.30,0.12\r\n", ",0.30,0.13\r\n"),
    ],
)
def test_nontax_totals_mismatch_detected(old, new):
    raw = write_nontax_statement(date(2024, 1, 5), "340100", nontax_lines()).decode("gbk").replace(old, new)
    with pytest.raises(StatementError) as caught:
        parse_nontax_statement(raw.encode("gbk"))
    assert caught.value.code == "statement_totals_mismatch"


def test_nontax_removed_row_detected():
    text = write_nontax_statement(date(2024, 1, 5), "340100", nontax_lines()).decode("gbk")
    lines = text.split("\r\n")
    del lines[3]
    with pytest.raises(StatementError, match="totals"):
        parse_nontax_statement("\r\n".join(lines).encode("gbk"))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("非税收入缴款日对账单", "对账单", "line 1"),
        ("缴款码,", "缴费码,", "line 2"),
        ("34010024300000000124", "3401002430000000012", "line 4"),
        (",缴款,50.00", ",支付,50.00", "line 4"),
        (",50.00,", ",-50.00,", "line 4"),
        (",50.00,", ",5e1,", "line 4"),
        ("20240105235959", "20240105245959", "line 4"),
        ("合计,3,170.30,0.30,0.12\r\n", "", "totals"),
    ],
)
def test_nontax_malformed_refused(old, new, message):
    text = write_nontax_statement(date(2024, 1, 5), "340100", nontax_lines()).decode("gbk")
    with pytest.raises(StatementError, match=message):
        parse_nontax_statement(text.replace(old, new, 1).encode("gbk"))


def test_nontax_refuses_non_gbk_and_oversize():
    raw = write_nontax_statement(date(2024, 1, 5), "340100", nontax_lines())
    with pytest.raises(StatementError):
        parse_nontax_statement(b"\xff\xfe" + raw)
    with pytest.raises(StatementError):
        parse_nontax_statement(raw, max_bytes=10)


# --- WeChat bill -------------------------------------------------------------

HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注"
)
# A bill as WeChat writes it: backticks everywhere, a refund row with a negative fee.
REAL_BILL = "\r\n".join(
    [
        HEADER,
        "`2024-01-05 10:14:58,`wxd678efh567hg6787,`1900000001,`0,`,`4200002024010512345678901,"
        "`34010024300000000123,"
        "`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`120.30,`0.00,`0,`0,`0.00,`0.00,`,`,"
        "`护照工本费,`case-1,`0.72,`0.60%,`120.30,`0.00,`",
        "`2024-01-05 16:00:00,`wxd678efh567hg6787,`1900000001,`0,`,`4200002024010512345678901,"
        "`34010024300000000123,"
        "`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REFUND,`OTHERS,`CNY,`120.30,`0.00,`50000000382019052709732678859,"
        "`RF-1,`0.30,`0.00,`ORIGINAL,`SUCCESS,`护照工本费,`case-1,`-0.01,`0.60%,`120.30,`0.30,`",
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
        "`2,`240.60,`0.30,`0.00,`0.71,`240.60,`0.30",
        "",
    ]
)


def test_parse_real_shaped_bill():
    bill = parse_wechat_bill(("\ufeff" + REAL_BILL).encode("utf-8"))  # BOM tolerated
    paid, refund = bill.lines
    assert paid == StatementLine(
        "wechatpay",
        "34010024300000000123",
        "4200002024010512345678901",
        12030,
        72,
        PAID,
        datetime(2024, 1, 5, 2, 14, 58, tzinfo=UTC),
        2,
        fee_mfen=72000,
    )
    assert (refund.status, refund.amount_fen, refund.fee_fen, refund.refund_ref, refund.line_no) == (
        REFUND,
        30,
        -1,
        "RF-1",
        3,
    )
    assert bill.rows[0].description == "护照工本费" and bill.rows[0].device_info == ""
    assert bill.rows[1].refund_id == "50000000382019052709732678859"


def test_wechat_bill_round_trip():
    rows = list(parse_wechat_bill(REAL_BILL.encode()).rows)
    comma = replace(
        rows[0],
        description="工本费,加急",
        attach='say "hi"',
        transaction_id="4200002024010500000000002",
        out_trade_no="34010024300000000124",
    )
    rows.append(comma)
    raw = write_wechat_bill(rows)
    text = raw.decode("utf-8")
    assert text.splitlines()[0] == HEADER
    assert text.splitlines()[-2].startswith("总交易单数,")
    assert text.splitlines()[-1] == "`3,`360.90,`0.30,`0.00,`1.43000,`360.90,`0.30"
    bill = parse_wechat_bill(raw)
    assert list(bill.rows) == rows
    assert bill.lines[2].order_ref == "34010024300000000124"
    assert write_wechat_bill(list(bill.rows)) == raw


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("`2,`240.60", "`3,`240.60"),
        ("`240.60,`0.30,`0.00,`0.71", "`240.61,`0.30,`0.00,`0.71"),
        ("`0.30,`0.00,`0.71", "`0.31,`0.00,`0.71"),
        ("`0.71,`240.60,`0.30", "`0.70,`240.60,`0.30"),
        ("`240.60,`0.30\r\n", "`240.59,`0.30\r\n"),
        ("`240.60,`0.30\r\n", "`240.60,`0.29\r\n"),
    ],
)
def test_wechat_summary_mismatch_detected(old, new):
    assert old in REAL_BILL
    with pytest.raises(StatementError) as caught:
        parse_wechat_bill(REAL_BILL.replace(old, new).encode())
    assert caught.value.code == "statement_totals_mismatch"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("`2024-01-05 10:14:58,", "2024-01-05 10:14:58,", "backtick"),
        ("`2024-01-05 10:14:58,", "`2024/01/05 10:14:58,", "交易时间"),
        ("`120.30,`0.00,`0,", "`120.3x,`0.00,`0,", "应结订单金额"),
        ("`120.30,`0.00,`0,", "`-120.30,`0.00,`0,", "应结订单金额"),
        ("交易时间,", "时间,", "column header"),
        ("总交易单数,", "总单数,", "summary header"),
        ("`NATIVE,`SUCCESS,", "`NATIVE,`REVOKED,", "trade state"),
        (",`0.60%,`120.30,`0.00,`\r\n", ",`0.60%,`120.30,`0.00\r\n", "fields"),
    ],
)
def test_wechat_malformed_refused(old, new, message):
    assert old in REAL_BILL
    with pytest.raises(StatementError, match=message):
        parse_wechat_bill(REAL_BILL.replace(old, new, 1).encode())


def test_wechat_bill_needs_summary():
    truncated = "\r\n".join(REAL_BILL.split("\r\n")[:3])
    with pytest.raises(StatementError):
        parse_wechat_bill(truncated.encode())


def test_sha256_of():
    raw = REAL_BILL.encode()
    assert sha256_of(raw) == hashlib.sha256(raw).hexdigest()
    assert len(sha256_of(b"")) == 64


def test_bill_row_field_order_matches_columns():
    from dataclasses import fields

    from payment_bridge.statements.wechat_bill import COLUMNS

    assert len(fields(WechatBillRow)) == len(COLUMNS) == 27
