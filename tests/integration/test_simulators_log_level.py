"""`python -m simulators` logs at GOVLINK_LOG_LEVEL, as the gateway and workers do: at WARNING it does
not log every request (werkzeug sets its own logger to INFO unless told otherwise)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from config.settings import Settings, SettingsError

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_and_call(level: str) -> str:
    """What the simulators print when one WSDL is asked for, at `level`."""
    port = _free_port()
    env = {**os.environ, "GOVLINK_LOG_LEVEL": level}
    process = subprocess.Popen([sys.executable, "-m", "simulators", "--bind", f"127.0.0.1:{port}"], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert requests.get(f"http://127.0.0.1:{port}/population/soap?wsdl", timeout=5).status_code == 200
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    return output


def test_the_simulators_log_each_request_only_at_info():
    assert '"GET /population/soap?wsdl HTTP/1.1" 200' in _serve_and_call("INFO")
    quiet = _serve_and_call("WARNING")
    assert "/population/soap?wsdl" not in quiet and "simulators on http://" not in quiet, quiet[-2000:]


def test_a_log_level_that_does_not_exist_is_refused():
    assert Settings.from_env({}).logging_level == "INFO"
    assert Settings.from_env({"GOVLINK_LOG_LEVEL": " warning "}).logging_level == "WARNING"
    with pytest.raises(SettingsError, match="GOVLINK_LOG_LEVEL must be one of"):
        Settings.from_env({"GOVLINK_LOG_LEVEL": "LOUD"})
    refused = subprocess.run([sys.executable, "-m", "simulators", "--bind", f"127.0.0.1:{_free_port()}"], cwd=REPO,
                             env={**os.environ, "GOVLINK_LOG_LEVEL": "LOUD"}, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "GOVLINK_LOG_LEVEL must be one of" in refused.stderr
