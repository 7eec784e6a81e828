"""The layers hold (import-linter's contract in pyproject.toml) and no module is over 400 lines."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 400
NOT_COUNTED = {"tests", "simulators", "bench", ".venv", "var", "build", "keycloak-providers", "deploy"}


def test_the_layers_contract_is_kept():
    """`lint-imports` (also run by `make test`): no layer imports a higher one, siblings stay apart."""
    answer = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert answer.returncode == 0, answer.stdout[-4000:] + answer.stderr[-2000:]


def test_the_contract_names_every_package_and_the_one_exception():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} - {"tests", "simulators", "bench"}
    assert set(config["root_packages"]) == packages
    (contract,) = config["contracts"]
    layered = {name.strip() for layer in contract["layers"] for name in layer.split("|")}
    assert layered == packages
    assert contract["layers"][0] == "bootstrap" and contract["layers"][-1] == "kernel"
    assert "logistics_bridge.** -> payment_bridge.api" in contract["ignore_imports"]


def oversized(root: Path = ROOT) -> list[tuple[str, int]]:
    """Every Python module outside tests/, simulators/ and bench/ with more than 400 lines, longest first."""
    found = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        if parts[0] in NOT_COUNTED or parts[0].startswith("."):
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            found.append((str(path.relative_to(root)), lines))
    return sorted(found, key=lambda item: -item[1])


def test_no_module_is_over_400_lines():
    offenders = oversized()
    assert not offenders, "modules over 400 lines (split them):\n" + "\n".join(f"  {n:5d}  {p}" for p, n in offenders)
