"""README.md lists every Prometheus metric the project registers, so the list cannot drift.

Every module of the project is imported (which registers its counters, gauges, histograms and
collectors on the default registry); the collectors an area adds per app (supervision's figures, the
calendar) are read from their source, where their names are written as GaugeMetricFamily("...").
"""
from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
from pathlib import Path

from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["root_packages"]
FAMILY = re.compile(r"MetricFamily\(\s*(f?)\"([a-z0-9_{}A-Z]+)\"")


def _import_everything() -> None:
    for package in PACKAGES:
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if ".migrations." in info.name:
                continue
            importlib.import_module(info.name)


def registered_names() -> set[str]:
    _import_everything()
    names = set()
    for collector in list(REGISTRY._collector_to_names):
        for family in collector.describe() if hasattr(collector, "describe") else []:
            names.add(family.name + ("_total" if family.type == "counter" else ""))
    for path in ROOT.glob("*/**/*.py"):
        if path.relative_to(ROOT).parts[0] not in PACKAGES:
            continue
        text = path.read_text(encoding="utf-8")
        prefix = re.search(r'^PREFIX = "([a-z_]+)"', text, re.M)
        for is_f, name in FAMILY.findall(text):
            names.add(name.replace("{PREFIX}", prefix.group(1)) if is_f and prefix else name)
    return {n for n in names if n.startswith("govlink_")}


def test_every_registered_metric_is_listed_in_the_readme():
    names = registered_names()
    assert {"govlink_connector_calls_total", "govlink_circuit_state", "govlink_consumer_messages_total",
            "govlink_consumer_redeliveries_total", "govlink_supervision_up"} <= names
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert not missing, "README.md's metrics list lacks: " + ", ".join(missing)
