"""The logistics bridge's shape (issue 17): it asks the payment side only through `payment_bridge.api`, keeps
no mixins, no module over 400 lines, no class with more than about 10 public methods."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "logistics_bridge"
MODULES = sorted(path for path in PACKAGE.rglob("*.py"))
ROUTES = [ROOT / "routes" / "api" / "logistics.py", ROOT / "routes" / "logistics_callbacks.py"]


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("path", MODULES + ROUTES, ids=lambda p: str(p.relative_to(ROOT)))
def test_logistics_reaches_payments_only_through_its_api(path):
    names = imported(path)
    assert not {n for n in names if n.startswith("payment_bridge") and n != "payment_bridge.api"}
    assert "store.models.payment" not in names  # never the payment tables


@pytest.mark.parametrize("path", MODULES + ROUTES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_over_400_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400


def test_no_mixins_and_small_classes():
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            public = [f for f in node.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("_")]
            assert len(public) <= 10, (path.name, node.name, len(public))
    from logistics_bridge.assembly import Logistics

    assert Logistics.__bases__ == (object,)


def test_one_copy_of_the_paid_states():
    for path in MODULES:
        assert "PAID_STATES = " not in path.read_text(encoding="utf-8"), path.name
