"""Fixtures for connector tests: the simulators on a free port, and registries pointed at them."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from connectors.registry import DEFAULT_DIRECTORY, Registry

@pytest.fixture()
def environ(sim):
    return {"GOVLINK_SIMULATORS_URL": sim.base_url}


@pytest.fixture()
def registry(environ):
    """The shipped declarations, pointed at the test's simulators (fresh circuit breakers)."""
    registry = Registry.load(environ=environ)
    yield registry
    registry.close()


@pytest.fixture()
def declare(tmp_path, environ):
    """Write declarations into a fresh directory and load a registry from it.

    `declare(shipped={"population-registry": {"circuit_breaker": {...}}}, new=[{...}], env={...})`:
    shipped files are copied with top-level keys overridden; `new` are whole declarations.
    """
    registries = []

    def _declare(shipped: dict | None = None, new: list[dict] | None = None, env: dict | None = None) -> Registry:
        directory = tmp_path / f"connectors-{len(registries)}"
        directory.mkdir()
        for service, overrides in (shipped or {}).items():
            data = yaml.safe_load((DEFAULT_DIRECTORY / f"{service}.yaml").read_text(encoding="utf-8"))
            data.update(overrides)
            _write(directory / f"{service}.yaml", data)
        for data in new or []:
            _write(directory / f"{data['service']}.yaml", data)
        registry = Registry.load(directory, environ={**environ, **(env or {})})
        registries.append(registry)
        return registry

    yield _declare
    for registry in registries:
        registry.close()


def _write(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
