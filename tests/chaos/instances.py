"""Private RabbitMQ, PostgreSQL and Keycloak instances that the chaos tests own and may break.

Other test sessions use the shared services (`make services`: PostgreSQL :5432, RabbitMQ :5672,
Keycloak :8080); the chaos tests never touch those processes. Each instance here runs from its
own temporary directory (prefix `govlink-chaos-`) on its own ports, is started in its own process
group, and `close()` stops it and removes the directory. A directory left behind by a crashed run
holds a `pids` file; `sweep_leftovers()` stops those processes (by pid) and removes it.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

PREFIX = "govlink-chaos-"
KC_DIST = Path(os.environ.get("GOVLINK_CACHE", Path.home() / ".cache" / "govlink")) / \
    f"keycloak-{os.environ.get('GOVLINK_KC_VERSION', '26.7.3')}"
KC_JAVA_HOME = os.environ.get("GOVLINK_KC_JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64")


def _wait(what: str, seconds: float, check) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} was not ready within {seconds:.0f} s")


def wait_port_free(port: int, seconds: float = 15) -> bool:
    """True once nothing listens on `port` (a killed instance may take a moment to let go)."""
    deadline = time.monotonic() + seconds
    while port_open(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _as_user(user: str, argv: list[str]) -> list[str]:
    """argv run as `user` (runuser as root, sudo otherwise)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", user, "--", *argv]
    return ["sudo", "-n", "-u", user, "--", *argv]


def _kill_group(pid: int, sig=signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def sweep_leftovers() -> None:
    """Stop the processes of chaos instances a crashed run left behind and remove their directories."""
    for d in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        pids = d / "pids"
        if pids.exists():
            for line in pids.read_text().split():
                if line.isdigit():
                    _kill_group(int(line))
        shutil.rmtree(d, ignore_errors=True)


class _Instance:
    kind = "instance"

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{self.kind}-"))
        os.chmod(self.dir, 0o755)
        self.proc: subprocess.Popen | None = None

    def _remember(self, pid: int) -> None:
        with open(self.dir / "pids", "a") as f:
            f.write(f"{pid}\n")

    def _spawn(self, argv, *, env=None, log="out.log", cwd=None) -> subprocess.Popen:
        out = open(self.dir / log, "ab")
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=cwd or self.dir, start_new_session=True)
        self._remember(proc.pid)
        return proc

    def kill(self) -> None:
        """SIGKILL the instance's whole process group (a crash, not a shutdown)."""
        if self.proc is not None:
            _kill_group(self.proc.pid)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, log="out.log", lines=30) -> str:
        try:
            return "\n".join((self.dir / log).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ChaosRabbit(_Instance):
    """A RabbitMQ node `govlink-chaos@localhost` on :5683 (dist :25683), no plugins, own Mnesia."""

    kind = "rabbitmq"
    NODE = "govlink-chaos@localhost"

    def __init__(self, port: int = 5683, dist_port: int = 25683):
        super().__init__()
        self.port, self.dist_port = port, dist_port
        (self.dir / "mnesia").mkdir()
        (self.dir / "log").mkdir()
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = {port}\nloopback_users = none\n")
        (self.dir / "rabbitmq-env.conf").write_text("")
        self.env = dict(os.environ, HOME=str(self.dir), RABBITMQ_NODENAME=self.NODE, RABBITMQ_NODE_PORT=str(port),
                        RABBITMQ_DIST_PORT=str(dist_port), RABBITMQ_MNESIA_BASE=str(self.dir / "mnesia"),
                        RABBITMQ_LOG_BASE=str(self.dir / "log"),
                        RABBITMQ_ENABLED_PLUGINS_FILE=str(self.dir / "enabled_plugins"),
                        RABBITMQ_CONFIG_FILE=str(self.dir / "rabbitmq.conf"),
                        RABBITMQ_CONF_ENV_FILE=str(self.dir / "rabbitmq-env.conf"),
                        RABBITMQ_PID_FILE=str(self.dir / "rabbit.pid"))
        self.url = f"amqp://guest:guest@127.0.0.1:{port}/%2F"

    def _ctl(self, *args, timeout=60) -> subprocess.CompletedProcess:
        argv = ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", self.NODE, *args]
        if os.geteuid() != 0:
            argv = ["sudo", "-n", "-E", *argv]
        return subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self, timeout: float = 90) -> "ChaosRabbit":
        if not wait_port_free(self.port):
            raise RuntimeError(f"port {self.port} is taken: another chaos broker is running?")
        argv = ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
        if os.geteuid() != 0:
            argv = ["sudo", "-n", "-E", *argv]
        for attempt in (1, 2):  # a node killed a moment ago may still be registered with epmd
            self.proc = self._spawn(argv, env=self.env)
            try:
                _wait("the chaos RabbitMQ", timeout / 2,
                      lambda: port_open(self.port) and self._ctl("-q", "await_startup").returncode == 0)
                return self
            except RuntimeError:
                self.kill()
                if attempt == 2:
                    raise RuntimeError(f"the chaos RabbitMQ did not start:\n{self.log_tail()}") from None
                time.sleep(3)
        return self

    def restart(self, down_seconds: float = 2.0) -> float:
        """Crash the node (SIGKILL) and start it again on the same data; returns seconds it was down."""
        started = time.monotonic()
        self.kill()
        time.sleep(down_seconds)
        self.start()
        return time.monotonic() - started

    def queue_depth(self, name: str) -> int:
        out = self._ctl("-q", "list_queues", "name", "messages").stdout
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == name:
                return int(parts[1])
        return 0


class ChaosPostgres(_Instance):
    """A PostgreSQL 15 cluster in a temporary directory on :5443, trust auth for `govlink`."""

    kind = "postgres"

    def __init__(self, port: int = 5443, bin_dir: str = "/usr/lib/postgresql/15/bin"):
        super().__init__()
        self.port, self.bin = port, Path(bin_dir)
        self.data = self.dir / "data"
        shutil.chown(self.dir, "postgres", "postgres")
        subprocess.run(_as_user("postgres", [str(self.bin / "initdb"), "-D", str(self.data), "-U", "govlink",
                                             "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]),
                       check=True, capture_output=True, cwd=self.dir)
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                    "max_connections = 200\nfsync = on\n")
        self.url = f"postgresql://govlink:govlink@127.0.0.1:{port}/govlink_chaos"

    def start(self, timeout: float = 60) -> "ChaosPostgres":
        if not wait_port_free(self.port):
            raise RuntimeError(f"port {self.port} is taken: another chaos PostgreSQL is running?")
        self.proc = self._spawn(_as_user("postgres", [str(self.bin / "postgres"), "-D", str(self.data)]))
        try:
            _wait("the chaos PostgreSQL", timeout, lambda: subprocess.run(
                [str(self.bin / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]).returncode == 0)
        except RuntimeError:
            raise RuntimeError(f"the chaos PostgreSQL did not start:\n{self.log_tail()}") from None
        return self

    def create_database(self) -> None:
        subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "govlink",
                        "govlink_chaos"], check=True, capture_output=True)

    def stop_immediate(self) -> None:
        """A crash-like stop: `pg_ctl stop -m immediate` (no checkpoint; recovery replays the WAL)."""
        subprocess.run(_as_user("postgres", [str(self.bin / "pg_ctl"), "-D", str(self.data), "stop", "-m", "immediate"]),
                       capture_output=True, timeout=60)
        if self.proc is not None:
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc.pid)
            self.proc = None


class ChaosKeycloak(_Instance):
    """A Keycloak `start-dev` from a copy of the cached distribution, on :8180 (management :9180),
    with its own dev-file store inside the copy."""

    kind = "keycloak"

    def __init__(self, port: int = 8180, mgmt_port: int = 9180):
        super().__init__()
        self.port, self.mgmt_port = port, mgmt_port
        if not (KC_DIST / "bin" / "kc.sh").exists():
            raise RuntimeError(f"no Keycloak distribution at {KC_DIST} (run `make services`)")
        self.home = self.dir / "kc"
        shutil.copytree(KC_DIST, self.home, symlinks=True, ignore=shutil.ignore_patterns("data"))
        self.url = f"http://127.0.0.1:{port}"
        self.mgmt_url = f"http://127.0.0.1:{mgmt_port}"

    def stop(self, timeout: float = 60) -> None:
        """Stop Keycloak with SIGTERM (a restart; the dev-file H2 store is not meant to survive a crash)."""
        if self.proc is not None:
            _kill_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc.pid)
                self.proc.wait(10)
            self.proc = None

    def ready(self) -> bool:
        r = requests.get(f"{self.mgmt_url}/health/ready", timeout=2)
        return r.status_code == 200 and '"UP"' in r.text

    def start(self, timeout: float = 240) -> "ChaosKeycloak":
        if not (wait_port_free(self.port) and wait_port_free(self.mgmt_port)):
            raise RuntimeError(f"port {self.port} or {self.mgmt_port} is taken: another chaos Keycloak is running?")
        env = dict(os.environ, JAVA_HOME=KC_JAVA_HOME, KC_BOOTSTRAP_ADMIN_USERNAME="admin",
                   KC_BOOTSTRAP_ADMIN_PASSWORD="admin")
        features = os.environ.get("GOVLINK_KC_FEATURES", "organization,ciba,device-flow")
        self.proc = self._spawn([str(self.home / "bin" / "kc.sh"), "start-dev", "--http-port", str(self.port),
                                 "--http-management-port", str(self.mgmt_port), "--health-enabled", "true",
                                 "--features", features, "--db", "dev-file"], env=env, cwd=self.home)
        try:
            _wait("the chaos Keycloak", timeout, self.ready)
        except RuntimeError:
            raise RuntimeError(f"the chaos Keycloak did not start:\n{self.log_tail()}") from None
        return self
