"""Reads the supervision file: the supervised steps with their limits, and the calendar.

The file is `Settings.supervision_file` (`GOVLINK_SUPERVISION_FILE`, default `config/supervision.yaml`),
so it can be pointed elsewhere (a test, another city's calendar) without a code change.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from config.settings import Settings
from supervision.calendar import WorkingCalendar, parse_dates
from supervision.deadlines import ANY_SERVICE, DeadlineEngine, Clock, Limit, Rule


class SupervisionConfigError(ValueError):
    """The supervision file is malformed; the message names the rule or entry."""


@dataclass(frozen=True)
class SupervisionConfig:
    rules: tuple[Rule, ...]
    calendar: WorkingCalendar

    def engine(self, clock: Clock | None = None) -> DeadlineEngine:
        return DeadlineEngine(list(self.rules), self.calendar, clock)

    def title(self, step: str, lang: str = "zh") -> str:
        rule = next((r for r in self.rules if r.step == step), None)
        return (rule.title.get(lang) or rule.title.get("zh") or step) if rule else step


def parse(data: dict) -> SupervisionConfig:
    """Build the config from the YAML document's data (raises SupervisionConfigError)."""
    rules = []
    for i, entry in enumerate((data or {}).get("rules") or []):
        name = entry.get("step") or f"rules[{i}]"
        try:
            end = entry["end"]
            rules.append(Rule(step=entry["step"], start=entry["start"], end=tuple([end] if isinstance(end, str) else end),
                              pair=entry.get("pair", "correlation"), limit=Limit(**entry["limit"]),
                              escalate=Limit(**entry["escalate"]),
                              services=tuple(str(s) for s in entry.get("services") or [ANY_SERVICE]),
                              when=dict(entry.get("when") or {}), title=dict(entry.get("title") or {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise SupervisionConfigError(f"supervision rule {name}: {exc}") from None
    seen = set()
    for rule in rules:
        for service in rule.services:
            if (rule.step, service) in seen:
                raise SupervisionConfigError(f"supervision rule {rule.step} is declared twice for service {service}")
            seen.add((rule.step, service))
    cal = (data or {}).get("calendar") or {}
    try:
        calendar = WorkingCalendar(parse_dates(cal.get("holidays")), parse_dates(cal.get("makeup_workdays")))
    except ValueError as exc:
        raise SupervisionConfigError(f"supervision calendar: {exc}") from None
    return SupervisionConfig(tuple(rules), calendar)


def load(path: str | Path | None = None, *, settings: Settings | None = None) -> SupervisionConfig:
    """The supervision config from `path`, else the settings' `supervision_file` (`settings`, or the
    environment's when none are given). Read again only when the file changes."""
    path = Path(path or (settings or Settings.from_env()).supervision_file)
    return _load_cached(str(path.resolve()), path.stat().st_mtime)


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime: float) -> SupervisionConfig:
    with open(path, encoding="utf-8") as fh:
        return parse(yaml.safe_load(fh))
