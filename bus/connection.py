"""Connection parameters for RabbitMQ, shared by the publisher, consumers and health checks.

The AMQP setting may name several nodes of one cluster (`amqp://u:p@h1:5701,h2:5702,h3:5703/%2F`,
or whole URLs separated by commas). Blocking connections try them in order; the long-lived
connections of publishers and consumers take the next node after each lost connection or failed
attempt (`NodeRotation`), so they resume on a surviving node when one goes.
"""
from __future__ import annotations

import random
import socket

import pika

from config.settings import url_per_host


def node_urls(url: str) -> list[str]:
    """One AMQP URL per node named in the setting."""
    return url_per_host(url)


def connection_parameters(url: str, *, connect_timeout: float = 5.0, heartbeat: int = 30) -> pika.URLParameters:
    """Parameters from an AMQP URL (its first node), with timeouts so a dead broker fails fast."""
    params = pika.URLParameters(node_urls(url)[0])
    params.socket_timeout = connect_timeout
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1
    params.heartbeat = heartbeat
    params.client_properties = {"connection_name": "govlink"}
    return params


def node_parameters(url: str, *, connect_timeout: float = 5.0, heartbeat: int = 30,
                    name: str = "govlink") -> list[pika.URLParameters]:
    """Parameters for every node, in the setting's order (`pika.BlockingConnection` takes the list)."""
    out = []
    for node in node_urls(url):
        params = connection_parameters(node, connect_timeout=connect_timeout, heartbeat=heartbeat)
        params.client_properties = {"connection_name": name}
        out.append(params)
    return out


class NodeRotation:
    """The nodes in turn, from a random one (so processes spread over the cluster): `next()` after
    every lost connection or failed attempt."""

    def __init__(self, url: str, *, heartbeat: int = 30, name: str = "govlink"):
        self.nodes = node_parameters(url, heartbeat=heartbeat, name=name)
        self._i = random.randrange(len(self.nodes))

    def next(self) -> pika.URLParameters:
        params = self.nodes[self._i % len(self.nodes)]
        self._i += 1
        return params


def ping(url: str, timeout: float = 2.0) -> None:
    """Open and close a connection to the first node that answers; raise if none does."""
    errors = []
    for params in node_parameters(url, connect_timeout=timeout):
        try:
            # A plain TCP connect first: it fails with a clear reason (refused, timed out) where pika
            # would only raise an opaque AMQPConnectionError and log a traceback.
            socket.create_connection((params.host, params.port), timeout=timeout).close()
            params.stack_timeout = timeout
            pika.BlockingConnection(params).close()
            return
        except Exception as exc:  # noqa: BLE001 - the next node may answer
            errors.append((params, exc))
    if len(errors) == 1:
        raise errors[0][1]
    raise ConnectionError("no RabbitMQ node answers: " + "; ".join(
        f"{p.host}:{p.port} {type(e).__name__}: {e}" for p, e in errors))
