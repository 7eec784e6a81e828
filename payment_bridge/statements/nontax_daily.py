"""The provincial non-tax daily statement (非税收入缴款日对账单): our chosen format.

The province publishes none, so we model the common bank-statement shape: a
GBK CSV file, CRLF line ends, amounts in yuan, times in Beijing time::

    非税收入缴款日对账单,20240105,320106                       ← title: statement date, AdmDivCode
    缴款码,交易流水号,交易类型,金额,手续费,确认时间               ← column header
    32010624300000000001,B2024010500001,缴款,12.30,0.00,20240105101500
    32010624300000000001,B2024010600007,退款,12.30,0.00,20240106090000
    合计,2,12.30,12.30,0.00                                    ← count, paid, refunded, fee totals

交易类型 is 缴款 (payment) or 退款 (refund); the totals line is checked against the
rows, and nothing may follow it. The finance side is authoritative.
"""

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime

from kernel.clock import beijing_to_utc, to_beijing
from payment_bridge.errors import AmountError, PaymentError, StatementError
from kernel.money import fen_to_yuan, yuan_to_fen
from payment_bridge.payment_code import DEFAULT_PROFILE, PaymentCodeProfile, parse_payment_code
from payment_bridge.statements.normalised import PAID, REFUND, StatementLine, numbered_csv_rows

PLATFORM = "nontax"
TITLE = "非税收入缴款日对账单"
COLUMNS = ("缴款码", "交易流水号", "交易类型", "金额", "手续费", "确认时间")
TOTALS_LABEL = "合计"
KINDS = {"缴款": PAID, "退款": REFUND}
MAX_STATEMENT_BYTES = 64 * 1024 * 1024

_DIGITS = re.compile(r"[0-9]+")
_TRANSACTION = re.compile(r"[A-Za-z0-9_\-]{1,64}")


@dataclass(frozen=True)
class NontaxStatement:
    """A parsed daily statement; its totals have been checked."""

    statement_date: date
    adm_div_code: str
    lines: tuple[StatementLine, ...]


def write_nontax_statement(statement_date: date, adm_div_code: str, lines: list[StatementLine]) -> bytes:
    """Write a daily statement (the simulator's side); ``line_no`` of the input is ignored."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([TITLE, statement_date.strftime("%Y%m%d"), adm_div_code])
    writer.writerow(COLUMNS)
    kind_names = {status: name for name, status in KINDS.items()}
    for line in lines:
        writer.writerow(
            [
                line.order_ref,
                line.transaction_id,
                kind_names[line.status],
                fen_to_yuan(line.amount_fen),
                fen_to_yuan(line.fee_fen),
                to_beijing(line.paid_at).strftime("%Y%m%d%H%M%S"),
            ]
        )
    paid, refunded, fee = _sums(lines)
    writer.writerow([TOTALS_LABEL, len(lines), fen_to_yuan(paid), fen_to_yuan(refunded), fen_to_yuan(fee)])
    return out.getvalue().encode("gbk")


def _sums(lines) -> tuple[int, int, int]:
    paid = sum(line.amount_fen for line in lines if line.status == PAID)
    refunded = sum(line.amount_fen for line in lines if line.status == REFUND)
    return paid, refunded, sum(line.fee_fen for line in lines)


def parse_nontax_statement(
    raw: bytes, *, profile: PaymentCodeProfile = DEFAULT_PROFILE, max_bytes: int = MAX_STATEMENT_BYTES
) -> NontaxStatement:
    """Parse and check a daily statement; raise :class:`StatementError` naming the line."""
    if not isinstance(raw, (bytes, bytearray)) or len(raw) > max_bytes:
        raise StatementError(f"statement must be bytes of at most {max_bytes}")
    try:
        text = bytes(raw).decode("gbk")
    except UnicodeDecodeError:
        raise StatementError("statement is not valid GBK") from None
    rows = numbered_csv_rows(text)
    if len(rows) < 3:
        raise StatementError("statement needs a title, a column header and a totals line")
    statement_date, adm_div_code = _parse_title(rows[0][1])
    if tuple(rows[1][1]) != COLUMNS:
        raise StatementError("line 2: unexpected column header")
    lines = tuple(_parse_row(number, row, profile) for number, row in rows[2:-1])
    _check_totals(rows[-1][0], rows[-1][1], lines)
    return NontaxStatement(statement_date, adm_div_code, lines)


def _parse_title(row: list[str]) -> tuple[date, str]:
    if len(row) != 3 or row[0] != TITLE:
        raise StatementError(f"line 1: title must be {TITLE},YYYYMMDD,AdmDivCode")
    try:
        if not _DIGITS.fullmatch(row[1]) or len(row[1]) != 8:
            raise ValueError
        statement_date = datetime.strptime(row[1], "%Y%m%d").date()
    except ValueError:
        raise StatementError("line 1: statement date must be YYYYMMDD") from None
    if not (_DIGITS.fullmatch(row[2]) and len(row[2]) == 6):
        raise StatementError("line 1: AdmDivCode must be 6 digits")
    return statement_date, row[2]


def _parse_row(number: int, row: list[str], profile: PaymentCodeProfile) -> StatementLine:
    if len(row) != len(COLUMNS):
        raise StatementError(f"line {number}: expected {len(COLUMNS)} fields, got {len(row)}")
    pay_code, transaction_id, kind, amount, fee, confirmed = row
    try:
        parse_payment_code(profile, pay_code)
        amount_fen, fee_fen = yuan_to_fen(amount), yuan_to_fen(fee)
    except (PaymentError, AmountError) as exc:
        raise StatementError(f"line {number}: {exc.message}") from None
    if amount_fen <= 0:
        raise StatementError(f"line {number}: amount must be positive")
    if not _TRANSACTION.fullmatch(transaction_id):
        raise StatementError(f"line {number}: malformed transaction number")
    if kind not in KINDS:
        raise StatementError(f"line {number}: 交易类型 must be 缴款 or 退款")
    try:
        if not (_DIGITS.fullmatch(confirmed) and len(confirmed) == 14):
            raise ValueError
        local = datetime.strptime(confirmed, "%Y%m%d%H%M%S")
    except ValueError:
        raise StatementError(f"line {number}: 确认时间 must be YYYYMMDDHHMMSS") from None
    return StatementLine(
        platform=PLATFORM,
        order_ref=pay_code,
        transaction_id=transaction_id,
        amount_fen=amount_fen,
        fee_fen=fee_fen,
        status=KINDS[kind],
        paid_at=beijing_to_utc(local.date(), local.time()),
        line_no=number,
    )


def _check_totals(number: int, row: list[str], lines: tuple[StatementLine, ...]) -> None:
    if len(row) != 5 or row[0] != TOTALS_LABEL:
        raise StatementError(
            f"line {number}: last line must be the totals line {TOTALS_LABEL},count,paid,refunded,fee"
        )
    try:
        if not _DIGITS.fullmatch(row[1]):
            raise AmountError("count must be digits")
        stated = (int(row[1]), *(yuan_to_fen(value) for value in row[2:]))
    except AmountError as exc:
        raise StatementError(f"line {number}: {exc.message}") from None
    actual = (len(lines), *_sums(lines))
    if stated != actual:
        labels = ("count", "paid total", "refunded total", "fee total")
        wrong = [label for label, a, b in zip(labels, stated, actual, strict=True) if a != b]
        raise StatementError(
            f"line {number}: totals do not match the rows ({', '.join(wrong)})",
            code="statement_totals_mismatch",
        )
