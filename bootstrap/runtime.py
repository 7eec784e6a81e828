"""What a govlink process shares: settings, the database, one publisher, the message log, the
connector registry and grants, and the payment and logistics services, each built once.

The gateway, every worker, the scheduler and each CLI command hold one `Runtime`, built from
`Settings` here in the bootstrap (the one place that may import every area); resources open on
first use, so a process that never publishes never connects to RabbitMQ.

Department service declarations and access grants are one set (`connectors`, `access`): loaded on
first use, then watched. When a file in `connectors_dir` or `access_file` changes (checked every
`config_reload_seconds`, or at once after `request_config_reload()`, e.g. on SIGHUP), both are
loaded again and swapped together; a set that does not load is refused, logged, and the current
one keeps serving.
"""
from __future__ import annotations

import logging
import threading
from functools import cached_property
from pathlib import Path
from typing import Callable

from config.settings import Settings
from store.db import Database

log = logging.getLogger("govlink.config")


class Runtime:
    def __init__(self, settings: Settings, *, name: str = "govlink"):
        self.settings = settings
        self.name = name
        self._lock = threading.Lock()
        self._config = None  # (connectors registry, access rights), swapped together
        self._config_lock = threading.Lock()
        self._fingerprint = None
        self._config_listeners: list[Callable[["Runtime"], None]] = []
        self._closers: list[Callable[[], None]] = []
        self._reload_requested = threading.Event()
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None

    @cached_property
    def db(self) -> Database:
        from kernel.tracing import instrument_engine

        database = Database(self.settings.database_url, connect_timeout=self.settings.readiness_timeout_seconds + 1)
        instrument_engine(database.engine)  # spans for its statements, when tracing is on
        return database

    @cached_property
    def publisher(self):
        from bus.publisher import Publisher

        with self._lock:
            return Publisher(self.settings.amqp_url, name=f"{self.name}-publisher", reply_queue=True).start()

    @cached_property
    def message_log(self):
        from bus.message_log.spool import MessageLog

        return MessageLog(self.db, spool_dir=self.settings.message_log_spool_dir,
                          max_backlog=self.settings.message_log_max_backlog,
                          max_wait_seconds=self.settings.message_log_max_wait_seconds)

    @cached_property
    def payments(self):
        """The payment bridge's service (built once; connects to RabbitMQ only when it first publishes)."""
        from payment_bridge.assembly import build_payments

        with self._lock:
            return build_payments(self.settings, self.db, _OnFirstUse(self, "publisher"),
                                  _OnFirstUse(self, "message_log"))

    @cached_property
    def logistics(self):
        """The logistics bridge's service; its postage goes through `payments`."""
        from logistics_bridge.assembly import build_logistics

        payments = self.payments
        with self._lock:
            return build_logistics(self.settings, self.db, _OnFirstUse(self, "publisher"),
                                   _OnFirstUse(self, "message_log"), payments)

    @property
    def connectors(self):
        """The registry of declared department services (the current set)."""
        return self._config_set()[0]

    @property
    def access(self):
        """The access rights checked against `connectors` (the current set)."""
        return self._config_set()[1]

    def _config_set(self):
        config = self._config
        if config is None:
            with self._config_lock:
                if self._config is None:
                    fingerprint = self.config_fingerprint()
                    self._config, self._fingerprint = self._load_config(), fingerprint
                    self._start_watcher()
                config = self._config
        return config

    def _load_config(self, previous=None):
        from connectors.access import AccessRights
        from connectors.registry import Registry

        registry = Registry.load(self.settings.connectors_dir, previous=previous)
        return registry, AccessRights.load(self.settings.access_file, catalogue=registry.catalogue(),
                                          fields=registry.fields())

    def config_fingerprint(self) -> tuple:
        """Names, sizes and modification times of the declarations and the access file."""
        entries = []
        try:
            for path in sorted(Path(self.settings.connectors_dir).glob("*.yaml")):
                stat = path.stat()
                entries.append((path.name, stat.st_mtime_ns, stat.st_size))
        except OSError:
            pass
        try:
            stat = Path(self.settings.access_file).stat()
            access = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            access = None
        return tuple(entries), access

    def reload_config(self) -> None:
        """Load declarations and grants again and swap both at once.

        Raises (DeclarationError, AccessConfigError ...) and keeps the current set if either does not load.
        Connectors whose declaration did not change are kept, with their circuit breaker and WSDL.
        """
        fingerprint = self.config_fingerprint()
        with self._config_lock:
            previous = self._config[0] if self._config is not None else None
            self._config, self._fingerprint = self._load_config(previous), fingerprint
            if self._watcher is None:
                self._start_watcher()
        for listener in list(self._config_listeners):
            listener(self)

    def on_config_change(self, listener: Callable[["Runtime"], None]) -> None:
        """Call `listener(runtime)` after each successful reload (e.g. to consume a new service's queue)."""
        self._config_listeners.append(listener)

    def on_close(self, closer: Callable[[], None]) -> None:
        """Call `closer()` first when the process closes its runtime (e.g. a worker's circuit report)."""
        self._closers.append(closer)

    def request_config_reload(self) -> None:
        """Reload now rather than at the next check (safe to call from a signal handler)."""
        self._reload_requested.set()

    def _start_watcher(self) -> None:
        interval = getattr(self.settings, "config_reload_seconds", 0)
        if interval and interval > 0 and self._watcher is None and not self._closed.is_set():
            self._watcher = threading.Thread(target=self._watch, args=(interval,), name=f"{self.name}-config-watch",
                                             daemon=True)
            self._watcher.start()

    def _watch(self, interval: float) -> None:
        while not self._closed.is_set():
            forced = self._reload_requested.wait(interval)
            self._reload_requested.clear()
            if self._closed.is_set():
                return
            fingerprint = self.config_fingerprint()
            if not forced and fingerprint == self._fingerprint:
                continue
            try:
                self.reload_config()
            except Exception as exc:  # a bad file: keep serving the current set
                self._fingerprint = fingerprint  # retry when the files change again
                log.error("declarations or grants not reloaded, the current set keeps serving: %s", exc,
                          extra={"event": "config_reload_refused"})
                continue
            log.info("declarations and grants reloaded: %s", ", ".join(self.connectors.services()),
                     extra={"event": "config_reloaded"})

    def close(self) -> None:
        closers, self._closers = self._closers, []
        for closer in reversed(closers):
            try:
                closer()
            except Exception:  # noqa: BLE001 - closing the rest matters more
                log.warning("closing %s: a closer failed", self.name, exc_info=True)
        self._closed.set()
        self._reload_requested.set()
        for name in ("publisher", "message_log"):
            if name in self.__dict__:
                resource = self.__dict__.pop(name)
                (resource.stop if name == "publisher" else resource.close)()
        if "db" in self.__dict__:
            self.__dict__.pop("db").dispose()


class _OnFirstUse:
    """Stands for one of the runtime's resources and opens it on first use (a service built early never connects
    to RabbitMQ unless it publishes)."""

    def __init__(self, runtime: Runtime, name: str):
        self._runtime = runtime
        self._name = name

    def __getattr__(self, attr):
        return getattr(getattr(self._runtime, self._name), attr)
