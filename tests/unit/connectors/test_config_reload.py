"""Declarations and grants reload together in a running process; a bad set is refused and the old one serves."""
from __future__ import annotations

import time

import pytest
import yaml

from bootstrap.runtime import Runtime
from config.settings import Settings
from connectors.access import AccessConfigError
from connectors.declaration import DeclarationError


def _declaration(service: str, operation: str = "GetThing") -> dict:
    return {"service": service, "department": "测试", "kind": "soap", "wsdl": "http://127.0.0.1:9/x?wsdl",
            "operations": {"get-thing": {"operation": operation}}}


def _write(path, data) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    tmp.replace(path)


@pytest.fixture()
def files(tmp_path):
    directory = tmp_path / "connectors"
    directory.mkdir()
    access = tmp_path / "access.yaml"
    _write(directory / "alpha.yaml", _declaration("alpha"))
    _write(access, {"grants": [{"clients": ["channel/kiosk"], "service": "alpha", "operations": ["*"]}]})
    return directory, access


def _runtime(directory, access, interval=0.0) -> Runtime:
    return Runtime(Settings(connectors_dir=str(directory), access_file=str(access), config_reload_seconds=interval))


def test_reload_swaps_declarations_and_grants_together(files):
    directory, access = files
    runtime = _runtime(directory, access)
    alpha = runtime.connectors.get("alpha")
    _write(directory / "beta.yaml", _declaration("beta"))
    _write(access, {"grants": [{"clients": ["channel/kiosk"], "service": s, "operations": ["*"]} for s in ("alpha", "beta")]})
    runtime.reload_config()
    assert runtime.connectors.services() == ["alpha", "beta"]
    assert runtime.access.allowed("channel/kiosk", "beta", "get-thing")
    assert runtime.connectors.get("alpha") is alpha  # unchanged: kept with its circuit breaker
    _write(directory / "alpha.yaml", _declaration("alpha", operation="GetOtherThing"))
    runtime.reload_config()
    assert runtime.connectors.get("alpha") is not alpha
    runtime.close()


@pytest.mark.parametrize("breakage", ["declaration", "grant"])
def test_a_bad_file_is_refused_and_the_old_set_keeps_serving(files, breakage):
    directory, access = files
    runtime = _runtime(directory, access)
    before = (runtime.connectors, runtime.access)
    if breakage == "declaration":
        (directory / "beta.yaml").write_text("service: beta\nkind: soap\n", encoding="utf-8")
        error = DeclarationError
    else:
        _write(access, {"grants": [{"clients": ["channel/kiosk"], "service": "gamma", "operations": ["*"]}]})
        error = AccessConfigError
    with pytest.raises(error):
        runtime.reload_config()
    assert (runtime.connectors, runtime.access) == before
    runtime.close()


def test_the_watcher_picks_up_a_new_file_and_skips_a_bad_one(files, caplog):
    directory, access = files
    runtime = _runtime(directory, access, interval=0.05)
    seen = []
    runtime.on_config_change(lambda rt: seen.append(rt.connectors.services()))
    assert runtime.connectors.services() == ["alpha"]  # first use starts the watcher
    (directory / "broken.yaml").write_text("service: broken\n", encoding="utf-8")
    deadline = time.monotonic() + 5
    while "not reloaded" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "broken.yaml" in caplog.text and runtime.connectors.services() == ["alpha"] and seen == []
    (directory / "broken.yaml").unlink()
    _write(directory / "beta.yaml", _declaration("beta"))
    while not seen and time.monotonic() < deadline:
        time.sleep(0.05)
    assert seen == [["alpha", "beta"]] and runtime.connectors.services() == ["alpha", "beta"]
    runtime.close()
