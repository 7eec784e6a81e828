"""Non-tax platform messages: GBK round trips, MAC, and hostile XML."""

from datetime import UTC, date, datetime

import pytest

from payment_bridge.channels.nontax import MAC_HEADER, http_headers, sign, verify
from payment_bridge.channels.nontax.codes import RESULT_FAILED, RESULT_OK
from payment_bridge.channels.nontax.confirmation import Confirmation, build_confirmation, parse_confirmation
from payment_bridge.channels.nontax.envelope import (
    CfxHead,
    build_envelope,
    parse_envelope,
    read_head,
    reply_head,
)
from payment_bridge.channels.nontax.notice import PayItem, PaymentNotice, build_notice, parse_notice
from payment_bridge.channels.nontax.query import (
    StatusAnswer,
    StatusQuery,
    build_status_answer,
    build_status_query,
    parse_status_answer,
    parse_status_query,
)
from payment_bridge.channels.nontax.receipt import (
    EReceipt,
    ReceiptAnswer,
    ReceiptRequest,
    build_receipt_answer,
    build_receipt_request,
    parse_receipt_answer,
    parse_receipt_request,
)
from payment_bridge.channels.nontax.replies import (
    Reply,
    build_confirmation_answer,
    build_generic_reply,
    parse_confirmation_answer,
    parse_generic_reply,
)
from payment_bridge.errors import InvalidMessage, SignatureError
from payment_bridge.states import State

TOKEN = "共享令牌-test-token"
PAY_CODE = "34010024300000000123"
HEAD = CfxHead(src="AGENCY01", des="FIN340100", msg_id="M20240105000001", work_date=date(2024, 1, 5))

NOTICE = PaymentNotice(
    adm_div_code="340100",
    pay_code=PAY_CODE,
    bill_date=date(2024, 1, 5),
    chg_agen_code="001002",
    chg_agen_name="合肥市公安局出入境管理支队",
    payer_name="张三𠮷",  # 𠮷 is outside GBK: it must survive as a character reference
    amount_fen=12030,
    items=(
        PayItem(code="103040101", name="护照工本费", amount_fen=12000, unit="本", qty=1),
        PayItem(code="103040199", name="照片费", amount_fen=30, unit="张", qty=2),
    ),
    payer_credit_code="34010019900101123X",
)


def signed(raw: bytes) -> tuple[bytes, str]:
    return raw, sign(raw, TOKEN)


def test_notice_round_trip_in_gbk():
    raw, mac = signed(build_notice(HEAD, NOTICE))
    assert raw.startswith(b'<?xml version="1.0" encoding="GBK"?>')
    assert "合肥市公安局".encode("gbk") in raw
    assert b"<Amt>120.30</Amt>" in raw
    assert "103040101|护照工本费|120.00|本|1#103040199|照片费|0.30|张|2".encode("gbk") in raw
    message = parse_notice(raw, mac, TOKEN)
    assert message.body == NOTICE
    assert message.head.msg_no == "8994"
    assert message.head.msg_ref == HEAD.msg_id  # a request refers to itself


def test_generic_reply_round_trip_echoes_request():
    head = reply_head(HEAD, msg_id="R1", work_date=date(2024, 1, 5))
    reply = Reply(RESULT_OK, "https://pay.example.gov.cn/p?c=34010024300000000123&s=二维码")
    raw, mac = signed(build_generic_reply(head, reply))
    message = parse_generic_reply(raw, mac, TOKEN)
    assert message.body == reply and message.body.ok
    assert (message.head.src, message.head.des, message.head.msg_ref) == (HEAD.des, HEAD.src, HEAD.msg_id)
    failed = parse_generic_reply(
        *signed(build_generic_reply(head, Reply(RESULT_FAILED, "缴款码重复"))), TOKEN
    )
    assert not failed.body.ok and failed.body.information == "缴款码重复"


def test_confirmation_round_trip_and_answer():
    confirmed_at = datetime(2024, 1, 5, 2, 15, 0, tzinfo=UTC)  # 10:15 Beijing
    confirmation = Confirmation(PAY_CODE, confirmed_at, 12030, "3", "TRA2024010500001")
    raw, mac = signed(build_confirmation(HEAD, confirmation))
    assert b"<CfmDate>20240105</CfmDate><CfmTime>101500</CfmTime>" in raw
    message = parse_confirmation(raw, mac, TOKEN)
    assert message.body == confirmation
    assert message.body.confirmed_at.tzinfo is not None
    answer_head = reply_head(message.head, msg_id="A1", work_date=date(2024, 1, 5))
    answer = parse_confirmation_answer(
        *signed(build_confirmation_answer(answer_head, Reply(RESULT_OK))), TOKEN
    )
    assert answer.body.ok and answer.head.msg_no == "8001"


def test_status_query_round_trip():
    query = StatusQuery("340100", PAY_CODE)
    assert parse_status_query(*signed(build_status_query(HEAD, query)), TOKEN).body == query
    paid = StatusAnswer(
        reply=Reply(RESULT_OK),
        pay_code=PAY_CODE,
        status="1",
        amount_fen=12030,
        confirmation=Confirmation(PAY_CODE, datetime(2024, 1, 5, 2, 15, tzinfo=UTC), 12030, "2", "B1"),
    )
    parsed = parse_status_answer(*signed(build_status_answer(HEAD, paid)), TOKEN).body
    assert parsed == paid and parsed.state is State.PAID
    unpaid = StatusAnswer(reply=Reply(RESULT_OK), pay_code=PAY_CODE, status="0", amount_fen=12030)
    assert (
        parse_status_answer(*signed(build_status_answer(HEAD, unpaid)), TOKEN).body.state is State.REGISTERED
    )
    missing = StatusAnswer(reply=Reply(RESULT_FAILED, "无此缴款码"))
    assert parse_status_answer(*signed(build_status_answer(HEAD, missing)), TOKEN).body == missing


def test_status_answer_paid_without_details_refused():
    with pytest.raises(InvalidMessage):
        build_status_answer(
            HEAD, StatusAnswer(reply=Reply(RESULT_OK), pay_code=PAY_CODE, status="1", amount_fen=1)
        )


def test_receipt_round_trip():
    request = ReceiptRequest("340100", PAY_CODE)
    assert parse_receipt_request(*signed(build_receipt_request(HEAD, request)), TOKEN).body == request
    receipt = EReceipt(
        PAY_CODE,
        "34010124",
        "0000012345",
        "a1b2c3",
        date(2024, 1, 6),
        "https://ebill.example.gov.cn/d?id=1&t=pdf",
    )
    answer = ReceiptAnswer(Reply(RESULT_OK), receipt)
    assert parse_receipt_answer(*signed(build_receipt_answer(HEAD, answer)), TOKEN).body == answer
    with pytest.raises(InvalidMessage):
        build_receipt_answer(
            HEAD,
            ReceiptAnswer(
                Reply(RESULT_OK), EReceipt(PAY_CODE, "1", "2", "3", date(2024, 1, 6), "javascript:alert(1)")
            ),
        )


# --- MAC -------------------------------------------------------------------


def test_mac_is_sha256_of_token_plus_xml_text():
    import hashlib

    raw = build_notice(HEAD, NOTICE)
    text = raw.decode("gbk")
    assert sign(raw, TOKEN) == hashlib.sha256((TOKEN + text).encode("gbk")).hexdigest()
    assert http_headers(raw, TOKEN)[MAC_HEADER] == sign(raw, TOKEN)
    verify(raw, sign(raw, TOKEN).upper(), TOKEN)  # hex case does not matter


@pytest.mark.parametrize(
    "forge",
    [
        lambda raw, mac: (raw.replace(b"<Amt>120.30</Amt>", b"<Amt>1.30</Amt>"), mac),  # tampered amount
        lambda raw, mac: (raw + b" ", mac),  # one extra byte
        lambda raw, mac: (raw, sign(raw, "wrong-token")),  # wrong shared token
        lambda raw, mac: (raw, ""),  # missing
        lambda raw, mac: (raw, mac[:-1]),  # truncated
        lambda raw, mac: (raw, "z" * 64),  # not hex
        lambda raw, mac: (raw, mac[:-1] + ("0" if mac[-1] != "0" else "1")),  # one nibble off
    ],
)
def test_forged_messages_refused(forge):
    raw, mac = forge(*signed(build_notice(HEAD, NOTICE)))
    with pytest.raises(SignatureError):
        parse_notice(raw, mac, TOKEN)


def test_mac_checked_before_parsing():
    junk = b"<<< not xml at all"
    with pytest.raises(SignatureError):
        parse_confirmation(junk, sign(junk, "other"), TOKEN)
    with pytest.raises(InvalidMessage):  # a valid MAC on junk reaches the parser, which refuses it
        parse_confirmation(junk, sign(junk, TOKEN), TOKEN)


def test_empty_token_is_a_configuration_error():
    with pytest.raises(ValueError):
        sign(b"x", "")


# --- hostile XML (validly MAC'd, so the XML defences themselves are tested) -----

BILLION_LAUGHS = b"""<?xml version="1.0" encoding="GBK"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<CFX><HEAD><MsgNo>5996</MsgNo></HEAD><MSG>&lol3;</MSG></CFX>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0" encoding="GBK"?>
<!DOCTYPE CFX [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<CFX><HEAD><MsgNo>5996</MsgNo></HEAD><MSG>&xxe;</MSG></CFX>"""
PLAIN_DOCTYPE = (
    b"""<?xml version="1.0" encoding="GBK"?>\n<!doctype CFX SYSTEM "http://evil.example/x.dtd"><CFX/>"""
)


@pytest.mark.parametrize("raw", [BILLION_LAUGHS, EXTERNAL_ENTITY, PLAIN_DOCTYPE])
def test_dtd_and_entities_refused(raw):
    with pytest.raises(InvalidMessage, match="DTD"):
        parse_confirmation(raw, sign(raw, TOKEN), TOKEN)


def test_other_encodings_refused():
    # UTF-16 could hide a DOCTYPE from a byte scan; only the GBK prolog is accepted.
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x "y">]><CFX/>'.encode("utf-16")
    utf8 = build_notice(HEAD, NOTICE).replace(b'encoding="GBK"', b'encoding="UTF-8"')
    no_prolog = b"<CFX/>"
    for raw in (utf16, utf8, no_prolog):
        with pytest.raises(InvalidMessage):
            parse_notice(raw, sign(raw, TOKEN), TOKEN)


def test_size_limit():
    raw = build_notice(HEAD, NOTICE)
    with pytest.raises(InvalidMessage):
        parse_notice(raw, sign(raw, TOKEN), TOKEN, max_bytes=len(raw) - 1)


def test_invalid_gbk_refused():
    raw = build_notice(HEAD, NOTICE).replace("张三".encode("gbk"), b"\xff\xff\xff\xff")
    with pytest.raises(InvalidMessage):
        parse_notice(raw, sign(raw, TOKEN), TOKEN)


def test_wrong_message_number_refused():
    raw, mac = signed(build_notice(HEAD, NOTICE))
    assert read_head(raw, mac, TOKEN).msg_no == "8994"
    with pytest.raises(InvalidMessage, match="expected message 5996"):
        parse_confirmation(raw, mac, TOKEN)


def test_duplicated_field_refused():
    raw = build_notice(HEAD, NOTICE).replace(b"<Amt>120.30</Amt>", b"<Amt>120.30</Amt><Amt>0.01</Amt>")
    with pytest.raises(InvalidMessage, match="more than once"):
        parse_notice(raw, sign(raw, TOKEN), TOKEN)


def test_pay_info_must_add_up():
    raw = build_notice(HEAD, NOTICE).replace(b"<Amt>120.30</Amt>", b"<Amt>120.31</Amt>")
    with pytest.raises(InvalidMessage, match="sum"):
        parse_notice(raw, sign(raw, TOKEN), TOKEN)
    with pytest.raises(InvalidMessage):
        build_notice(HEAD, PaymentNotice(**{**NOTICE.__dict__, "amount_fen": 1}))


@pytest.mark.parametrize(
    "field",
    [
        ("PayCode", "3401002430000000012"),
        ("PayCode", "34010024300000000123 "),
        ("AdmDivCode", "34010"),
        ("BillDate", "20240230"),
        ("Amt", "-120.30"),
        ("Amt", "120.300"),
    ],
)
def test_hostile_field_values_refused(field):
    name, value = field
    original = build_notice(HEAD, NOTICE)
    start = original.index(f"<{name}>".encode())
    end = original.index(f"</{name}>".encode())
    raw = original[: start + len(name) + 2] + value.encode("gbk") + original[end:]
    with pytest.raises(InvalidMessage):
        parse_notice(raw, sign(raw, TOKEN), TOKEN)


@pytest.mark.parametrize(
    "item",
    [
        PayItem("1", "名|称", 12030, "本", 1),
        PayItem("1", "名称#", 12030, "本", 1),
        PayItem("1", "名称", 12030, "本", 0),
        PayItem("1", " ", 12030, "本", 1),
    ],
)
def test_builder_refuses_ambiguous_pay_info(item):
    with pytest.raises(InvalidMessage):
        build_notice(HEAD, PaymentNotice(**{**NOTICE.__dict__, "items": (item,)}))


def test_builder_refuses_control_characters_and_bad_head():
    with pytest.raises(InvalidMessage):
        build_notice(HEAD, PaymentNotice(**{**NOTICE.__dict__, "payer_name": "张\x01三"}))
    with pytest.raises(InvalidMessage):
        build_envelope(CfxHead(src="A B", des="X", msg_id="1", work_date=date(2024, 1, 5)), "8994", [])


def test_unknown_voucher_fields_are_ignored():
    raw = build_notice(HEAD, NOTICE).replace(b"</Voucher>", b"<Remark>future field</Remark></Voucher>")
    assert parse_notice(raw, sign(raw, TOKEN), TOKEN).body == NOTICE


def test_parse_envelope_requires_one_voucher():
    raw = build_notice(HEAD, NOTICE).replace(b"</Body8994>", b"<Voucher/></Body8994>")
    with pytest.raises(InvalidMessage, match="exactly one Voucher"):
        parse_envelope(raw, sign(raw, TOKEN), TOKEN, msg_no="8994")
