"""Stand-in for the provincial non-tax platform (非税收入), mounted at `/nontax`.

Speaks the message set of `payment_bridge.channels.nontax` (GBK XML, MAC in `X-CFX-MAC`):
- `POST /nontax/api`: 8994 notice → 5001 (Information = the pay page URL), 8997 → 5997,
  8998 refund → 5998, 8999 e-receipt → 5999 (only once paid). A bad MAC is answered 5001/99999.
- `GET /nontax/pay/<PayCode>`: the pay page (an HTML form); `POST` the form to pay (JSON answer
  `{"pay_code", "transaction_id"}` when the request accepts JSON). Paying pushes a signed 5996 to
  the callback URL (see simulators/payment_callbacks.py for the drop/delay/duplicate/corrupt switches).
- `GET /nontax/statements/<YYYYMMDD>`: the daily statement (GBK CSV, MAC over the file in `X-CFX-MAC`).
- `GET /nontax/receipts/<EBillNo>`: the e-receipt file.
Keys and addresses come from config/payments.yaml (`payment_bridge.profiles`), as govlink reads them.
"""
from __future__ import annotations

import html
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from flask import Flask, Response, abort, request

from kernel.clock import beijing_today, to_beijing
from payment_bridge.channels.nontax import MAC_HEADER, http_headers
from payment_bridge.channels.nontax import codes
from payment_bridge.channels.nontax.confirmation import Confirmation, build_confirmation
from payment_bridge.channels.nontax.envelope import CfxHead, read_head, reply_head
from payment_bridge.channels.nontax.notice import parse_notice
from payment_bridge.channels.nontax.query import StatusAnswer, build_status_answer, parse_status_query
from payment_bridge.channels.nontax.receipt import (EReceipt, ReceiptAnswer, build_receipt_answer,
                                                    parse_receipt_request)
from payment_bridge.channels.nontax.refund import RefundAnswer, build_refund_answer, parse_refund_request
from payment_bridge.channels.nontax.replies import Reply, build_generic_reply
from payment_bridge.errors import PaymentError
from payment_bridge.statements import PAID, REFUND, StatementLine, write_nontax_statement
from simulators.payment_callbacks import CallbackSwitches

NODE = "340000NTS"


@dataclass
class SimNotice:
    notice: object  # channels.nontax.notice.PaymentNotice
    agency_node: str
    status: str = "0"  # 未缴款
    confirmation: Confirmation | None = None
    refunds: dict = field(default_factory=dict)  # RefundNo -> (amount_fen, TraNoRefund, refunded_at)
    receipt: EReceipt | None = None

    @property
    def refunded_fen(self) -> int:
        return sum(amount for amount, _, _ in self.refunds.values())


def create_app(profiles=None, settings=None):
    from config.settings import Settings
    from payment_bridge.profiles import load_profiles

    settings = settings or Settings.from_env()
    profiles = profiles or load_profiles(settings)
    token = profiles.nontax.mac_token
    code_profile = profiles.code_profile
    switches = CallbackSwitches(settings.public_base_url.rstrip("/") + "/callbacks/payments/nontax")
    notices: dict[str, SimNotice] = {}
    lock = threading.Lock()
    app = Flask("nontax_platform")
    app.register_blueprint(switches.blueprint("nontax"))

    def answer(body: bytes) -> Response:
        return Response(body, headers=http_headers(body, token))

    def head_to(request_head: CfxHead) -> CfxHead:
        return reply_head(request_head, msg_id=uuid.uuid4().hex, work_date=beijing_today())

    @app.post("/api")
    def api():
        raw = request.get_data(cache=False)
        mac = request.headers.get(MAC_HEADER, "")
        try:
            head = read_head(raw, mac, token)
        except PaymentError as exc:
            own = CfxHead(src=NODE, des="UNKNOWN", msg_id=uuid.uuid4().hex, work_date=beijing_today())
            return answer(build_generic_reply(own, Reply(codes.RESULT_FAILED, f"报文校验失败: {exc.code}")))
        try:
            if head.msg_no == codes.MSG_NOTICE:
                return answer(on_notice(raw, mac))
            if head.msg_no == codes.MSG_STATUS_QUERY:
                return answer(on_query(raw, mac))
            if head.msg_no == codes.MSG_REFUND_REQUEST:
                return answer(on_refund(raw, mac))
            if head.msg_no == codes.MSG_RECEIPT_REQUEST:
                return answer(on_receipt(raw, mac))
        except PaymentError as exc:
            return answer(build_generic_reply(head_to(head), Reply(codes.RESULT_FAILED, exc.message[:200])))
        return answer(build_generic_reply(head_to(head), Reply(codes.RESULT_FAILED, f"不支持的报文 {head.msg_no}")))

    def on_notice(raw, mac) -> bytes:
        message = parse_notice(raw, mac, token, profile=code_profile)
        notice = message.body
        with lock:
            existing = notices.get(notice.pay_code)
            if existing is not None and existing.notice != notice:
                return build_generic_reply(head_to(message.head), Reply("10001", "缴款码已存在且内容不同"))
            if existing is None:
                notices[notice.pay_code] = SimNotice(notice, message.head.src)
        pay_url = request.url_root.rstrip("/") + f"/pay/{notice.pay_code}"
        return build_generic_reply(head_to(message.head), Reply(codes.RESULT_OK, pay_url))

    def on_query(raw, mac) -> bytes:
        message = parse_status_query(raw, mac, token, profile=code_profile)
        sim = notices.get(message.body.pay_code)
        if sim is None:
            return build_status_answer(head_to(message.head), StatusAnswer(Reply("10002", "缴款码不存在")))
        return build_status_answer(head_to(message.head), StatusAnswer(
            Reply(codes.RESULT_OK), pay_code=sim.notice.pay_code, status=sim.status,
            amount_fen=sim.notice.amount_fen, confirmation=sim.confirmation), profile=code_profile)

    def on_refund(raw, mac) -> bytes:
        message = parse_refund_request(raw, mac, token, profile=code_profile)
        req = message.body
        head = head_to(message.head)
        with lock:
            sim = notices.get(req.pay_code)
            if sim is None or sim.confirmation is None:
                return build_refund_answer(head, RefundAnswer(Reply("10003", "未缴款，不能退付")))
            if req.refund_no in sim.refunds:  # the same refund number refunds once
                amount, tra_no, _ = sim.refunds[req.refund_no]
                return build_refund_answer(head, RefundAnswer(Reply(codes.RESULT_OK), req.refund_no, amount, tra_no))
            if req.amount_fen > sim.notice.amount_fen - sim.refunded_fen:
                return build_refund_answer(head, RefundAnswer(Reply("10004", "退付金额超过可退金额")))
            tra_no = "RF" + secrets.token_hex(8).upper()
            sim.refunds[req.refund_no] = (req.amount_fen, tra_no, datetime.now(timezone.utc).replace(microsecond=0))
            sim.status = "4" if sim.refunded_fen == sim.notice.amount_fen else "5"
        return build_refund_answer(head, RefundAnswer(Reply(codes.RESULT_OK), req.refund_no, req.amount_fen, tra_no))

    def on_receipt(raw, mac) -> bytes:
        message = parse_receipt_request(raw, mac, token, profile=code_profile)
        sim = notices.get(message.body.pay_code)
        head = head_to(message.head)
        if sim is None or sim.confirmation is None:
            return build_receipt_answer(head, ReceiptAnswer(Reply("10005", "未缴款，未开具票据")))
        with lock:
            if sim.receipt is None:
                number = f"{secrets.randbelow(10**10):010d}"
                sim.receipt = EReceipt(pay_code=sim.notice.pay_code, ebill_code="34010124", ebill_no=number,
                                       check_code=secrets.token_hex(3).upper(),
                                       issue_date=to_beijing(sim.confirmation.confirmed_at).date(),
                                       download_url=request.url_root.rstrip("/") + f"/receipts/{number}")
        return build_receipt_answer(head, ReceiptAnswer(Reply(codes.RESULT_OK), sim.receipt), profile=code_profile)

    @app.get("/pay/<pay_code>")
    def pay_page(pay_code):
        sim = notices.get(pay_code) or abort(404)
        n = sim.notice
        rows = "".join(f"<tr><td>{html.escape(i.name)}</td><td>{i.qty}</td><td>{i.amount_fen / 100:.2f}</td></tr>"
                       for i in n.items)
        state = "已缴款" if sim.confirmation else "未缴款"
        page = f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>非税收入缴款</title>
<h1>非税收入统一缴款 (模拟)</h1><p>缴款码 <b>{html.escape(pay_code)}</b> · {html.escape(n.chg_agen_name)} · {state}</p>
<p>缴款人 {html.escape(n.payer_name)}</p><table><tr><th>项目</th><th>数量</th><th>金额(元)</th></tr>{rows}</table>
<p>合计 <b>{n.amount_fen / 100:.2f}</b> 元</p>
<form method="post"><select name="pay_mode"><option value="3">微信</option><option value="4">支付宝</option>
<option value="2">网银</option></select> <button type="submit">确认缴款</button></form></html>"""
        return Response(page, content_type="text/html; charset=utf-8")

    @app.post("/pay/<pay_code>")
    def pay(pay_code):
        with lock:
            sim = notices.get(pay_code) or abort(404)
            if sim.confirmation is None:
                sim.confirmation = Confirmation(
                    pay_code=pay_code, confirmed_at=datetime.now(timezone.utc).replace(microsecond=0),
                    amount_fen=sim.notice.amount_fen, pay_mode=request.form.get("pay_mode", "3")[:4] or "3",
                    tra_no_bus="B" + secrets.token_hex(10).upper(), payer_credit_code=sim.notice.payer_credit_code)
                sim.status = "1"
                head = CfxHead(src=NODE, des=sim.agency_node, msg_id=uuid.uuid4().hex, work_date=beijing_today())
                body = build_confirmation(head, sim.confirmation, profile=code_profile)
                switches.push(pay_code, http_headers(body, token), body)
        if request.accept_mimetypes.best == "application/json":
            return {"pay_code": pay_code, "transaction_id": sim.confirmation.tra_no_bus}
        return Response(f"<!doctype html><meta charset='utf-8'><p>缴款成功，交易流水号 {sim.confirmation.tra_no_bus}</p>",
                        content_type="text/html; charset=utf-8")

    @app.get("/statements/<day>")
    def statement(day):
        try:
            wanted = datetime.strptime(day, "%Y%m%d").date()
        except ValueError:
            abort(404)
        body = write_nontax_statement(wanted, profiles.division, statement_lines(wanted))
        return Response(body, content_type="text/csv; charset=GBK", headers={MAC_HEADER: http_headers(body, token)[MAC_HEADER]})

    def statement_lines(day: date) -> list[StatementLine]:
        lines = []
        for sim in list(notices.values()):
            c = sim.confirmation
            if c is not None and to_beijing(c.confirmed_at).date() == day:
                lines.append(StatementLine("nontax", c.pay_code, c.tra_no_bus, c.amount_fen, 0, PAID, c.confirmed_at, 0))
            for amount, tra_no, at in sim.refunds.values():
                if to_beijing(at).date() == day:
                    lines.append(StatementLine("nontax", sim.notice.pay_code, tra_no, amount, 0, REFUND, at, 0))
        return sorted(lines, key=lambda line: line.paid_at)

    @app.get("/receipts/<ebill_no>")
    def receipt_file(ebill_no):
        for sim in list(notices.values()):
            if sim.receipt is not None and sim.receipt.ebill_no == ebill_no:
                text = (f"财政电子票据 {sim.receipt.ebill_code}-{ebill_no} 校验码 {sim.receipt.check_code}\n"
                        f"缴款码 {sim.notice.pay_code} 金额 {sim.notice.amount_fen / 100:.2f} 元\n")
                return Response(text.encode("utf-8"), content_type="text/plain; charset=utf-8")
        abort(404)

    app.extensions["nontax_notices"] = notices
    return app
