"""WeChat Pay API v3 as a direct channel: Native orders, query, close, refunds, callbacks, trade bills.

Requests carry the `Authorization` signature of the merchant key; answers and callbacks are
verified with the platform key (`Wechatpay-*` headers, 5-minute window) before they are read.
The out_trade_no of a notice is its payment code; `attach` carries a fingerprint of the payer key
(not the key itself: WeChat shows `attach` in bills), which the callback check compares.
"""
from __future__ import annotations

import hashlib
from datetime import date
from typing import Mapping

import requests

from kernel.http import http_session
from payment_bridge.channels.wechatpay import (PrepayOrder, RefundOrder, build_authorization, build_close,
                                               build_native_prepay, build_query_by_out_trade_no, build_refund,
                                               parse_api_error, parse_prepay_response, parse_refund,
                                               parse_transaction, verify_signed_headers)
from payment_bridge.channels.wechatpay.api import ApiRequest, dump_json, load_json
from payment_bridge.channels.wechatpay.notifications import (EVENT_REFUND_SUCCESS, EVENT_TRANSACTION_SUCCESS,
                                                             parse_notification_event)
from payment_bridge.errors import InvalidMessage, SignatureError
from payment_bridge.platforms.base import (CallbackAnswer, ConfirmedPayment, DownloadedStatement, IncomingCallback,
                                           PlatformUnavailable, QueryResult, RefundResult, RefundUpdate, Registration)
from payment_bridge.states import State
from payment_bridge.statements import parse_wechat_bill

TRADE_STATE_TO_STATE = {
    "SUCCESS": State.PAID, "REFUND": State.PAID, "NOTPAY": State.REGISTERED, "USERPAYING": State.REGISTERED,
    "PAYERROR": State.REGISTERED, "CLOSED": State.CANCELLED, "REVOKED": State.CANCELLED,
}
REFUND_STATUS = {"SUCCESS": "succeeded", "PROCESSING": "processing", "CLOSED": "failed", "ABNORMAL": "failed"}


class WechatPayPlatform:
    name = "wechatpay"
    closes_at_platform = True  # POST .../out-trade-no/{no}/close: WeChat refuses payment afterwards

    def __init__(self, profiles):
        self.profile = profiles.wechatpay
        self.http = http_session(profiles.timeout_seconds, user_agent="govlink-payment-bridge/0.1")
        self._merchant_key = self.profile.merchant_private_key()
        self._platform_keys = self.profile.platform_keys()

    # ------------------------------------------------------------------ transport
    def _call(self, request: ApiRequest, *, signed: bool = True) -> bytes:
        auth = build_authorization(mchid=self.profile.mchid, serial_no=self.profile.merchant_serial,
                                   private_key=self._merchant_key, method=request.method, url=request.url,
                                   body=request.body)
        headers = {"Authorization": auth, "Accept": "application/json"}
        if request.body:
            headers["Content-Type"] = "application/json"
        try:
            response = self.http.request(request.method, self.profile.api_base.rstrip("/") + request.url,
                                         data=request.body or None, headers=headers)
        except requests.RequestException as exc:
            raise PlatformUnavailable(f"WeChat Pay unreachable ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise PlatformUnavailable(f"WeChat Pay answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise parse_api_error(response.status_code, response.content)
        if signed and (response.content or response.status_code != 204):
            # Answers are signed like callbacks: trust nothing unverified.
            verify_signed_headers(response.headers, response.content, platform_keys=self._platform_keys)
        return response.content

    # ------------------------------------------------------------------ orders
    def register(self, notice) -> Registration:
        description = f"{notice.agency_name}-" + "、".join(i["name"] for i in notice.items)
        order = PrepayOrder(appid=self.profile.appid, mchid=self.profile.mchid, description=description[:127],
                            out_trade_no=notice.payment_code, notify_url=self.profile.notify_url,
                            total_fen=notice.total_fen, time_expire=notice.due_at, attach=self.payer_token(notice))
        code_url = parse_prepay_response(self._call(build_native_prepay(order)))
        return Registration(platform_ref=notice.payment_code, pay_url=code_url)

    def query(self, notice) -> QueryResult:
        transaction = parse_transaction(self._call(build_query_by_out_trade_no(self.profile.mchid, notice.payment_code)))
        self._check_ours(transaction)
        state = TRADE_STATE_TO_STATE.get(transaction.trade_state, State.REGISTERED)
        payment = _payment(transaction) if transaction.trade_state in ("SUCCESS", "REFUND") else None
        return QueryResult(state=str(state), payment=payment)

    def close(self, notice) -> None:
        self._call(build_close(self.profile.mchid, notice.payment_code))

    def refund(self, notice, refund_no: str, amount_fen: int, reason: str | None) -> RefundResult:
        order = RefundOrder(out_refund_no=refund_no, refund_fen=amount_fen, total_fen=notice.total_fen,
                            out_trade_no=notice.payment_code, reason=reason)
        refund = parse_refund(self._call(build_refund(order)))
        if refund.out_refund_no != refund_no or refund.refund_fen != amount_fen:
            raise InvalidMessage("the refund answer does not match the request")
        return RefundResult(REFUND_STATUS[refund.status], platform_refund_id=refund.refund_id)

    def fetch_receipt(self, notice):
        """WeChat issues no fiscal e-receipt: for a direct channel it comes from the finance platform."""
        return None

    def payer_token(self, notice) -> str:
        return hashlib.sha256(f"govlink-payer:{notice.payer_key}".encode()).hexdigest()[:32]

    def _check_ours(self, transaction) -> None:
        if transaction.mchid != self.profile.mchid or transaction.appid != self.profile.appid:
            raise InvalidMessage("the transaction belongs to another merchant or app")

    # ------------------------------------------------------------------ callbacks
    def parse_callback(self, headers: Mapping[str, str], raw_body: bytes) -> IncomingCallback:
        event = parse_notification_event(headers, raw_body, platform_keys=self._platform_keys,
                                         api_v3_key=self.profile.api_v3_key)
        if event.event_type == EVENT_TRANSACTION_SUCCESS:
            transaction = parse_transaction(event.resource)
            self._check_ours(transaction)
            if transaction.trade_state != "SUCCESS":
                return IncomingCallback(kind="other", context=event)
            return IncomingCallback(kind="payment", payment=_payment(transaction), context=event)
        if event.event_type.startswith("REFUND."):
            refund = parse_refund(event.resource)
            if refund.mchid not in (None, self.profile.mchid):
                raise InvalidMessage("the refund belongs to another merchant")
            status = "succeeded" if event.event_type == EVENT_REFUND_SUCCESS else "failed"
            return IncomingCallback(kind="refund", refund=RefundUpdate(refund.out_refund_no, status, refund.refund_id),
                                    context=event)
        return IncomingCallback(kind="other", context=event)

    def callback_answer(self, callback, ok: bool, code: str, message: str) -> CallbackAnswer:
        if ok:
            return CallbackAnswer(200, {"Content-Type": "application/json"}, dump_json({"code": "SUCCESS", "message": "成功"}))
        status = 401 if code == SignatureError.code else (500 if code == "platform_unavailable" else 400)
        body = dump_json({"code": "FAIL", "message": f"{code}: {message}"[:256]})
        return CallbackAnswer(status, {"Content-Type": "application/json"}, body)

    # ------------------------------------------------------------------ bills
    def download_statement(self, day: date) -> DownloadedStatement:
        request = ApiRequest("GET", f"/v3/bill/tradebill?bill_date={day.isoformat()}&bill_type=ALL")
        info = load_json(self._call(request))
        download_url = info.get("download_url")
        if not isinstance(download_url, str) or not download_url.startswith(self.profile.api_base.rstrip("/")):
            raise InvalidMessage("download_url must point at the WeChat Pay API host")
        path = download_url[len(self.profile.api_base.rstrip("/")):]
        raw = self._call(ApiRequest("GET", path), signed=False)  # the file is not signed: its hash is
        if info.get("hash_type") != "SHA1" or hashlib.sha1(raw).hexdigest() != str(info.get("hash_value", "")).lower():
            raise SignatureError("the downloaded bill does not match its announced SHA1 hash")
        bill = parse_wechat_bill(raw)
        return DownloadedStatement(raw=raw, statement_date=day, lines=bill.lines)


def _payment(transaction) -> ConfirmedPayment:
    return ConfirmedPayment(order_ref=transaction.out_trade_no, transaction_id=transaction.transaction_id,
                            amount_fen=transaction.total_fen, paid_at=transaction.success_time,
                            pay_mode=(transaction.trade_type or "wechat")[:16], payer_token=transaction.attach)
