"""The cluster of `make cluster` as the tests see it: its URLs, its processes, and how to break them.

Everything is read from scripts/cluster.env; processes are found by the pid files scripts/cluster.sh
writes ($CLUSTER_DIR/pids/<name>.pid, each the leader of its own process group).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "cluster.sh"


def cluster_env() -> dict[str, str]:
    """The variables of scripts/cluster.env (with scripts/stack.env), as bash sets them."""
    out = subprocess.run(["bash", "-c", f". {REPO}/scripts/stack.env; . {REPO}/scripts/cluster.env; set -o posix; set"],
                         capture_output=True, text=True, check=True).stdout
    values = {}
    for line in out.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.isidentifier():
            values[name] = value.strip("'")
    return values


ENV = cluster_env()


def ports(name: str) -> list[int]:
    return [int(p) for p in ENV[name].split()]


def amqp_url() -> str:
    hosts = ",".join(f"127.0.0.1:{p}" for p in ports("RABBIT_AMQP_PORTS"))
    return f"amqp://{ENV['RABBIT_CLUSTER_USER']}:{ENV['RABBIT_CLUSTER_PASSWORD']}@{hosts}/%2F"


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def pid(name: str) -> int | None:
    path = Path(ENV["CLUSTER_DIR"]) / "pids" / f"{name}.pid"
    try:
        value = int(path.read_text().strip())
        os.kill(value, 0)
        return value
    except (OSError, ValueError):
        return None


def kill(name: str) -> float:
    """SIGKILL the process group of `name` (a crash, not a shutdown); returns the monotonic time of the kill."""
    value = pid(name)
    assert value, f"{name} is not running"
    when = time.monotonic()
    os.killpg(value, signal.SIGKILL)
    return when


def script(*args: str, timeout: float = 600) -> str:
    """Run scripts/cluster.sh (e.g. `up` to bring back what a test killed)."""
    done = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def rctl(*args: str) -> str:
    """rabbitmqctl on the first node that answers (one may just have been killed)."""
    failures = []
    for node in ENV["RABBIT_NODES"].split():
        done = subprocess.run(["bash", str(SCRIPT), "rctl", node, *args], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return done.stdout
        failures.append(done.stderr[-300:])
    raise AssertionError("no RabbitMQ node answers rabbitmqctl: " + " | ".join(failures))


def queue_leader(queue: str) -> str:
    """The node (`govlink-c2@localhost`) that leads the quorum queue `queue`."""
    for line in rctl("list_queues", "name", "leader").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == queue:
            return parts[1]
    raise AssertionError(f"no queue {queue}")


def queue_members(queue: str) -> list[str]:
    for row in json.loads(rctl("list_queues", "name", "members", "--formatter", "json")):
        if row["name"] == queue:
            return row["members"]
    raise AssertionError(f"no queue {queue}")


def wait(what: str, seconds: float, check, every: float = 0.2):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception:
            pass
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {seconds:.0f} s")


def database_url(db: str = "govlink") -> str:
    hosts = ",".join(f"127.0.0.1:{p}" for p in ports("PG_CLUSTER_PORTS"))
    return f"postgresql://{ENV['PG_USER']}:{ENV['PG_PASSWORD']}@{hosts}/{db}?target_session_attrs=read-write"


def patroni_leader() -> str | None:
    """The member (`pg1`) whose Patroni answers /primary with 200."""
    import urllib.request

    for member, rest in zip(ENV["PG_MEMBERS"].split(), ports("PATRONI_REST_PORTS")):
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{rest}/primary", timeout=1).status == 200:
                return member
        except OSError:
            continue
    return None


def crash_postgres_member(member: str) -> float:
    """The machine of `member` dies: SIGKILL its Patroni and its postmaster (with its children)."""
    postmaster = Path(ENV["CLUSTER_DIR"]) / "postgres" / member / "data" / "postmaster.pid"
    pm = int(postmaster.read_text().split()[0])
    when = kill(f"patroni-{member}")
    for target in (pm,):
        try:
            os.killpg(os.getpgid(target), signal.SIGKILL)
        except ProcessLookupError:
            pass
    return when


def cluster_settings(settings):
    """`settings` pointed at the cluster: multi-node AMQP, multi-host database, Keycloak behind the proxy."""
    return settings.replace(amqp_url=amqp_url(), database_url=database_url(), realm="hefei",
                            keycloak_url=f"http://127.0.0.1:{ENV['HAPROXY_KC_PORT']}",
                            keycloak_management_url=f"http://127.0.0.1:{ports('KC_CLUSTER_MGMT_PORTS')[0]}")
