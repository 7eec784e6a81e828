"""A statement or bill uploaded in the finance console is parsed before it is kept: each format is
recognised, and a bad file or a statement of another day is refused with a code and the line."""
from datetime import UTC, date, datetime

import pytest

from logistics_bridge.bills import write_ems_bill, write_sf_bill
from logistics_bridge.carriers.base import BillLine
from payment_bridge.statements import StatementLine, write_nontax_statement
from reconciliation.jobs import UPLOADS, check_upload
from reconciliation.records import from_epoch
from reconciliation.scenarios import OUR_DIVISION, payment_scenario
from reconciliation.service import ReconciliationInputError

DAY = date(2031, 3, 4)
AT = datetime(2031, 3, 4, 2, 30, tzinfo=UTC)


def _bill_lines(carrier):
    return [BillLine(f"{carrier.upper()}1000{i}", carrier, 1200 + i, 100, 500, AT) for i in range(3)]


def _statement(day):
    entries = payment_scenario(DAY, clean=2, per_category=0).statement  # payment codes of the profile
    return write_nontax_statement(day, OUR_DIVISION, [
        StatementLine("nontax", e.reference, e.transaction_id, e.amount_fen, e.fee_fen, e.kind, from_epoch(e.at), 0)
        for e in entries])


def test_every_console_upload_names_a_kind_and_side():
    assert UPLOADS == {"nontax_statement": ("payments", "nontax"), "wechat_bill": ("payments", "wechatpay"),
                       "sf_bill": ("logistics", "sf"), "ems_bill": ("logistics", "ems")}


def test_the_formats_are_recognised(settings):
    assert check_upload(settings, "sf_bill", write_sf_bill(_bill_lines("sf")), DAY) == 3
    assert check_upload(settings, "ems_bill", write_ems_bill(_bill_lines("ems")), DAY) == 3
    assert check_upload(settings, "nontax_statement", _statement(DAY), DAY) == 2


@pytest.mark.parametrize("source, raw, code", [
    ("ems_bill", write_sf_bill(_bill_lines("sf")), "bill_invalid"),  # an SF bill is not an EMS bill
    ("sf_bill", b"\xef\xbb\xbf\xe8\xbf\x90\xe5\x8d\x95\xe5\x8f\xb7\r\n", "bill_invalid"),
    ("wechat_bill", b"not a bill", "statement_invalid"),
    ("nontax_statement", _statement(date(2031, 3, 5)), "statement_date_mismatch"),
    ("nontax_statement", "非税收入缴款日对账单,2031XX04,340100\r\n".encode("gbk") * 3, "statement_invalid"),
    ("kuaidi100_bill", b"x", "unknown_source"),
    ("sf_bill", b"", "file_missing"),
])
def test_a_bad_file_is_refused_with_a_code(settings, source, raw, code):
    with pytest.raises(ReconciliationInputError) as refused:
        check_upload(settings, source, raw, DAY)
    assert refused.value.code == code and refused.value.message
