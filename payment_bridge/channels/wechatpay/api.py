"""Shared pieces of the WeChat Pay API v3 request/response builders (no I/O).

A request is an :class:`ApiRequest`: method, the path-and-query that is also
signed, and the exact body bytes (the signature covers them, so they are made
once, here, and sent unchanged by the transport).
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from kernel.clock import require_aware, to_beijing
from payment_bridge.errors import ChannelError, InvalidMessage

API_HOST = "https://api.mch.weixin.qq.com"
CURRENCY = "CNY"

_OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")  # 商户订单号
_OUT_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")  # 商户退款单号
_IDENT = re.compile(r"[0-9A-Za-z_\-]{1,128}")  # appid, mchid, openid, wechat ids


@dataclass(frozen=True)
class ApiRequest:
    """A merchant API call: ``url`` is the path and query, as signed."""

    method: str
    url: str
    body: bytes = b""

    def json(self) -> dict:
        """The decoded JSON body (the simulator reads requests with it)."""
        return json.loads(self.body) if self.body else {}


def dump_json(data: dict) -> bytes:
    """Compact UTF-8 JSON, as sent and signed."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def load_json(body: bytes | str) -> dict:
    """Decode a JSON object body; anything else is :class:`InvalidMessage`."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidMessage("response is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidMessage("response is not a JSON object")
    return data


def check_out_trade_no(text: str) -> str:
    """商户订单号: 6-32 of digits, letters, ``_ - | *``."""
    if not isinstance(text, str) or not _OUT_TRADE_NO.fullmatch(text):
        raise InvalidMessage("out_trade_no must be 6-32 of [0-9A-Za-z_-|*]")
    return text


def check_out_refund_no(text: str) -> str:
    """商户退款单号: 1-64 of digits, letters, ``_ - | * @``."""
    if not isinstance(text, str) or not _OUT_REFUND_NO.fullmatch(text):
        raise InvalidMessage("out_refund_no must be 1-64 of [0-9A-Za-z_-|*@]")
    return text


def check_ident(text: str, name: str) -> str:
    """An appid, mchid, openid or WeChat id: 1-128 of ``[0-9A-Za-z_-]``."""
    if not isinstance(text, str) or not _IDENT.fullmatch(text):
        raise InvalidMessage(f"{name} must be 1-128 of [0-9A-Za-z_-]")
    return text


def check_total(value: int, name: str) -> int:
    """A positive amount in fen, as WeChat's ``amount.total`` and ``amount.refund``."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidMessage(f"{name} must be a positive int number of fen")
    return value


def format_time(moment: datetime) -> str:
    """RFC 3339 in Beijing time to the second, as WeChat writes times."""
    return to_beijing(require_aware(moment)).replace(microsecond=0).isoformat()


def parse_time(text: object, name: str) -> datetime:
    """An RFC 3339 time with offset, returned in UTC."""
    if not isinstance(text, str) or len(text) > 40:
        raise InvalidMessage(f"{name} must be an RFC 3339 time")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidMessage(f"{name} must be an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise InvalidMessage(f"{name} must carry a UTC offset")
    return moment.astimezone(UTC)


def get_str(data: dict, name: str, *, required: bool = True) -> str | None:
    """A string field of a response object."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise InvalidMessage(f"{name} is required")
        return None
    if not isinstance(value, str) or len(value) > 1024:
        raise InvalidMessage(f"{name} must be a string")
    return value


def get_fen(data: dict, name: str, *, required: bool = True) -> int | None:
    """A non-negative integer amount field (fen) of a response object."""
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidMessage(f"{name} is required")
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidMessage(f"{name} must be a non-negative int")
    return value


def request_amount(data: dict) -> dict:
    """The ``amount`` object of a request read back (the simulator's side): an object in CNY."""
    amount = data.get("amount")
    if not isinstance(amount, dict) or amount.get("currency", CURRENCY) != CURRENCY:
        raise InvalidMessage("amount must be an object in CNY")
    return amount


def answer_amount(data: dict) -> dict:
    """The required ``amount`` object of an answer or a decrypted callback resource."""
    amount = data.get("amount")
    if not isinstance(amount, dict):
        raise InvalidMessage("amount is required")
    return amount


def parse_api_error(status: int, body: bytes | str) -> ChannelError:
    """Turn a 4xx/5xx answer ``{"code": "...", "message": "..."}`` into a :class:`ChannelError`."""
    try:
        data = load_json(body)
        code = str(data.get("code") or f"HTTP_{status}")[:64]
        message = str(data.get("message") or "")[:256]
    except InvalidMessage:
        code, message = f"HTTP_{status}", "non-JSON error response"
    return ChannelError(f"WeChat Pay refused the request: {code} {message}".strip(), platform_code=code)


def build_api_error(code: str, message: str) -> bytes:
    """An error body as WeChat returns it (the simulator uses this)."""
    return dump_json({"code": code, "message": message})
