"""Stand-in for WeChat Pay API v3, mounted at `/wechatpay`.

Merchant API (requests verified against the merchant key, answers signed with the platform key):
- `POST /v3/pay/transactions/native` → `{"code_url"}`; `GET /v3/pay/transactions/out-trade-no/<no>?mchid=`;
  `POST /v3/pay/transactions/out-trade-no/<no>/close` → 204;
- `POST /v3/refund/domestic/refunds` → the refund (settled at once: status SUCCESS; real WeChat often
  answers PROCESSING first and confirms with a REFUND.SUCCESS callback);
- `GET /v3/bill/tradebill?bill_date=YYYY-MM-DD` → `{download_url, hash_type: SHA1, hash_value}`, and the
  ALL trade bill at `download_url` (backticked CSV with its two summary lines).
Pay page: `GET /wechatpay/pay/<out_trade_no>` (HTML form), `POST` to pay: a signed, AES-GCM encrypted
TRANSACTION.SUCCESS callback is pushed (switches in simulators/payment_callbacks.py). WeChat only
calls https notify URLs, so the push goes to the configured callback URL (the gateway's, by default).
"""
from __future__ import annotations

import hashlib
import html
import secrets
import threading
from dataclasses import replace
from datetime import datetime, timezone

from flask import Flask, Response, abort, request

from kernel.clock import to_beijing
from payment_bridge.channels.wechatpay import (ApiRequest, Refund, Transaction, build_notification,
                                               parse_prepay_request, parse_refund_request, refund_resource,
                                               signed_headers, transaction_resource, verify_authorization)
from payment_bridge.channels.wechatpay.api import build_api_error, dump_json
from payment_bridge.errors import PaymentError, SignatureError
from payment_bridge.statements import WechatBillRow, write_wechat_bill
from simulators.payment_callbacks import CallbackSwitches


def create_app(profiles=None, settings=None):
    from config.settings import Settings
    from payment_bridge.profiles import DEV_KEY_DIR, load_profiles

    settings = settings or Settings.from_env()
    profiles = profiles or load_profiles(settings)
    wp = profiles.wechatpay
    platform_key = (DEV_KEY_DIR / "wechatpay-platform-private.pem").read_bytes()
    merchant_keys = {wp.merchant_serial: (DEV_KEY_DIR / "wechatpay-merchant-public.pem").read_bytes()}
    switches = CallbackSwitches(settings.public_base_url.rstrip("/") + "/callbacks/payments/wechatpay")
    orders: dict[str, dict] = {}  # out_trade_no -> {"order", "transaction", "code_url"}
    refunds: dict[str, Refund] = {}
    files: dict[str, bytes] = {}
    lock = threading.Lock()
    app = Flask("wechatpay")
    app.register_blueprint(switches.blueprint("wechatpay"))

    def signed(data: dict | None, status: int = 200) -> Response:
        body = dump_json(data) if data is not None else b""
        headers = signed_headers(platform_key, wp.platform_serial, body) if body else {}
        return Response(body, status=status, headers=headers, content_type="application/json")

    def error(status: int, code: str, message: str) -> Response:
        return Response(build_api_error(code, message), status=status, content_type="application/json")

    def authorised() -> ApiRequest:
        query = request.query_string.decode()
        api_request = ApiRequest(request.method, request.path + (f"?{query}" if query else ""), request.get_data())
        verify_authorization(request.headers.get("Authorization", ""), method=api_request.method, url=api_request.url,
                             body=api_request.body, merchant_keys=merchant_keys, expected_mchid=wp.mchid)
        return api_request

    @app.errorhandler(SignatureError)
    def _bad_signature(exc):
        return error(401, "SIGN_ERROR", exc.message)

    @app.errorhandler(PaymentError)
    def _bad_request(exc):
        return error(400, "PARAM_ERROR", exc.message)

    @app.post("/v3/pay/transactions/native")
    def native():
        order = parse_prepay_request(authorised())
        with lock:
            known = orders.get(order.out_trade_no)
            if known is not None and known["order"] != order:
                return error(400, "OUT_TRADE_NO_USED", "商户订单号重复")
            if known is None:
                transaction = Transaction(appid=order.appid, mchid=order.mchid, out_trade_no=order.out_trade_no,
                                          trade_state="NOTPAY", total_fen=order.total_fen, attach=order.attach,
                                          trade_state_desc="订单未支付")
                known = orders[order.out_trade_no] = {
                    "order": order, "transaction": transaction,
                    "code_url": f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(9)}",
                    "pay_page": request.url_root.rstrip("/") + f"/pay/{order.out_trade_no}"}
        return signed({"code_url": known["code_url"]})

    @app.get("/v3/pay/transactions/out-trade-no/<no>")
    def query(no):
        authorised()
        known = orders.get(no)
        if known is None:
            return error(404, "ORDER_NOT_EXIST", "订单不存在")
        return signed(transaction_resource(known["transaction"]))

    @app.post("/v3/pay/transactions/out-trade-no/<no>/close")
    def close(no):
        authorised()
        with lock:
            known = orders.get(no)
            if known is None:
                return error(404, "ORDER_NOT_EXIST", "订单不存在")
            if known["transaction"].trade_state == "SUCCESS":
                return error(400, "ORDERPAID", "订单已支付")
            known["transaction"] = replace(known["transaction"], trade_state="CLOSED", trade_state_desc="已关闭")
        return Response(status=204)

    @app.post("/v3/refund/domestic/refunds")
    def refund():
        order = parse_refund_request(authorised())
        with lock:
            if order.out_refund_no in refunds:
                return signed(refund_resource(refunds[order.out_refund_no]))
            known = orders.get(order.out_trade_no or "")
            if known is None or known["transaction"].trade_state not in ("SUCCESS", "REFUND"):
                return error(400, "TRADE_NOT_EXIST_OR_NOT_PAID", "订单不存在或未支付")
            done = sum(r.refund_fen for r in refunds.values() if r.out_trade_no == order.out_trade_no)
            if order.refund_fen > known["transaction"].total_fen - done:
                return error(403, "NOT_ENOUGH", "可退金额不足")
            now = datetime.now(timezone.utc).replace(microsecond=0)
            tx = known["transaction"]
            result = Refund(out_refund_no=order.out_refund_no, refund_id="50" + secrets.token_hex(14),
                            out_trade_no=tx.out_trade_no, transaction_id=tx.transaction_id, status="SUCCESS",
                            refund_fen=order.refund_fen, total_fen=tx.total_fen, payer_refund_fen=order.refund_fen,
                            payer_total_fen=tx.total_fen, channel="ORIGINAL", user_received_account="支付用户零钱",
                            create_time=now, success_time=now)
            refunds[order.out_refund_no] = result
            known["transaction"] = replace(tx, trade_state="REFUND", trade_state_desc="转入退款")
        return signed(refund_resource(result))

    @app.get("/v3/bill/tradebill")
    def tradebill():
        authorised()
        try:
            day = datetime.strptime(request.args.get("bill_date", ""), "%Y-%m-%d").date()
        except ValueError:
            return error(400, "PARAM_ERROR", "bill_date must be YYYY-MM-DD")
        raw = write_wechat_bill(bill_rows(day))
        token = secrets.token_urlsafe(12)
        files[token] = raw
        return signed({"download_url": request.url_root.rstrip("/") + f"/v3/billdownload/file?token={token}",
                       "hash_type": "SHA1", "hash_value": hashlib.sha1(raw).hexdigest()})

    @app.get("/v3/billdownload/file")
    def bill_file():
        authorised()
        raw = files.get(request.args.get("token", ""))
        if raw is None:
            return error(404, "NO_STATEMENT_EXIST", "账单文件不存在")
        return Response(raw, content_type="text/csv; charset=utf-8")

    def bill_rows(day) -> list[WechatBillRow]:
        rows = []
        for known in list(orders.values()):
            tx = known["transaction"]
            if tx.success_time is None:
                continue
            base = dict(appid=tx.appid, mchid=tx.mchid, sub_mchid="0", device_info="", transaction_id=tx.transaction_id,
                        out_trade_no=tx.out_trade_no, openid=tx.payer_openid or "", trade_type="NATIVE",
                        bank_type=tx.bank_type or "OTHERS", currency="CNY", coupon_fen=0, coupon_refund_fen=0,
                        description=known["order"].description, attach=tx.attach or "", fee_rate="0.60%",
                        fee_remark="")
            if to_beijing(tx.success_time).date() == day:
                fee = tx.total_fen * 6  # 0.60% in thousandths of a fen: bills show fractions of a fen
                rows.append(WechatBillRow(trade_time=tx.success_time, trade_state="SUCCESS",
                                          settlement_total_fen=tx.total_fen, refund_id="", out_refund_no="",
                                          refund_fen=0, refund_type="", refund_status="", fee_mfen=fee,
                                          order_total_fen=tx.total_fen, requested_refund_fen=0, **base))
            for r in refunds.values():
                if r.out_trade_no == tx.out_trade_no and to_beijing(r.success_time).date() == day:
                    rows.append(WechatBillRow(trade_time=r.success_time, trade_state="REFUND",
                                              settlement_total_fen=0, refund_id=r.refund_id,
                                              out_refund_no=r.out_refund_no, refund_fen=r.refund_fen,
                                              refund_type="ORIGINAL", refund_status="SUCCESS",
                                              fee_mfen=-(r.refund_fen * 6), order_total_fen=0,
                                              requested_refund_fen=r.refund_fen, **base))
        return sorted(rows, key=lambda row: row.trade_time)

    @app.get("/pay/<no>")
    def pay_page(no):
        known = orders.get(no) or abort(404)
        order = known["order"]
        page = f"""<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>微信支付</title>
<h1>微信支付 (模拟)</h1><p>{html.escape(order.description)}</p><p>订单 {html.escape(no)} ·
<b>¥{order.total_fen / 100:.2f}</b> · {known["transaction"].trade_state}</p>
<form method="post"><button type="submit">确认支付</button></form></html>"""
        return Response(page, content_type="text/html; charset=utf-8")

    @app.post("/pay/<no>")
    def pay(no):
        with lock:
            known = orders.get(no) or abort(404)
            tx = known["transaction"]
            if tx.trade_state == "NOTPAY":
                tx = known["transaction"] = replace(
                    tx, trade_state="SUCCESS", trade_state_desc="支付成功", trade_type="NATIVE", bank_type="OTHERS",
                    transaction_id="42" + f"{secrets.randbelow(10**26):026d}",
                    success_time=datetime.now(timezone.utc).replace(microsecond=0),
                    payer_openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", payer_total_fen=tx.total_fen)
                headers, body = build_notification(private_key=platform_key, serial=wp.platform_serial,
                                                   api_v3_key=wp.api_v3_key, resource=transaction_resource(tx))
                switches.push(no, headers, body)
            elif tx.trade_state != "SUCCESS":
                return error(400, "ORDER_CLOSED", "订单已关闭")
        if request.accept_mimetypes.best == "application/json":
            return {"out_trade_no": no, "transaction_id": tx.transaction_id}
        return Response(f"<!doctype html><meta charset='utf-8'><p>支付成功 {tx.transaction_id}</p>",
                        content_type="text/html; charset=utf-8")

    app.extensions["wechatpay_orders"] = orders
    return app
