"""The one HTTP session factory: every outbound HTTP call in govlink goes through a session from here."""
from __future__ import annotations

from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter


class TimeoutSession(requests.Session):
    """A `requests.Session` that always sends a timeout (a call without one can hang a worker forever).

    requests reads the proxy and CA-bundle variables of the environment on every request (every variable,
    twice: a tenth of the connector worker's CPU per department call in issue 18's service_call profile). A
    process's environment is read once per scheme and host here instead, with the same outcome."""

    def __init__(self, timeout: float):
        super().__init__()
        self.default_timeout = timeout
        self._environment: dict = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies or not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert, tuple(sorted(self.proxies.items())))
        settings = self._environment.get(key)
        if settings is None:
            settings = self._environment[key] = super().merge_environment_settings(url, {}, stream, verify, cert)
        return {**settings, "proxies": dict(settings["proxies"])}

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
