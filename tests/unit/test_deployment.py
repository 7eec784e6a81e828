"""docker-compose.yml, the Procfile and the Makefile stay in step with the code."""
import importlib
import shlex
from pathlib import Path

import yaml
from click.testing import CliRunner

from bootstrap.cli import main

ROOT = Path(__file__).resolve().parents[2]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _govlink_commands(argv):
    """The `govlink ...` invocations inside a command (list or `sh -c` string)."""
    text = " ".join(argv) if isinstance(argv, list) else argv
    for part in text.replace("&&", ";").split(";"):
        words = shlex.split(part.strip().strip('"'))
        if words[:1] == ["govlink"]:
            yield words[1:]
        if words[:2] == ["sh", "-c"]:
            yield from _govlink_commands(words[2])


def test_every_long_running_service_has_a_healthcheck():
    services = _compose()["services"]
    for name, svc in services.items():
        if svc.get("restart") == "no":
            continue
        assert "healthcheck" in svc, f"{name} has no health check"


def test_rabbitmq_is_a_three_node_quorum_cluster():
    services = _compose()["services"]
    assert {"rabbitmq1", "rabbitmq2", "rabbitmq3"} <= set(services)
    conf = (ROOT / "deploy/rabbitmq/rabbitmq.conf").read_text()
    assert "default_queue_type = quorum" in conf
    assert all(f"rabbit@rabbitmq{i}" in conf for i in (1, 2, 3))


def test_compose_commands_exist_in_the_code():
    services = _compose()["services"]
    runner = CliRunner()
    for name, svc in services.items():
        command = svc.get("command")
        if not command:
            continue
        for args in _govlink_commands(command):
            result = runner.invoke(main, [*args, "--help"])
            assert result.exit_code == 0, f"{name}: govlink {' '.join(args)} is not a command: {result.output}"
        if "gunicorn" in command:
            module, attr = command[-1].split(":")
            assert hasattr(importlib.import_module(module), attr)


def test_compose_uses_the_keycloak_version_the_stack_script_runs():
    images = [svc["image"] for name, svc in _compose()["services"].items() if name.startswith("keycloak")]
    env = (ROOT / "scripts/stack.env").read_text()
    assert images and all(i.endswith(":" + env.split("GOVLINK_KC_VERSION:-")[1].split("}")[0]) for i in images)


def test_procfile_processes_are_real_commands():
    runner = CliRunner()
    for line in (ROOT / "Procfile").read_text().splitlines():
        if not line.strip():
            continue
        _, command = line.split(":", 1)
        for args in _govlink_commands(command.strip()):
            assert runner.invoke(main, [*args, "--help"]).exit_code == 0, line
