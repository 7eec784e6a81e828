"""Helpers of the supervision page: its two languages and its charts (inline SVG, no scripts)."""
from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("zh", "en")  # Simplified Chinese by default

MESSAGES = {
    "zh": {
        "title": "电子监察", "warnings": "预警", "open_warnings": "未处理的预警", "statistics": "统计分析",
        "complaints": "投诉", "timeline": "办件全流程", "case": "办件", "step": "环节", "service": "事项/服务",
        "system": "系统", "due": "时限", "started": "开始", "level": "级别", "warning": "预警",
        "escalation": "督办", "none": "无", "at": "时间", "what": "事项", "who": "经办人", "outcome": "结果",
        "duration": "用时", "deadline": "时限", "by_service": "按服务", "by_system": "按部门系统",
        "p95": "P95 用时", "median": "中位用时", "count": "数量", "overdue_rate": "超时率",
        "failure_rate": "失败率", "satisfaction": "满意度", "status": "状态", "text": "内容", "reply": "答复",
        "assign": "指派", "close": "办结", "send_reply": "答复", "assignee": "承办人", "filed": "已受理",
        "assigned": "已指派", "replied": "已答复", "closed": "已办结", "sign_out": "退出", "signed_in_as": "当前用户",
        "forbidden": "无权访问", "forbidden_text": "电子监察页面仅对监察人员开放。",
        "find_case": "查询办件", "filter": "筛选", "finished": "已办结", "in_progress": "办理中",
        "ok": "成功", "failed": "失败", "pending": "处理中", "running": "计时中", "done": "按时完成",
        "overdue": "已超时", "warned": "已预警", "escalated": "已督办", "not_found": "未找到该办件",
        "rating": "评价", "language": "English", "steps": "环节数", "chart_p95": "各服务 P95 用时（秒）",
        "chart_overdue": "各部门系统超时率", "open": "未完成", "history": "处理记录", "back": "返回",
    },
    "en": {
        "title": "Electronic supervision", "warnings": "Warnings", "open_warnings": "Open warnings",
        "statistics": "Statistics", "complaints": "Complaints", "timeline": "Case timeline", "case": "Case",
        "step": "Step", "service": "Service", "system": "System", "due": "Due", "started": "Started",
        "level": "Level", "warning": "Warning", "escalation": "Escalation", "none": "None", "at": "When",
        "what": "What", "who": "Who", "outcome": "Outcome", "duration": "Duration", "deadline": "Deadline",
        "by_service": "By service", "by_system": "By department system", "p95": "p95 duration",
        "median": "Median duration", "count": "Count", "overdue_rate": "Overdue rate", "failure_rate": "Failure rate",
        "satisfaction": "Satisfaction", "status": "Status", "text": "Text", "reply": "Reply", "assign": "Assign",
        "close": "Close", "send_reply": "Reply", "assignee": "Assignee", "filed": "Filed", "assigned": "Assigned",
        "replied": "Replied", "closed": "Closed", "sign_out": "Sign out", "signed_in_as": "Signed in as",
        "forbidden": "Forbidden", "forbidden_text": "The supervision pages are for supervisors only.",
        "find_case": "Find a case", "filter": "Filter", "finished": "Finished", "in_progress": "In progress",
        "ok": "OK", "failed": "Failed", "pending": "Pending", "running": "Running", "done": "On time",
        "overdue": "Overdue", "warned": "Warned", "escalated": "Escalated", "not_found": "No such case",
        "rating": "Rating", "language": "中文", "steps": "Steps", "chart_p95": "p95 duration per service (s)",
        "chart_overdue": "Overdue rate per department system", "open": "Open", "history": "History", "back": "Back",
    },
}


def translator(lang: str):
    table = MESSAGES.get(lang, MESSAGES["zh"])
    return lambda key: table.get(key, MESSAGES["zh"].get(key, key))


def pick_language(explicit: str | None, remembered: str | None, accept_languages) -> str:
    """?lang= wins, then the language chosen earlier, then Accept-Language; Chinese by default."""
    for choice in (explicit, remembered):
        if choice in LANGUAGES:
            return choice
    for tag, _quality in accept_languages or ():  # highest quality first
        primary = tag.split("-", 1)[0].lower()
        if primary in LANGUAGES:
            return primary
    return "zh"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str
    y: int
    width: float


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    bar_height: int


def bar_chart(title: str, items: list[tuple[str, float]], *, fmt=lambda v: f"{v:g}", width: int = 640,
              label_width: int = 220, bar_height: int = 22, gap: int = 8) -> Chart:
    """A horizontal bar chart's geometry (the template draws it as inline SVG)."""
    top = max((v for _, v in items), default=0) or 1
    room = width - label_width - 80
    bars = [Bar(label=label[:40], value=value, text=fmt(value), y=i * (bar_height + gap),
                width=round(room * value / top, 1)) for i, (label, value) in enumerate(items)]
    return Chart(title=title, bars=bars, width=width, height=max(1, len(bars)) * (bar_height + gap),
                 label_width=label_width, bar_height=bar_height)
