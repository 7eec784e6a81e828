"""Statements and bills from payment platforms, parsed into one normalised form.

:mod:`.normalised` holds :class:`StatementLine` and :func:`sha256_of`;
:mod:`.nontax_daily` the provincial daily statement; :mod:`.wechat_bill` the
WeChat Pay ALL trade bill. Each has a parser (checks the totals) and a writer
(for the simulator), so the two round-trip.
"""

from payment_bridge.statements.nontax_daily import (
    NontaxStatement,
    parse_nontax_statement,
    write_nontax_statement,
)
from payment_bridge.statements.normalised import PAID, REFUND, StatementLine, sha256_of
from payment_bridge.statements.wechat_bill import (
    WechatBill,
    WechatBillRow,
    parse_wechat_bill,
    write_wechat_bill,
)

__all__ = [
    "PAID",
    "REFUND",
    "NontaxStatement",
    "StatementLine",
    "WechatBill",
    "WechatBillRow",
    "parse_nontax_statement",
    "parse_wechat_bill",
    "sha256_of",
    "write_nontax_statement",
    "write_wechat_bill",
]
