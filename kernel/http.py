"""The one HTTP session factory: every outbound HTTP call in govlink goes through a session from here."""
from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter


class TimeoutSession(requests.Session):
    """A `requests.Session` that always sends a timeout (a call without one can hang a worker forever)."""

    def __init__(self, timeout: float):
        super().__init__()
        self.default_timeout = timeout

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, **kwargs)


def http_session(timeout: float = 10.0, *, pool_size: int = 10, user_agent: str = "govlink/0.1") -> TimeoutSession:
    """A session with a default timeout, connection pooling and no automatic retries (callers own retries)."""
    session = TimeoutSession(timeout)
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session
