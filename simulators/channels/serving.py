"""Serving a WSGI app from a daemon thread: the channel stand-ins, or a gateway Keycloak can call back."""
from __future__ import annotations

import threading
from typing import Callable

from werkzeug.serving import WSGIRequestHandler, make_server


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (tests make thousands)."""

    def log_request(self, code="-", size="-"):
        pass


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, *,
                    quiet: bool = True) -> tuple[str, Callable[[], None]]:
    """Serve `app` (threaded) on host:port (0 = a free port); returns (base_url, stop)."""
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler if quiet else None)
    thread = threading.Thread(target=server.serve_forever, name=f"serve-{server.server_port}", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()

    return f"http://{host}:{server.server_port}", stop
