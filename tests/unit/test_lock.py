"""requirements.lock is the only source of versions: make, CI and the Dockerfile install through it,
pyproject.toml names floors only, and the production dependencies carry no simulator, test or dev package."""
from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NOT_IN_PRODUCTION = {"spyne", "honcho", "pytest", "hypothesis", "playwright", "schemathesis", "gmssl"}


def locked() -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", (ROOT / "requirements.lock").read_text(), re.M)
    return {canonicalize_name(name): version for name, version in pins}


def declared() -> dict[str, list[Requirement]]:
    project = PYPROJECT["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    return {group: [Requirement(r) for r in reqs] for group, reqs in groups.items()}


def test_pyproject_names_floors_and_the_lock_pins_them_all():
    pins = locked()
    for group, reqs in declared().items():
        for req in reqs:
            assert not any(spec.operator == "==" for spec in req.specifier), \
                f"{req} in [{group or 'dependencies'}] is pinned in pyproject.toml: pin it in requirements.lock (make lock)"
            name = canonicalize_name(req.name)
            assert name in pins, f"{req.name} is not in requirements.lock: run make lock"
            assert pins[name] in req.specifier, f"the lock's {req.name}=={pins[name]} is outside {req}"


def test_the_lock_covers_every_extra():
    header = (ROOT / "requirements.lock").read_text().split("\n\n", 1)[0]
    assert "--all-extras" in header


def test_the_environment_is_the_lock():
    """`make venv` installed the whole tree at the locked versions (every extra is installed for the tests)."""
    pins = locked()
    for name, version in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise AssertionError(f"{name} is in requirements.lock but not installed") from None
        assert installed == version, f"{name} {installed} is installed, the lock says {version}"


def _closure(reqs: list[Requirement]) -> set[str]:
    seen: set[str] = set()
    todo = [(r, frozenset(r.extras)) for r in reqs]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
            continue
        if name in seen:
            continue
        seen.add(name)
        for sub in metadata.requires(name) or []:
            sub_req = Requirement(sub)
            if sub_req.marker is None or any(sub_req.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                todo.append((sub_req, frozenset(sub_req.extras)))
    return seen


def test_production_dependencies_carry_no_simulator_test_or_dev_package():
    runtime = _closure(declared()[""])
    assert not runtime & NOT_IN_PRODUCTION, f"the production image would carry {sorted(runtime & NOT_IN_PRODUCTION)}"
    assert runtime <= set(locked()), f"not locked: {sorted(runtime - set(locked()))}"


def test_make_and_the_dockerfile_install_through_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*-c requirements\.lock", makefile)
    dockerfile = (ROOT / "Dockerfile").read_text()
    install = next(line for line in dockerfile.splitlines() if "pip install" in line)
    assert "-c requirements.lock" in install
    assert "[" not in install, "the image installs no extras"
    assert "COPY simulators" not in dockerfile
    assert "make test" in (ROOT / ".ci/run").read_text()
