"""Connection parameters for RabbitMQ, shared by the publisher, consumers and health checks."""
from __future__ import annotations

import socket

import pika


def connection_parameters(url: str, *, connect_timeout: float = 5.0, heartbeat: int = 30) -> pika.URLParameters:
    """Parameters from an AMQP URL, with timeouts so a dead broker fails fast."""
    params = pika.URLParameters(url)
    params.socket_timeout = connect_timeout
    params.blocked_connection_timeout = 60
    params.connection_attempts = 1
    params.heartbeat = heartbeat
    params.client_properties = {"connection_name": "govlink"}
    return params


def ping(url: str, timeout: float = 2.0) -> None:
    """Open and close a connection; raise if the broker does not answer."""
    params = connection_parameters(url, connect_timeout=timeout)
    # A plain TCP connect first: it fails with a clear reason (refused, timed out) where pika
    # would only raise an opaque AMQPConnectionError and log a traceback.
    socket.create_connection((params.host, params.port), timeout=timeout).close()
    params.stack_timeout = timeout
    conn = pika.BlockingConnection(params)
    conn.close()
