"""kernel.http: the one HTTP session factory reads the environment's proxy settings once per host."""
import requests.sessions

from kernel.http import http_session


def test_the_environment_is_read_once_per_host_with_the_same_outcome(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "bypassed.example")
    reads = []
    real = requests.sessions.get_environ_proxies
    monkeypatch.setattr(requests.sessions, "get_environ_proxies",
                        lambda url, no_proxy=None: reads.append(url) or real(url, no_proxy=no_proxy))
    session = http_session()
    plain = requests.Session()
    for url in ("http://dept.example/soap", "http://dept.example/soap?x=1", "http://bypassed.example/a"):
        for _ in range(3):
            ours = session.merge_environment_settings(url, {}, None, None, None)
            assert ours == plain.merge_environment_settings(url, {}, None, None, None)
    assert session.merge_environment_settings("http://dept.example/", {}, None, None, None)["proxies"]["http"] \
        == "http://proxy.example:3128"
    assert "http" not in session.merge_environment_settings("http://bypassed.example/", {}, None, None, None)["proxies"]
    # plain requests read the environment in each of its 9 merges; ours once for each of the two hosts
    assert len(reads) == 9 + 2
    explicit = session.merge_environment_settings("http://dept.example/", {"http": "http://other:1"}, None, None, None)
    assert explicit["proxies"]["http"] == "http://other:1"  # a caller's own proxies are honoured as before
