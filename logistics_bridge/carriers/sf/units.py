"""SF Express open platform (顺丰开放平台) codes and their mapping.

Route opCodes are not published as one table by SF; this one is assembled from real
route traces and integrations, and anything not listed maps to ``unknown`` (kept as
history, never moves a leg). Sources:

- a real route trace (54 收件, 501, 407, 30 分拣发出, 36 离开, 31 到达, 44 分配快递员,
  204 派送途中, 80 已签收): github.com/honghua-kd/website,
  ``src/views/archive/logistics/register/logisticsRoutes.ts``
- 50/30/31/607 已收件, 130/123 到达网点即将派件, 80/8000 已签收, 631/648/99 已退回:
  github.com/zhangxian/yyQuartzWeb-1, ``src/main/java/com/yycoin/util/ExpressConstants.java``
- 50/54 received, 30/31/36/105/106/310 in transit, 80 delivered: the Eagle1 tracker's
  ``sfex.ts`` (BSD-3), found through the code search.
- 70 派件不成功, 33 派件异常, 44 派送中: SF's route documentation as summarised in our
  brief; the remark decides refusal (``拒收``/``拒签``) for these exception codes.
"""

from __future__ import annotations

from logistics_bridge.tracking import Status

CARRIER = "sf"

# serviceCode values (API 服务代码)
CREATE_ORDER = "EXP_RECE_CREATE_ORDER"
UPDATE_ORDER = "EXP_RECE_UPDATE_ORDER"
SEARCH_ROUTES = "EXP_RECE_SEARCH_ROUTES"
QUERY_WAYBILL = "EXP_RECE_QUERY_SFWAYBILL"

DEAL_TYPE_CONFIRM = 1
DEAL_TYPE_CANCEL = 2  # EXP_RECE_UPDATE_ORDER dealType 2 = 取消

CONTACT_SENDER = 1
CONTACT_RECIPIENT = 2

# Our carrier-neutral service names -> expressTypeId (1 顺丰特快, 2 顺丰标快).
EXPRESS_TYPE = {"express": 1, "standard": 2}

PAY_METHOD_SENDER = 1  # 寄方付 (the city pays, postage was collected online)

# filterResult of a created order: 3 = 不可以收派 (outside SF's service area).
FILTER_NOT_SERVICEABLE = 3

# apiResultCode (gateway level). A1000 only means the gateway took the request.
API_OK = "A1000"
API_BAD_DIGEST = "A1006"
API_RESULT_CODES = {
    "A1001": "required parameter missing",
    "A1002": "request expired",
    "A1003": "IP not allowed",
    "A1004": "no permission for this service",
    "A1005": "rate limited",
    "A1006": "digest refused: msgDigest did not match (check word or URL encoding)",
    "A1007": "duplicate request",
    "A1008": "decryption failed",
    "A1009": "target service unavailable",
    "A1099": "SF system error",
}
RETRYABLE_API_CODES = frozenset({"A1005", "A1009", "A1099"})

# errorCode inside apiResultData.
BIZ_OK = "S0000"
BIZ_DUPLICATE_ORDER = "8016"  # 重复下单

# waybillFeeList type 1 = 运费 (freight); every other type is a surcharge.
FEE_TYPE_FREIGHT = "1"

# Route push reply.
PUSH_OK = {"return_code": "0000", "return_msg": "成功"}
PUSH_FAIL = {"return_code": "1000", "return_msg": "系统异常"}

OPCODE_STATUS: dict[str, Status] = {
    "50": Status.PICKED_UP,  # 顺丰已收取快件
    "54": Status.PICKED_UP,  # 上门收件
    "607": Status.PICKED_UP,  # 代理收件
    "501": Status.IN_TRANSIT,  # 快件运输中
    "407": Status.IN_TRANSIT,  # 快件已发往网点
    "30": Status.IN_TRANSIT,  # 完成分拣，准备发往
    "31": Status.IN_TRANSIT,  # 快件到达
    "36": Status.IN_TRANSIT,  # 快件离开，在发往...的路上
    "105": Status.IN_TRANSIT,
    "106": Status.IN_TRANSIT,
    "310": Status.IN_TRANSIT,
    "123": Status.IN_TRANSIT,  # 正送往网点
    "130": Status.IN_TRANSIT,  # 到达目的地网点，即将派件
    "44": Status.OUT_FOR_DELIVERY,  # 分配快递员 / 派送中
    "204": Status.OUT_FOR_DELIVERY,  # 快件交给XX，正在派送途中
    "33": Status.DELIVERY_FAILED,  # 派件异常
    "70": Status.DELIVERY_FAILED,  # 派件不成功
    "80": Status.DELIVERED,  # 已签收
    "8000": Status.DELIVERED,  # 已签收 (系统)
    "99": Status.RETURN_TO_SENDER,  # 退回
    "631": Status.RETURN_TO_SENDER,  # 退回件新单号
    "648": Status.RETURN_TO_SENDER,  # 快件已退回
}

_REFUSAL_WORDS = ("拒收", "拒签")


def route_status(op_code: str, remark: str = "") -> Status:
    """Map an SF route opCode (with its remark for exception codes) to a normalised status."""
    status = OPCODE_STATUS.get(op_code.strip(), Status.UNKNOWN)
    if status is Status.DELIVERY_FAILED and any(word in remark for word in _REFUSAL_WORDS):
        return Status.REFUSED
    return status

# EXP_RECE_SEARCH_ROUTES `language`: 0 中文, 1 English, 2 繁體 (SF open platform; public clients send "0").
ROUTE_LANGUAGE_ZH = "0"
