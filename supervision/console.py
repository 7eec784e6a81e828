"""Helpers of the supervision page: its charts (inline SVG, no scripts). Its texts are in the consoles'
catalogues (routes/translations, section `supervision`)."""
from __future__ import annotations

from dataclasses import dataclass

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
