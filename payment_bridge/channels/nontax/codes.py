"""Codes of the provincial non-tax interface (modelled on Jiangsu "非税增强接口").

Message numbers: 8xxx travel agency → finance, 5xxx finance → agency. 5999 (the
e-receipt answer) is our name, by analogy with 8997 → 5997; the profile that
carries these numbers is the one place to change if a province numbers otherwise.
"""

from types import MappingProxyType

from payment_bridge.states import State

APP = "NTS"  # 非税收入系统
VER = "1.0"

MSG_NOTICE = "8994"  # 缴款通知书 payment notice
MSG_GENERIC_REPLY = "5001"  # 通用回执 generic reply (carries the pay URL / QR)
MSG_CONFIRMATION = "5996"  # 缴款确认 payment confirmation
MSG_CONFIRMATION_ANSWER = "8001"  # 确认回执 agency's answer to a confirmation
MSG_STATUS_QUERY = "8997"  # 缴款状态查询
MSG_STATUS_ANSWER = "5997"
MSG_RECEIPT_REQUEST = "8999"  # 财政电子票据 fiscal e-receipt
MSG_RECEIPT_ANSWER = "5999"
MSG_REFUND_REQUEST = "8998"  # 退付申请 (our model: the sibling interface publishes no refund message)
MSG_REFUND_ANSWER = "5998"

RESULT_OK = "00000"
RESULT_FAILED = "99999"

# 缴款方式 payment modes as the platform reports them (informational: kept, not acted on).
PAY_MODES = MappingProxyType(
    {
        "1": "counter",  # 柜台
        "2": "online_banking",  # 网银
        "3": "wechat",  # 微信
        "4": "alipay",  # 支付宝
        "5": "unionpay",  # 银联 / POS
        "9": "other",
    }
)

# 缴款状态 in a 5997 answer, and the notice state each one means locally.
STATUS_TO_STATE = MappingProxyType(
    {
        "0": State.REGISTERED,  # 未缴款
        "1": State.PAID,  # 已缴款
        "2": State.CANCELLED,  # 已作废
        "3": State.EXPIRED,  # 已过期
        "4": State.REFUNDED,  # 已退款
        "5": State.PARTLY_REFUNDED,  # 部分退款
    }
)
