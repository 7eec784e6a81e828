"""The provincial non-tax platform (非税收入) over HTTP: GBK XML messages, MAC in `X-CFX-MAC`.

Every request is POSTed to the profile's `url` and answered in the same exchange; the platform
pushes 5996 confirmations to our `/callbacks/payments/nontax`, which we answer with 8001. The
daily statement is a GET of `statement_url/YYYYMMDD`, its MAC over the file bytes in the same header.
"""
from __future__ import annotations

import logging
import uuid
from datetime import date
from typing import Mapping

import requests

from kernel.http import http_session
from kernel.clock import beijing_today, to_beijing
from payment_bridge.channels.nontax import MAC_HEADER, http_headers, verify
from payment_bridge.channels.nontax.codes import MSG_CONFIRMATION, RESULT_FAILED, RESULT_OK
from payment_bridge.channels.nontax.confirmation import parse_confirmation
from payment_bridge.channels.nontax.envelope import CfxHead, read_head, reply_head
from payment_bridge.channels.nontax.notice import PayItem, PaymentNotice, build_notice
from payment_bridge.channels.nontax.query import StatusQuery, build_status_query, parse_status_answer
from payment_bridge.channels.nontax.receipt import ReceiptRequest, build_receipt_request, parse_receipt_answer
from payment_bridge.channels.nontax.refund import RefundRequest, build_refund_request, parse_refund_answer
from payment_bridge.channels.nontax.replies import Reply, build_confirmation_answer, parse_generic_reply
from payment_bridge.errors import ChannelError, InvalidMessage
from payment_bridge.platforms.base import (CallbackAnswer, ConfirmedPayment, DownloadedStatement, IncomingCallback,
                                           PlatformUnavailable, QueryResult, ReceiptInfo, RefundResult, Registration)
from payment_bridge.statements import parse_nontax_statement

log = logging.getLogger(__name__)


def new_msg_id() -> str:
    return uuid.uuid4().hex


class NontaxPlatform:
    name = "nontax"
    closes_at_platform = False  # no withdrawal message: see payment_bridge.handlers.close

    def __init__(self, profiles):
        self.profiles = profiles
        self.profile = profiles.nontax
        self.code_profile = profiles.code_profile
        self.http = http_session(profiles.timeout_seconds, user_agent="govlink-payment-bridge/0.1")

    # ------------------------------------------------------------------ requests
    def _head(self) -> CfxHead:
        return CfxHead(src=self.profile.node, des=self.profile.platform_node, msg_id=new_msg_id(),
                       work_date=beijing_today())

    def _exchange(self, body: bytes) -> tuple[bytes, str]:
        """POST one message; return the answer's raw bytes and MAC (verified by the parser)."""
        try:
            response = self.http.post(self.profile.url, data=body, headers=http_headers(body, self.profile.mac_token))
        except requests.RequestException as exc:
            raise PlatformUnavailable(f"non-tax platform unreachable ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise PlatformUnavailable(f"non-tax platform answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise InvalidMessage(f"non-tax platform answered HTTP {response.status_code}")
        return response.content, response.headers.get(MAC_HEADER, "")

    def register(self, notice) -> Registration:
        message = PaymentNotice(
            adm_div_code=notice.adm_div_code, pay_code=notice.payment_code,
            bill_date=to_beijing(notice.created_at).date(), chg_agen_code=notice.agency_code,
            chg_agen_name=notice.agency_name, payer_name=notice.payer_name, amount_fen=notice.total_fen,
            items=tuple(PayItem(code=i["code"], name=i["name"], amount_fen=i["amount_fen"], unit=i["unit"],
                                qty=i["quantity"]) for i in notice.items),
            payer_credit_code=notice.payer_key,
        )
        raw, mac = self._exchange(build_notice(self._head(), message, profile=self.code_profile))
        reply = parse_generic_reply(raw, mac, self.profile.mac_token).body
        if not reply.ok:
            raise ChannelError(f"the non-tax platform refused the notice: {reply.information or reply.result}",
                               platform_code=reply.result)
        return Registration(platform_ref=notice.payment_code, pay_url=reply.information)

    def query(self, notice) -> QueryResult:
        body = build_status_query(self._head(), StatusQuery(notice.adm_div_code, notice.payment_code),
                                  profile=self.code_profile)
        raw, mac = self._exchange(body)
        answer = parse_status_answer(raw, mac, self.profile.mac_token, profile=self.code_profile).body
        if not answer.reply.ok:
            raise ChannelError(f"status query refused: {answer.reply.information or answer.reply.result}",
                               platform_code=answer.reply.result)
        payment = None
        if answer.confirmation is not None:
            payment = _payment(answer.confirmation)
        return QueryResult(state=str(answer.state), payment=payment)

    def close(self, notice) -> None:
        """The message set has no withdrawal message: a notice is closed on govlink's side only, and a
        payment the platform still takes for it is recorded as `paid_after_close` (payment_bridge.handlers.close)."""

    def refund(self, notice, refund_no: str, amount_fen: int, reason: str | None) -> RefundResult:
        body = build_refund_request(self._head(), RefundRequest(notice.adm_div_code, notice.payment_code, refund_no,
                                                                amount_fen, reason), profile=self.code_profile)
        raw, mac = self._exchange(body)
        answer = parse_refund_answer(raw, mac, self.profile.mac_token).body
        if not answer.reply.ok:
            return RefundResult("failed", message=answer.reply.information or answer.reply.result)
        if answer.amount_fen != amount_fen or answer.refund_no != refund_no:
            raise InvalidMessage("the refund answer does not match the request")
        return RefundResult("succeeded", platform_refund_id=answer.tra_no_refund)

    def fetch_receipt(self, notice) -> ReceiptInfo | None:
        body = build_receipt_request(self._head(), ReceiptRequest(notice.adm_div_code, notice.payment_code),
                                     profile=self.code_profile)
        raw, mac = self._exchange(body)
        answer = parse_receipt_answer(raw, mac, self.profile.mac_token, profile=self.code_profile).body
        if not answer.reply.ok:
            return None  # not issued yet: the poller asks again
        r = answer.receipt
        if r.pay_code != notice.payment_code:
            raise InvalidMessage("the receipt is for another payment code")
        return ReceiptInfo(r.ebill_code, r.ebill_no, r.check_code, r.issue_date, r.download_url)

    def payer_token(self, notice) -> str:
        return notice.payer_key

    # ------------------------------------------------------------------ callbacks
    def parse_callback(self, headers: Mapping[str, str], raw_body: bytes) -> IncomingCallback:
        mac = headers.get(MAC_HEADER, "")
        head = read_head(raw_body, mac, self.profile.mac_token)  # MAC on the raw bytes before any parsing
        if head.msg_no != MSG_CONFIRMATION:
            return IncomingCallback(kind="other", context=head)
        message = parse_confirmation(raw_body, mac, self.profile.mac_token, profile=self.code_profile)
        return IncomingCallback(kind="payment", payment=_payment(message.body), context=message.head)

    def callback_answer(self, callback, ok: bool, code: str, message: str) -> CallbackAnswer:
        request_head = callback.context if callback is not None else None
        if isinstance(request_head, CfxHead):
            head = reply_head(request_head, msg_id=new_msg_id(), work_date=beijing_today())
        else:  # the request could not be trusted: answer from our own node
            head = self._head()
        information = "成功" if ok else f"{code}: {message}"[:200]
        body = build_confirmation_answer(head, Reply(RESULT_OK if ok else RESULT_FAILED, information))
        return CallbackAnswer(200, http_headers(body, self.profile.mac_token), body)

    # ------------------------------------------------------------------ statements
    def download_statement(self, day: date) -> DownloadedStatement:
        url = f"{self.profile.statement_url.rstrip('/')}/{day.strftime('%Y%m%d')}"
        try:
            response = self.http.get(url)
        except requests.RequestException as exc:
            raise PlatformUnavailable(f"non-tax platform unreachable ({type(exc).__name__})") from None
        if response.status_code >= 500:
            raise PlatformUnavailable(f"non-tax platform answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise ChannelError(f"statement for {day} not available (HTTP {response.status_code})",
                               platform_code=f"HTTP_{response.status_code}")
        raw = response.content
        verify(raw, response.headers.get(MAC_HEADER, ""), self.profile.mac_token)
        statement = parse_nontax_statement(raw, profile=self.code_profile)
        return DownloadedStatement(raw=raw, statement_date=statement.statement_date, lines=statement.lines)


def _payment(confirmation) -> ConfirmedPayment:
    return ConfirmedPayment(order_ref=confirmation.pay_code, transaction_id=confirmation.tra_no_bus,
                            amount_fen=confirmation.amount_fen, paid_at=confirmation.confirmed_at,
                            pay_mode=confirmation.pay_mode, payer_token=confirmation.payer_credit_code)


__all__ = ["NontaxPlatform"]
