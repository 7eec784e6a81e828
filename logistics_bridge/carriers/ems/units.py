"""China Post EMS (中国邮政 新一代寄递平台 API) codes and their mapping.

Trace opCodes below are the ones seen in real API traces; anything else maps by its
opName (``退回`` -> returned, ``拒收`` -> refused) or to ``unknown``. Sources:

- 203 收寄计费信息, 303 揽投配发: an API trace reply quoted in a public integration
  (code search, ``retBody.responseItems``).
- 912 航班降落, 954 邮件到达处理中心, 389 处理中心封车, 306 揽投解车,
  702 投递邮件接收-下段, 705 投递结果反馈-未妥投, 704 投递结果反馈-妥投 (with
  "已代签收【家人】"): a real trace in a Rails test, code search (``AirMailTest``).
- 345 揽收扫描配发, 305 揽投发运/封车: EMS's public tracking (``opStateCode``).
"""

from __future__ import annotations

from logistics_bridge.tracking import Status

CARRIER = "ems"

# apiCode values.
CREATE_ORDER = "020003"
CANCEL_ORDER = "020006"
TRACK = "040001"

RET_OK = "00000"
PUSH_OK_CODE = "00000"
PUSH_FAIL_CODE = "S00001"  # 推送失败: EMS resends

SEALED_PREFIX = "|$4|"  # marks an SM4-encrypted logitcsInterface

OPCODE_STATUS: dict[str, Status] = {
    "203": Status.PICKED_UP,  # 收寄计费信息
    "303": Status.IN_TRANSIT,  # 揽投配发
    "305": Status.IN_TRANSIT,  # 揽投发运/封车
    "306": Status.IN_TRANSIT,  # 揽投解车 (arrived at the delivery office)
    "345": Status.IN_TRANSIT,  # 揽收扫描配发
    "389": Status.IN_TRANSIT,  # 处理中心封车
    "912": Status.IN_TRANSIT,  # 航班降落
    "954": Status.IN_TRANSIT,  # 邮件到达处理中心
    "702": Status.OUT_FOR_DELIVERY,  # 投递邮件接收-下段
    "704": Status.DELIVERED,  # 投递结果反馈-妥投
    "705": Status.DELIVERY_FAILED,  # 投递结果反馈-未妥投
}


def trace_status(op_code: str, op_name: str = "", op_desc: str = "") -> Status:
    """Map an EMS trace opCode (with its name and text) to a normalised status."""
    status = OPCODE_STATUS.get(op_code.strip())
    text = f"{op_name} {op_desc}"
    if status is Status.DELIVERY_FAILED and ("拒收" in text or "拒签" in text):
        return Status.REFUSED
    if status is not None:
        return status
    if "退回" in op_name or "退件" in op_name:
        return Status.RETURN_TO_SENDER
    if "拒收" in op_name:
        return Status.REFUSED
    return Status.UNKNOWN
