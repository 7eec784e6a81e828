"""`_safe_next` (routes/console_auth.py): whatever `next` a sign-in link carries, the redirect after
sign-in stays on this site as a browser reads the Location header, and never fails (issue 15 #8)."""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from flask import Flask
from hypothesis import given, settings, strategies as st

from routes.console_auth import _safe_next

BASE = "https://govlink.example.gov.cn/console/auth/callback"
APP = Flask("safe-next-test")
# Text a hostile link would use: slashes, backslashes, controls, spaces, dots, '@', ':', '%' and letters.
PIECES = st.sampled_from(["/", "//", "\\", "\t", "\n", "\r", " ", "\x00", "\x0b", "\x7f", "\u3000", "\u2028", ":",
                          "@", "%", "%09", "%2f", ".", "..", "evil.example", "https:", "javascript:", "?", "#", "a"])
HOSTILE = st.lists(PIECES, max_size=8).map("".join) | st.text(max_size=40)


def browser_target(location: str) -> str:
    """WHATWG URL parsing in brief: trim C0 and space, drop tab/CR/LF, backslash is a slash."""
    cleaned = location.strip("".join(map(chr, range(0x21))))
    cleaned = "".join(c for c in cleaned if c not in "\t\n\r").replace("\\", "/")
    return urljoin(BASE, cleaned)


@settings(max_examples=400, deadline=None)
@given(HOSTILE)
def test_the_redirect_after_sign_in_stays_on_this_site(target):
    safe = _safe_next(target)
    with APP.test_request_context():
        from flask import redirect

        location = redirect(safe).headers["Location"]  # a header value: never a newline, never a 500
    assert urlsplit(browser_target(location)).netloc == urlsplit(BASE).netloc, (target, location)
    assert safe == "/" or safe == target


@given(st.sampled_from(["/console/finance/", "/console/finance/runs/7?lang=en", "/console/supervision/?page=2"]))
def test_plain_paths_are_kept(path):
    assert _safe_next(path) == path


def test_the_reported_attacks_go_home():
    for target in ("/\t/evil.example/phish", "/\n/x", "/\\evil.example", "//evil.example", "https://evil.example"):
        assert _safe_next(target) == "/"
