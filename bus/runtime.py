"""What a govlink process shares: settings, the database, one publisher and the message log.

The gateway and every worker hold one `Runtime`; resources open on first use, so a process that
never publishes never connects to RabbitMQ.
"""
from __future__ import annotations

import threading
from functools import cached_property

from config.settings import Settings
from store.db import Database


class Runtime:
    def __init__(self, settings: Settings, *, name: str = "govlink"):
        self.settings = settings
        self.name = name
        self._lock = threading.Lock()

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.database_url, connect_timeout=self.settings.readiness_timeout_seconds + 1)

    @cached_property
    def publisher(self):
        from bus.publisher import Publisher

        with self._lock:
            return Publisher(self.settings.amqp_url, name=f"{self.name}-publisher", reply_queue=True).start()

    @cached_property
    def message_log(self):
        from bus.message_log import MessageLog

        return MessageLog(self.db)

    @cached_property
    def connectors(self):
        from connectors.registry import Registry

        return Registry.load(self.settings.connectors_dir)

    @cached_property
    def access(self):
        from connectors.access import AccessRights

        return AccessRights.load(self.settings.access_file, catalogue=self.connectors.catalogue(),
                                 fields=self.connectors.fields())

    def close(self) -> None:
        for name in ("publisher", "message_log"):
            if name in self.__dict__:
                resource = self.__dict__.pop(name)
                (resource.stop if name == "publisher" else resource.close)()
        if "db" in self.__dict__:
            self.__dict__.pop("db").dispose()
