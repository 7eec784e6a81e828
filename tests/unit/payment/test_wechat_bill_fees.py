"""WeChat Pay trade bills as published: 手续费 to five decimal places (fractions of a fen).

The shape follows WeChat Pay's "交易账单文件格式说明"
(https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html: every detail and
summary value prefixed by a backquote) and the real bills quoted in public SDK tests, e.g.
binarywang/WxJava ``weixin-java-pay/src/test/java/com/github/binarywang/wxpay/bean/result/
WxPayBillResultTest.java`` (ALL bill: a 6.00 payment with ``\\`0.04000`` fee, summary
``\\`0.01000``; a REFUND bill with ``\\`-0.02000`` fee total) and merchant bills with
``\\`0.00000,\\`0.60%`` fee/rate pairs. Rows here are invented but written in that exact shape.
"""

from datetime import UTC, datetime

import pytest

from payment_bridge.errors import StatementError
from payment_bridge.statements import PAID, REFUND, parse_wechat_bill, write_wechat_bill

HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注"
)
SUMMARY_HEADER = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
ROWS = [
    # a 6.00 payment whose fee is 0.04000 (WxJava's sample row)
    "`2026-11-30 08:35:41,`wxd678efh567hg6787,`1900000001,`0,`,`4200002026113012345678901,`34010024300000000201,"
    "`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`PSBC_DEBIT,`CNY,`6.00,`0.00,`0,`0,`0.00,`0.00,`,`,"
    "`护照工本费,`case-201,`0.04000,`0.60%,`6.00,`0.00,`",
    # a 0.01 payment: fee less than a fen
    "`2026-11-30 09:00:00,`wxd678efh567hg6787,`1900000001,`0,`,`4200002026113012345678902,`34010024300000000202,"
    "`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`CFT,`CNY,`0.03,`0.00,`0,`0,`0.00,`0.00,`,`,"
    "`复印费,`case-202,`0.00020,`0.60%,`0.03,`0.00,`",
    # a refund of 0.01 giving back a fraction of a fen of fee
    "`2026-11-30 10:00:00,`wxd678efh567hg6787,`1900000001,`0,`,`4200002026113012345678902,`34010024300000000202,"
    "`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REFUND,`CFT,`CNY,`0.00,`0.00,`50000000382026113009732678859,"
    "`RF-202,`0.01,`0.00,`ORIGINAL,`SUCCESS,`复印费,`case-202,`-0.00006,`0.60%,`0.00,`0.01,`",
    # a fee of nothing
    "`2026-11-30 11:00:00,`wxd678efh567hg6787,`1900000001,`0,`,`4200002026113012345678903,`34010024300000000203,"
    "`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`JSAPI,`SUCCESS,`CFT,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,"
    "`复印费,`case-203,`0.00000,`0.60%,`0.01,`0.00,`",
]
SUMMARY = "`4,`6.04,`0.01,`0.00,`0.04014,`6.04,`0.01"


def bill(line_end: str, summary: str = SUMMARY) -> bytes:
    return line_end.join([HEADER, *ROWS, SUMMARY_HEADER, summary, ""]).encode("utf-8")


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_five_decimal_fees_are_parsed_exactly(line_end):
    parsed = parse_wechat_bill(bill(line_end))
    # thousandths of a fen (hundred-thousandths of a yuan): nothing rounded away
    assert [row.fee_mfen for row in parsed.rows] == [4000, 20, -6, 0]
    assert [line.fee_mfen for line in parsed.lines] == [4000, 20, -6, 0]
    # fee_fen is what settles: rounded half away from zero to the fen
    assert [line.fee_fen for line in parsed.lines] == [4, 0, 0, 0]
    paid = parsed.lines[0]
    assert (paid.status, paid.amount_fen, paid.paid_at) == (PAID, 600, datetime(2026, 11, 30, 0, 35, 41, tzinfo=UTC))
    assert (parsed.lines[2].status, parsed.lines[2].amount_fen, parsed.lines[2].refund_ref) == (REFUND, 1, "RF-202")
    assert sum(row.fee_mfen for row in parsed.rows) == 4014  # = 手续费总金额 0.04014


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("fee_total", ["0.04013", "0.04015", "0.04000", "0.04"])
def test_fee_total_reconciled_to_the_last_decimal(line_end, fee_total):
    with pytest.raises(StatementError) as caught:
        parse_wechat_bill(bill(line_end, SUMMARY.replace("`0.04014", f"`{fee_total}")))
    assert caught.value.code == "statement_totals_mismatch"
    assert "手续费总金额" in caught.value.message


@pytest.mark.parametrize("fee", ["0.000201", "0.0002x", "1e-4", "-"])
def test_fee_beyond_five_decimals_or_garbage_refused(fee):
    raw = bill("\n").decode().replace("`0.00020,", f"`{fee},", 1)
    with pytest.raises(StatementError, match="手续费"):
        parse_wechat_bill(raw.encode())


def test_amounts_other_than_fees_still_two_decimals():
    raw = bill("\n").decode().replace("`6.00,`0.00,`0,", "`6.001,`0.00,`0,", 1)
    with pytest.raises(StatementError, match="应结订单金额"):
        parse_wechat_bill(raw.encode())


def test_writer_uses_the_published_shape_and_round_trips():
    parsed = parse_wechat_bill(bill("\r\n"))
    raw = write_wechat_bill(list(parsed.rows))
    text = raw.decode("utf-8")
    assert ",`0.04000,`0.60%," in text and ",`-0.00006,`0.60%," in text
    assert text.splitlines()[-1] == SUMMARY
    assert raw == bill("\r\n")  # byte for byte, as WeChat writes it
    assert parse_wechat_bill(raw).rows == parsed.rows
