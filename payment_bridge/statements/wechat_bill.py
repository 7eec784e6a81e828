"""WeChat Pay trade bill (交易账单), type ALL: parse, check the summary, and write.

The file is UTF-8 CSV (a BOM is tolerated): a column header, one row per
payment or refund with every field prefixed by a backtick (so spreadsheets keep
long numbers as text), then a summary header and a summary row, also
backticked. Amounts are yuan; a refund row may show its fee as a negative.
Times are Beijing time ``YYYY-MM-DD HH:MM:SS``.

手续费 and 手续费总金额 come with five decimals (``0.04000``, ``0.00020``: fractions
of a fen), as in WeChat's published format and the real bills quoted by public SDKs
(binarywang/WxJava's ``WxPayBillResultTest``). They are kept exactly, in
thousandths of a fen (:data:`kernel.money.MFEN_PER_FEN`, one hundred-thousandth of a yuan), and the
summary's fee total is checked to the last decimal. Other amounts have two decimals.

Normalisation: a ``SUCCESS`` row is a payment of 订单金额 (the amount asked,
``amount.total``); a ``REFUND`` row is a refund of 申请退款金额 (``amount.refund``),
keyed by 商户退款单号. Other trade states are refused, so a format change is
noticed rather than silently dropped.
"""

import csv
import io
import re
from dataclasses import dataclass, fields
from datetime import datetime

from kernel.clock import beijing_to_utc, to_beijing
from payment_bridge.errors import AmountError, StatementError
from kernel.money import fen_to_yuan, mfen_to_fen, mfen_to_yuan, yuan_to_fen, yuan_to_mfen
from payment_bridge.statements.normalised import PAID, REFUND, StatementLine, numbered_csv_rows

PLATFORM = "wechatpay"
COLUMNS = (
    "交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识",
    "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额", "微信退款单号",
    "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态", "商品名称", "商户数据包",
    "手续费", "费率", "订单金额", "申请退款金额", "费率备注",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
)
MAX_BILL_BYTES = 256 * 1024 * 1024
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_STATES = {"SUCCESS": PAID, "REFUND": REFUND}
_COUNT = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class WechatBillRow:
    """One bill row, field for field in :data:`COLUMNS` order; amounts in fen, time UTC."""

    trade_time: datetime
    appid: str
    mchid: str
    sub_mchid: str
    device_info: str
    transaction_id: str
    out_trade_no: str
    openid: str
    trade_type: str
    trade_state: str
    bank_type: str
    currency: str
    settlement_total_fen: int
    coupon_fen: int
    refund_id: str
    out_refund_no: str
    refund_fen: int
    coupon_refund_fen: int
    refund_type: str
    refund_status: str
    description: str
    attach: str
    fee_mfen: int  # thousandths of a fen, exactly as billed (five decimals of a yuan)
    fee_rate: str
    order_total_fen: int
    requested_refund_fen: int
    fee_remark: str


_FIELDS = tuple(field.name for field in fields(WechatBillRow))
_AMOUNTS = frozenset(name for name in _FIELDS if name.endswith("_fen"))
_FEE = "fee_mfen"
# Summary amounts, in SUMMARY_COLUMNS order after the count.
_SUMMED = (
    "settlement_total_fen",
    "refund_fen",
    "coupon_refund_fen",
    _FEE,
    "order_total_fen",
    "requested_refund_fen",
)


@dataclass(frozen=True)
class WechatBill:
    """A parsed, summary-checked bill: the rows as written and their normalised lines."""

    rows: tuple[WechatBillRow, ...]
    lines: tuple[StatementLine, ...]


def _tick(value: str) -> str:
    return "`" + value


def _format_value(name: str, row: WechatBillRow) -> str:
    value = getattr(row, name)
    if name == "trade_time":
        return to_beijing(value).strftime(_TIME_FORMAT)
    if name in _AMOUNTS:
        return fen_to_yuan(value)
    if name == _FEE:
        return mfen_to_yuan(value)
    return value


def _format_total(name: str, total: int) -> str:
    return mfen_to_yuan(total) if name == _FEE else fen_to_yuan(total)


def write_wechat_bill(rows: list[WechatBillRow]) -> bytes:
    """Write an ALL trade bill exactly in WeChat's layout (the simulator's side)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_tick(_format_value(name, row)) for name in _FIELDS])
    writer.writerow(SUMMARY_COLUMNS)
    sums = [sum(getattr(row, name) for row in rows) for name in _SUMMED]
    summary = [str(len(rows))] + [_format_total(name, total) for name, total in zip(_SUMMED, sums, strict=True)]
    writer.writerow([_tick(value) for value in summary])
    return out.getvalue().encode("utf-8")


def parse_wechat_bill(raw: bytes, *, max_bytes: int = MAX_BILL_BYTES) -> WechatBill:
    """Parse an ALL trade bill and verify its summary; raise :class:`StatementError`."""
    if not isinstance(raw, (bytes, bytearray)) or len(raw) > max_bytes:
        raise StatementError(f"bill must be bytes of at most {max_bytes}")
    try:
        text = bytes(raw).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StatementError("bill is not valid UTF-8") from None
    rows = numbered_csv_rows(text)
    if len(rows) < 3:
        raise StatementError("bill needs a column header, a summary header and a summary row")
    if tuple(rows[0][1]) != COLUMNS:
        raise StatementError(f"line {rows[0][0]}: not the column header of an ALL trade bill")
    summary_header_line, summary_header = rows[-2]
    if tuple(summary_header) != SUMMARY_COLUMNS:
        raise StatementError(f"line {summary_header_line}: expected the summary header")
    bill_rows = tuple(_parse_row(number, row) for number, row in rows[1:-2])
    _check_summary(rows[-1][0], rows[-1][1], bill_rows)
    lines = tuple(_normalise(number, row) for (number, _), row in zip(rows[1:-2], bill_rows, strict=True))
    return WechatBill(rows=bill_rows, lines=lines)


def _untick(number: int, row: list[str], width: int) -> list[str]:
    if len(row) != width:
        raise StatementError(f"line {number}: expected {width} fields, got {len(row)}")
    if not all(value.startswith("`") for value in row):
        raise StatementError(f"line {number}: every field must start with a backtick")
    return [value[1:] for value in row]


def _amount(number: int, column: str, text: str, *, fee: bool = False) -> int:
    """Fen, or for 手续费 (``fee``) thousandths of a fen, negative allowed."""
    try:
        return yuan_to_mfen(text) if fee else yuan_to_fen(text)
    except AmountError as exc:
        raise StatementError(f"line {number}: {column}: {exc.message}") from None


def _parse_row(number: int, row: list[str]) -> WechatBillRow:
    values = dict(zip(_FIELDS, _untick(number, row, len(COLUMNS)), strict=True))
    parsed: dict = {}
    for name, column in zip(_FIELDS, COLUMNS, strict=True):
        text = values[name]
        if name in _AMOUNTS or name == _FEE:
            parsed[name] = _amount(number, column, text, fee=name == _FEE)
        elif len(text) > 256:
            raise StatementError(f"line {number}: {column} longer than 256 characters")
        else:
            parsed[name] = text
    try:
        local = datetime.strptime(values["trade_time"], _TIME_FORMAT)
    except ValueError:
        raise StatementError(f"line {number}: 交易时间 must be YYYY-MM-DD HH:MM:SS") from None
    parsed["trade_time"] = beijing_to_utc(local.date(), local.time())
    return WechatBillRow(**parsed)


def _check_summary(number: int, row: list[str], rows: tuple[WechatBillRow, ...]) -> None:
    values = _untick(number, row, len(SUMMARY_COLUMNS))
    if not _COUNT.fullmatch(values[0]):
        raise StatementError(f"line {number}: 总交易单数 must be a count")
    stated = [int(values[0])] + [
        _amount(number, column, text, fee=name == _FEE)
        for name, column, text in zip(_SUMMED, SUMMARY_COLUMNS[1:], values[1:], strict=True)
    ]
    actual = [len(rows)] + [sum(getattr(bill_row, name) for bill_row in rows) for name in _SUMMED]
    wrong = [column for column, a, b in zip(SUMMARY_COLUMNS, stated, actual, strict=True) if a != b]
    if wrong:
        raise StatementError(
            f"line {number}: summary does not match the rows ({', '.join(wrong)})",
            code="statement_totals_mismatch",
        )


def _normalise(number: int, row: WechatBillRow) -> StatementLine:
    status = _STATES.get(row.trade_state)
    if status is None:
        raise StatementError(f"line {number}: trade state {row.trade_state!r} is not SUCCESS or REFUND")
    if not row.out_trade_no or not row.transaction_id:
        raise StatementError(f"line {number}: 商户订单号 and 微信订单号 are required")
    refund = status == REFUND
    if refund and not row.out_refund_no:
        raise StatementError(f"line {number}: a refund row needs 商户退款单号")
    return StatementLine(
        platform=PLATFORM,
        order_ref=row.out_trade_no,
        transaction_id=row.transaction_id,
        amount_fen=row.requested_refund_fen if refund else row.order_total_fen,
        fee_fen=mfen_to_fen(row.fee_mfen),
        fee_mfen=row.fee_mfen,
        status=status,
        paid_at=row.trade_time,
        line_no=number,
        refund_ref=row.out_refund_no if refund else None,
    )
