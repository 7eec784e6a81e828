"""Kuaidi100 (快递100) codes and their mapping.

``state`` (basic) and advanced states (``resultv2=4``: ``statusCode`` per trace item),
from Kuaidi100's query and push documentation as published on apifox
(https://apifox.com/apidoc/project-514987/api-8562559, .../api-55500331) and
api.kuaidi100.com. 2 疑难 (a problem parcel) and 13 清关异常 map to ``unknown``: they
need a person, not a status move. The advanced sub-states of 疑难 (201-210) say what the
problem is and are mapped: a refusal is ``refused``, a failed or blocked delivery
``delivery_failed``, a parcel left in a locker ``ready_for_pickup``, a cancelled waybill
``cancelled``; only 202 超时未更新 (no scans for too long) stays ``unknown``.
"""

from __future__ import annotations

from logistics_bridge.tracking import Status

SOURCE = "kuaidi100"

QUERY_URL = "https://poll.kuaidi100.com/poll/query.do"
SUBSCRIBE_URL = "https://poll.kuaidi100.com/poll"

# Our carrier codes -> Kuaidi100 company codes (always lower case).
COMPANY = {"sf": "shunfeng", "ems": "ems"}

RESULT_V2_ADVANCED = "4"  # ask for per-item statusCode and area parsing

SUBSCRIBE_OK = frozenset({"200", "501"})  # 501 = 重复订阅: already watching, fine
QUERY_NO_RESULT = "500"  # 查询无结果，请隔段时间再查: nothing scanned yet

CALLBACK_OK = {"result": True, "returnCode": "200", "message": "成功"}
CALLBACK_FAIL = {"result": False, "returnCode": "500", "message": "失败"}

STATE_STATUS: dict[str, Status] = {
    "0": Status.IN_TRANSIT,  # 在途
    "1001": Status.IN_TRANSIT,  # 到达派件城市
    "1002": Status.IN_TRANSIT,  # 干线
    "1003": Status.IN_TRANSIT,  # 转递
    "1": Status.PICKED_UP,  # 揽收
    "101": Status.CREATED,  # 已下单
    "102": Status.CREATED,  # 待揽收
    "103": Status.PICKED_UP,  # 已揽收
    "2": Status.UNKNOWN,  # 疑难
    "3": Status.DELIVERED,  # 签收
    "301": Status.DELIVERED,  # 本人签收
    "302": Status.DELIVERED,  # 派件异常后签收
    "303": Status.DELIVERED,  # 代签
    "304": Status.DELIVERED,  # 投柜或站签收
    "4": Status.RETURN_TO_SENDER,  # 退签
    "401": Status.CANCELLED,  # 已销单
    "5": Status.OUT_FOR_DELIVERY,  # 派件
    "501": Status.READY_FOR_PICKUP,  # 投柜或驿站
    "6": Status.RETURN_TO_SENDER,  # 退回 (on its way back: the leg has failed)
    "7": Status.IN_TRANSIT,  # 转投
    "8": Status.IN_TRANSIT,  # 清关
    "10": Status.IN_TRANSIT,  # 待清关
    "11": Status.IN_TRANSIT,  # 清关中
    "12": Status.IN_TRANSIT,  # 已清关
    "13": Status.UNKNOWN,  # 清关异常
    "14": Status.REFUSED,  # 拒签
    # advanced sub-states of 2 疑难
    "201": Status.DELIVERY_FAILED,  # 超时未签收
    "202": Status.UNKNOWN,  # 超时未更新: no scans, nothing known about where it is
    "203": Status.REFUSED,  # 拒收
    "204": Status.DELIVERY_FAILED,  # 派件异常
    "205": Status.READY_FOR_PICKUP,  # 柜或驿站超时未取: still waiting in the locker
    "206": Status.DELIVERY_FAILED,  # 无法联系
    "207": Status.DELIVERY_FAILED,  # 超区
    "208": Status.DELIVERY_FAILED,  # 滞留
    "209": Status.DELIVERY_FAILED,  # 破损
    "210": Status.CANCELLED,  # 销单
}

# Item ``status`` names, for replies without advanced codes.
NAME_STATUS: dict[str, Status] = {
    "在途": Status.IN_TRANSIT,
    "揽收": Status.PICKED_UP,
    "疑难": Status.UNKNOWN,
    "签收": Status.DELIVERED,
    "退签": Status.RETURN_TO_SENDER,
    "派件": Status.OUT_FOR_DELIVERY,
    "退回": Status.RETURN_TO_SENDER,
    "转投": Status.IN_TRANSIT,
    "清关": Status.IN_TRANSIT,
    "拒签": Status.REFUSED,
    "超时未签收": Status.DELIVERY_FAILED,
    "超时未更新": Status.UNKNOWN,
    "拒收": Status.REFUSED,
    "派件异常": Status.DELIVERY_FAILED,
    "柜或驿站超时未取": Status.READY_FOR_PICKUP,
    "无法联系": Status.DELIVERY_FAILED,
    "超区": Status.DELIVERY_FAILED,
    "滞留": Status.DELIVERY_FAILED,
    "破损": Status.DELIVERY_FAILED,
    "销单": Status.CANCELLED,
}

SIGNED_BY_OTHER = frozenset({"303", "304"})  # 代签, 投柜或站签收
