"""The CFX envelope: ``CFX/HEAD`` (who sends what to whom) and ``CFX/MSG/Body<MsgNo>/Voucher``.

A message on the wire::

    <?xml version="1.0" encoding="GBK"?>
    <CFX>
      <HEAD><APP>NTS</APP><VER>1.0</VER><SRC>…</SRC><DES>…</DES><MsgNo>8994</MsgNo>
            <MsgID>…</MsgID><MsgRef>…</MsgRef><WorkDate>20240105</WorkDate></HEAD>
      <MSG><Body8994><Voucher><AdmDivCode>…</AdmDivCode>…</Voucher></Body8994></MSG>
    </CFX>

A request's MsgRef is its own MsgID; a reply's MsgRef is the request's MsgID and
its SRC/DES are swapped (:func:`reply_head`). Voucher fields are flat elements;
unknown fields are ignored (forward compatibility), duplicated ones refused
(two ``Amt`` elements would make the message ambiguous).
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Generic, TypeVar

from lxml import etree

from payment_bridge.channels.nontax.codes import APP, VER
from payment_bridge.channels.nontax.mac import verify
from payment_bridge.channels.nontax.safe_xml import MAX_MESSAGE_BYTES, parse_gbk_xml
from payment_bridge.errors import AmountError, InvalidMessage, PaymentError
from kernel.money import fen_to_yuan, yuan_to_fen
from payment_bridge.payment_code import PaymentCodeProfile, parse_payment_code

PROLOG = b'<?xml version="1.0" encoding="GBK"?>\n'
_NODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_DATE = re.compile(r"[0-9]{8}")
_TIME = re.compile(r"[0-9]{6}")
_MAX_FIELD = 1024
_ADM_DIV = re.compile(r"[0-9]{6}")
_CODE = re.compile(r"[A-Za-z0-9_\-]{1,32}")

T = TypeVar("T")


@dataclass(frozen=True)
class CfxHead:
    """The ``CFX/HEAD`` block. ``msg_no`` is filled in by each message's builder."""

    src: str
    des: str
    msg_id: str
    work_date: date
    msg_ref: str = ""  # empty on a request: it refers to itself
    app: str = APP
    ver: str = VER
    msg_no: str = ""


@dataclass(frozen=True)
class Message(Generic[T]):
    """A parsed, MAC-verified message: its head and its typed body."""

    head: CfxHead
    body: T


def reply_head(request: CfxHead, *, msg_id: str, work_date: date) -> CfxHead:
    """Head of a reply to ``request``: SRC/DES swapped, MsgRef = the request's MsgID."""
    return CfxHead(
        src=request.des,
        des=request.src,
        msg_id=msg_id,
        work_date=work_date,
        msg_ref=request.msg_id,
        app=request.app,
        ver=request.ver,
    )


def build_envelope(head: CfxHead, msg_no: str, fields: list[tuple[str, str | None]]) -> bytes:
    """Serialise a message: head plus voucher ``fields`` (``None`` values are omitted)."""
    if head.msg_no not in ("", msg_no):
        raise InvalidMessage(f"head says MsgNo {head.msg_no}, builder makes {msg_no}")
    for name, value in (("SRC", head.src), ("DES", head.des), ("MsgID", head.msg_id)):
        if not _NODE.fullmatch(value):
            raise InvalidMessage(f"{name} must be 1-64 ASCII letters, digits or _.-")
    head_fields = [
        ("APP", head.app),
        ("VER", head.ver),
        ("SRC", head.src),
        ("DES", head.des),
        ("MsgNo", msg_no),
        ("MsgID", head.msg_id),
        ("MsgRef", head.msg_ref or head.msg_id),
        ("WorkDate", format_date(head.work_date)),
    ]
    root = etree.Element("CFX")
    _append_fields(etree.SubElement(root, "HEAD"), head_fields)
    body = etree.SubElement(etree.SubElement(root, "MSG"), f"Body{msg_no}")
    _append_fields(etree.SubElement(body, "Voucher"), fields)
    # Our own prolog (lxml writes single quotes); characters outside GBK become
    # numeric character references, which every XML parser resolves.
    return PROLOG + etree.tostring(root, encoding="GBK", xml_declaration=False)


def _append_fields(parent: etree._Element, fields: list[tuple[str, str | None]]) -> None:
    for name, value in fields:
        if value is None:
            continue
        try:
            etree.SubElement(parent, name).text = value
        except ValueError:
            raise InvalidMessage(f"{name} contains characters not allowed in XML") from None


def parse_envelope(
    raw: bytes, mac: str, token: str | bytes, *, msg_no: str, max_bytes: int = MAX_MESSAGE_BYTES
) -> tuple[CfxHead, dict[str, str]]:
    """Verify the MAC on the raw bytes, then parse; return the head and voucher fields.

    Raises :class:`~payment_bridge.errors.SignatureError` before any parsing if the
    MAC is wrong, :class:`InvalidMessage` if the message is not a ``msg_no`` message.
    """
    if not isinstance(raw, (bytes, bytearray)) or len(raw) > max_bytes:
        raise InvalidMessage(f"message must be bytes of at most {max_bytes}")
    verify(bytes(raw), mac, token)
    root = parse_gbk_xml(bytes(raw), max_bytes=max_bytes)
    head = _parse_head(root)
    if head.msg_no != msg_no:
        raise InvalidMessage(f"expected message {msg_no}, got {head.msg_no}")
    vouchers = root.findall(f"MSG/Body{msg_no}/Voucher")
    if len(vouchers) != 1:
        raise InvalidMessage(f"message {msg_no} must carry exactly one Voucher")
    return head, _flat_fields(vouchers[0], "Voucher")


def read_head(raw: bytes, mac: str, token: str | bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> CfxHead:
    """Verify and return only the head, to route an incoming message by its MsgNo."""
    if not isinstance(raw, (bytes, bytearray)) or len(raw) > max_bytes:
        raise InvalidMessage(f"message must be bytes of at most {max_bytes}")
    verify(bytes(raw), mac, token)
    return _parse_head(parse_gbk_xml(bytes(raw), max_bytes=max_bytes))


def _parse_head(root: etree._Element) -> CfxHead:
    if root.tag != "CFX":
        raise InvalidMessage("root element must be CFX")
    heads = root.findall("HEAD")
    if len(heads) != 1:
        raise InvalidMessage("CFX must carry exactly one HEAD")
    fields = _flat_fields(heads[0], "HEAD")
    values = {
        name: require(fields, name, max_len=64)
        for name in ("APP", "VER", "SRC", "DES", "MsgNo", "MsgID", "MsgRef")
    }
    for name in ("SRC", "DES", "MsgID", "MsgRef"):
        if not _NODE.fullmatch(values[name]):
            raise InvalidMessage(f"HEAD/{name} must be 1-64 ASCII letters, digits or _.-")
    if not re.fullmatch(r"[0-9]{4}", values["MsgNo"]):
        raise InvalidMessage("HEAD/MsgNo must be 4 digits")
    return CfxHead(
        src=values["SRC"],
        des=values["DES"],
        msg_id=values["MsgID"],
        work_date=parse_date(require(fields, "WorkDate"), "WorkDate"),
        msg_ref=values["MsgRef"],
        app=values["APP"],
        ver=values["VER"],
        msg_no=values["MsgNo"],
    )


def _flat_fields(parent: etree._Element, where: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for child in parent:
        if not isinstance(child.tag, str):
            continue
        if len(child):
            raise InvalidMessage(f"{where}/{child.tag} must not have child elements")
        if child.tag in fields:
            raise InvalidMessage(f"{where}/{child.tag} appears more than once")
        fields[child.tag] = child.text or ""
    return fields


def require(fields: dict[str, str], name: str, *, max_len: int = _MAX_FIELD) -> str:
    """A required, non-blank voucher field of at most ``max_len`` characters."""
    value = fields.get(name, "")
    if not value.strip():
        raise InvalidMessage(f"{name} is required")
    return check_length(name, value, max_len)


def optional(fields: dict[str, str], name: str, *, max_len: int = _MAX_FIELD) -> str | None:
    """An optional voucher field: ``None`` when absent or blank."""
    value = fields.get(name, "")
    return check_length(name, value, max_len) if value.strip() else None


def check_length(name: str, value: str, max_len: int) -> str:
    """Refuse a field longer than ``max_len`` characters."""
    if len(value) > max_len:
        raise InvalidMessage(f"{name} longer than {max_len} characters")
    return value


def parse_amount(name: str, text: str) -> int:
    """A positive yuan amount field, as fen."""
    try:
        fen = yuan_to_fen(text)
    except AmountError as exc:
        raise InvalidMessage(f"{name}: {exc.message}") from None
    if fen <= 0:
        raise InvalidMessage(f"{name} must be positive")
    return fen


def format_amount(name: str, fen: int) -> str:
    """A positive fen amount as the yuan string of the wire."""
    if not isinstance(fen, int) or isinstance(fen, bool) or fen <= 0:
        raise InvalidMessage(f"{name} must be a positive int number of fen")
    try:
        return fen_to_yuan(fen)
    except AmountError as exc:
        raise InvalidMessage(f"{name}: {exc.message}") from None


def format_date(day: date) -> str:
    """``YYYYMMDD`` as used by WorkDate, BillDate and CfmDate."""
    return day.strftime("%Y%m%d")


def parse_date(text: str, name: str) -> date:
    """Parse a ``YYYYMMDD`` field strictly."""
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise InvalidMessage(f"{name} must be a date YYYYMMDD") from None


def parse_time(text: str, name: str) -> time:
    """Parse an ``HHMMSS`` field strictly."""
    try:
        if not _TIME.fullmatch(text):
            raise ValueError
        return datetime.strptime(text, "%H%M%S").time()
    except ValueError:
        raise InvalidMessage(f"{name} must be a time HHMMSS") from None


def check_adm_div(text: str, name: str = "AdmDivCode") -> str:
    """A 6-digit administrative division code (行政区划代码)."""
    if not isinstance(text, str) or not _ADM_DIV.fullmatch(text):
        raise InvalidMessage(f"{name} must be 6 digits")
    return text


def check_code(text: str, name: str) -> str:
    """An identifier field: 1-32 ASCII letters, digits, ``_`` or ``-``."""
    if not isinstance(text, str) or not _CODE.fullmatch(text):
        raise InvalidMessage(f"{name} must be 1-32 ASCII letters, digits, _ or -")
    return text


def check_pay_code(profile: PaymentCodeProfile, text: str) -> str:
    """A payment code valid under ``profile``."""
    try:
        return parse_payment_code(profile, text).text
    except PaymentError as exc:
        raise InvalidMessage(f"PayCode: {exc.message}") from None


def notice_ref_fields(adm_div_code: str, pay_code: str, profile: PaymentCodeProfile) -> list[tuple[str, str]]:
    """AdmDivCode and PayCode, checked: how an agency's request (8997, 8998, 8999) names its notice."""
    return [("AdmDivCode", check_adm_div(adm_div_code)), ("PayCode", check_pay_code(profile, pay_code))]


def parse_notice_ref(fields: dict[str, str], profile: PaymentCodeProfile) -> dict[str, str]:
    """``adm_div_code`` and ``pay_code`` read from a request's required AdmDivCode and PayCode."""
    return {
        "adm_div_code": check_adm_div(require(fields, "AdmDivCode")),
        "pay_code": check_pay_code(profile, require(fields, "PayCode")),
    }
