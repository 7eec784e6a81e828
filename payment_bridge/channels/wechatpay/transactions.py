"""WeChat Pay API v3 orders: prepay (Native, JSAPI), query, close; and the transaction object.

Our client builds :class:`~.api.ApiRequest` values and parses answers; the
simulator parses the same requests and builds answers with :func:`transaction_resource`.
A transaction object has one shape in a query answer and in a
``TRANSACTION.SUCCESS`` callback resource, so :func:`parse_transaction` reads both.
"""

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from payment_bridge.channels.wechatpay.api import (
    CURRENCY,
    ApiRequest,
    answer_amount,
    check_ident,
    check_out_trade_no,
    check_total,
    dump_json,
    format_time,
    get_fen,
    get_str,
    load_json,
    parse_time,
    request_amount,
)
from payment_bridge.errors import InvalidMessage

TRADE_STATES = frozenset({"SUCCESS", "REFUND", "NOTPAY", "CLOSED", "REVOKED", "USERPAYING", "PAYERROR"})
_MAX_DESCRIPTION = 127


@dataclass(frozen=True)
class PrepayOrder:
    """What we ask WeChat to collect: one payment notice, amount in fen."""

    appid: str
    mchid: str
    description: str
    out_trade_no: str
    notify_url: str
    total_fen: int
    time_expire: datetime | None = None
    attach: str | None = None
    payer_openid: str | None = None  # JSAPI only


@dataclass(frozen=True)
class Transaction:
    """A WeChat transaction (query answer or callback resource)."""

    appid: str
    mchid: str
    out_trade_no: str
    trade_state: str
    total_fen: int
    transaction_id: str | None = None
    trade_type: str | None = None
    trade_state_desc: str | None = None
    bank_type: str | None = None
    attach: str | None = None
    success_time: datetime | None = None  # aware, UTC
    payer_openid: str | None = None
    payer_total_fen: int | None = None
    currency: str = CURRENCY


def _prepay_body(order: PrepayOrder) -> dict:
    if not isinstance(order.description, str) or not 1 <= len(order.description) <= _MAX_DESCRIPTION:
        raise InvalidMessage(f"description must be 1-{_MAX_DESCRIPTION} characters")
    if not isinstance(order.notify_url, str) or not order.notify_url.startswith("https://"):
        raise InvalidMessage("notify_url must be an https URL")
    body: dict = {
        "appid": check_ident(order.appid, "appid"),
        "mchid": check_ident(order.mchid, "mchid"),
        "description": order.description,
        "out_trade_no": check_out_trade_no(order.out_trade_no),
        "notify_url": order.notify_url,
        "amount": {"total": check_total(order.total_fen, "amount.total"), "currency": CURRENCY},
    }
    if order.time_expire is not None:
        body["time_expire"] = format_time(order.time_expire)
    if order.attach is not None:
        body["attach"] = order.attach
    return body


def build_native_prepay(order: PrepayOrder) -> ApiRequest:
    """``POST /v3/pay/transactions/native``: a QR-code payment; answer carries ``code_url``."""
    return ApiRequest("POST", "/v3/pay/transactions/native", dump_json(_prepay_body(order)))


def build_jsapi_prepay(order: PrepayOrder) -> ApiRequest:
    """``POST /v3/pay/transactions/jsapi``: in-WeChat payment; answer carries ``prepay_id``."""
    body = _prepay_body(order)
    body["payer"] = {"openid": check_ident(order.payer_openid, "payer.openid")}
    return ApiRequest("POST", "/v3/pay/transactions/jsapi", dump_json(body))


def parse_prepay_request(request: ApiRequest) -> PrepayOrder:
    """Read a prepay request back into a :class:`PrepayOrder` (the simulator's side)."""
    data = load_json(request.body)
    amount = request_amount(data)
    payer = data.get("payer") if isinstance(data.get("payer"), dict) else {}
    expire = get_str(data, "time_expire", required=False)
    order = PrepayOrder(
        appid=get_str(data, "appid"),
        mchid=get_str(data, "mchid"),
        description=get_str(data, "description"),
        out_trade_no=get_str(data, "out_trade_no"),
        notify_url=get_str(data, "notify_url"),
        total_fen=get_fen(amount, "total"),
        time_expire=parse_time(expire, "time_expire") if expire else None,
        attach=get_str(data, "attach", required=False),
        payer_openid=get_str(payer, "openid", required=False),
    )
    _prepay_body(order)  # same validation as the builder
    return order


def parse_prepay_response(body: bytes | str) -> str:
    """The ``code_url`` (Native) or ``prepay_id`` (JSAPI) of a prepay answer."""
    data = load_json(body)
    value = get_str(data, "code_url", required=False) or get_str(data, "prepay_id", required=False)
    if value is None:
        raise InvalidMessage("prepay answer has neither code_url nor prepay_id")
    return value


def build_query_by_out_trade_no(mchid: str, out_trade_no: str) -> ApiRequest:
    """``GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid=…``."""
    no = quote(check_out_trade_no(out_trade_no), safe="")
    return ApiRequest("GET", f"/v3/pay/transactions/out-trade-no/{no}?mchid={check_ident(mchid, 'mchid')}")


def build_close(mchid: str, out_trade_no: str) -> ApiRequest:
    """``POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close``; WeChat answers 204."""
    no = quote(check_out_trade_no(out_trade_no), safe="")
    return ApiRequest(
        "POST",
        f"/v3/pay/transactions/out-trade-no/{no}/close",
        dump_json({"mchid": check_ident(mchid, "mchid")}),
    )


def parse_transaction(data: dict | bytes | str) -> Transaction:
    """Read a transaction object (query answer body, or a decrypted callback resource)."""
    if not isinstance(data, dict):
        data = load_json(data)
    amount = answer_amount(data)
    payer = data.get("payer") if isinstance(data.get("payer"), dict) else {}
    state = get_str(data, "trade_state")
    if state not in TRADE_STATES:
        raise InvalidMessage("trade_state is not a WeChat trade state")
    success = get_str(data, "success_time", required=state == "SUCCESS")
    transaction = Transaction(
        appid=get_str(data, "appid"),
        mchid=get_str(data, "mchid"),
        out_trade_no=check_out_trade_no(get_str(data, "out_trade_no")),
        trade_state=state,
        total_fen=get_fen(amount, "total"),
        transaction_id=get_str(data, "transaction_id", required=state == "SUCCESS"),
        trade_type=get_str(data, "trade_type", required=False),
        trade_state_desc=get_str(data, "trade_state_desc", required=False),
        bank_type=get_str(data, "bank_type", required=False),
        attach=get_str(data, "attach", required=False),
        success_time=parse_time(success, "success_time") if success else None,
        payer_openid=get_str(payer, "openid", required=False),
        payer_total_fen=get_fen(amount, "payer_total", required=False),
        currency=get_str(amount, "currency", required=False) or CURRENCY,
    )
    if transaction.currency != CURRENCY:
        raise InvalidMessage("only CNY transactions are accepted")
    return transaction


def transaction_resource(transaction: Transaction) -> dict:
    """A transaction object as WeChat writes it (simulator: query answers and callbacks)."""
    data: dict = {
        "appid": transaction.appid,
        "mchid": transaction.mchid,
        "out_trade_no": transaction.out_trade_no,
        "transaction_id": transaction.transaction_id,
        "trade_type": transaction.trade_type,
        "trade_state": transaction.trade_state,
        "trade_state_desc": transaction.trade_state_desc,
        "bank_type": transaction.bank_type,
        "attach": transaction.attach,
        "success_time": format_time(transaction.success_time) if transaction.success_time else None,
        "payer": {"openid": transaction.payer_openid} if transaction.payer_openid else None,
        "amount": {
            "total": transaction.total_fen,
            "payer_total": transaction.payer_total_fen,
            "currency": transaction.currency,
            "payer_currency": transaction.currency,
        },
    }
    data["amount"] = {key: value for key, value in data["amount"].items() if value is not None}
    return {key: value for key, value in data.items() if value is not None}
