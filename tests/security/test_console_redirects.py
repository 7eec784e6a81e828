"""Findings 8 and 10 (issue 15): the consoles' open redirect and clickjacking.

8: `/console/auth/login?next=/%09/evil.example/phish` ended, after a real sign-in at Keycloak, at
`Location: //evil.example/phish` (a browser drops tabs and newlines, then reads `//host` as another
site); `next=/%0a/x` answered 500. 10: no page said it may not be framed.
"""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest

from simulators.channels.signin import Browserless
from tests.support.console_signin import BASE, console_sign_in

HOSTILE_NEXT = ["/\t/evil.example/phish", "/\n/evil.example/x", "/\r/evil.example/x", "/\\evil.example/x",
                "//evil.example/x", " //evil.example/x", "/\x00/evil.example", "https://evil.example/",
                "\t//evil.example/x", "/ /evil.example/x", "/\x0b/evil.example/x", "/\x7f/evil.example/x"]


def browser_target(location: str) -> str:
    """Where a browser goes for this Location on BASE (WHATWG URL: C0/space trimmed, tab and newline
    removed, backslash read as a slash in http(s) URLs)."""
    cleaned = location.strip("".join(map(chr, range(0x21))))
    cleaned = "".join(c for c in cleaned if c not in "\t\n\r").replace("\\", "/")
    return urljoin(BASE + "/console/auth/callback", cleaned)


@pytest.mark.parametrize("target", HOSTILE_NEXT)
def test_sign_in_never_ends_on_another_site(client, settings, target):
    done = console_sign_in(client, Browserless(settings.issuer), "finance01", next_path=target)
    assert done.status_code == 302, (done.status_code, done.get_data(as_text=True)[:300])
    where = browser_target(done.headers["Location"])
    assert urlsplit(where).netloc == urlsplit(BASE).netloc, (target, done.headers["Location"])


def test_a_safe_next_is_kept(client, settings):
    done = console_sign_in(client, Browserless(settings.issuer), "finance01", next_path="/console/finance/?lang=en")
    assert done.status_code == 302 and done.headers["Location"] == "/console/finance/?lang=en"


@pytest.mark.parametrize("path", ["/console/auth/login?next=/%0a/x", "/console/auth/signed-out", "/console/finance/",
                                  "/supervision/", "/console/supervision/",
                                  "/console/finance/reconcile", "/api/docs", "/api/v1/me", "/healthz"])
def test_no_page_can_be_framed(client, path):
    r = client.get(path, base_url=BASE)
    assert r.status_code < 500, (path, r.status_code)
    assert r.headers.get("X-Frame-Options") == "DENY", path
    if r.mimetype == "text/html":
        csp = r.headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp, (path, csp)
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
