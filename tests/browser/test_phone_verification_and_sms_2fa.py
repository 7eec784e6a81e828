"""Issue 21, the last two SMS pieces, in Debian's Chromium with codes read from the SMS simulator:
- govlink-verify-phone: a citizen proves a phone (unverified, or a new one) with an SMS code, started
  by a channel with kc_action or set on the account; only then is phone_number_verified true;
- the SMS code as second factor: after a password, a person who opted in (govlink_2fa=sms, or a
  group of theirs) must also give the code sent to the verified phone; no code, no tokens."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.browser.conftest import PASSWORD
from tests.support.signin import SigninWorld

SENT = "如果该号码已绑定账户，验证码已发送"
WRONG = "验证码错误或已过期"


@pytest.fixture(scope="module")
def world(settings, simulators):
    w = SigninWorld(settings, simulators.base_url, PASSWORD)
    yield w
    w.close()


@pytest.fixture
def mobile_app_loopback():
    """A native app's loopback listener (RFC 8252 section 7.3): answers the authorization redirect."""

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"mobile app"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/mobile/callback"
    server.shutdown()
    server.server_close()


def _press(page, selector):
    with page.expect_navigation():
        page.click(selector)


def _password(page, username):
    page.wait_for_selector("#username")
    page.fill("#username", username)
    if page.locator("#password").count() == 0:
        _press(page, "#kc-login")
    page.fill("#password", PASSWORD)
    _press(page, "#kc-login")


def _signed_in(page) -> bool:
    return page.get_attribute("#status", "data-signed-in") == "yes"


def _mobile_login(page, channels_url, username):
    page.goto(f"{channels_url}/mobile/")
    page.click("#login")
    _password(page, username)


def _authorize(page, settings, redirect_uri, **extra):
    from simulators.channels.signin import pkce_pair

    verifier, challenge = pkce_pair()
    query = {"client_id": "mobile-app", "redirect_uri": redirect_uri, "response_type": "code", "scope": "openid",
             "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    page.goto(f"{settings.issuer}/protocol/openid-connect/auth?{urlencode(query)}")
    return verifier


def _tokens(page, settings, redirect_uri, verifier) -> dict:
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    return requests.post(f"{settings.issuer}/protocol/openid-connect/token", data={
        "grant_type": "authorization_code", "client_id": "mobile-app", "code": code, "redirect_uri": redirect_uri,
        "code_verifier": verifier}, timeout=10).json()


def _attributes(world, person) -> dict:
    return world.user(person["id"])["attributes"]


# ----------------------------------------------------------------------------- verify-phone


def test_channel_starts_phone_verification_with_kc_action(browser, settings, world, mobile_app_loopback):
    """Last session the form never appeared: the required action did not declare kc_action support."""
    person = world.citizen(verified=False)
    page = browser.new_context(locale="zh-CN").new_page()
    verifier = _authorize(page, settings, mobile_app_loopback, kc_action="govlink-verify-phone")
    _password(page, person["resident_id"])
    assert "验证手机号码" in page.content(), "the verify-phone form did not appear after kc_action"
    assert page.input_value("#phone") == person["phone"]
    _press(page, "#govlink-sms-send")
    message = world.messages(person["phone"], 1)[-1]
    assert message["templateId"] == "2110003" and message["text"].startswith("【合肥政务服务】您正在验证手机号码")
    page.fill("#code", "1" * 6 if message["params"][0] != "1" * 6 else "2" * 6)
    _press(page, "#govlink-sms-submit")
    assert WRONG in page.content()
    assert _attributes(world, person)["phone_number_verified"] == ["false"]
    page.fill("#code", message["params"][0])
    page.click("#govlink-sms-submit")
    page.wait_for_url(f"{mobile_app_loopback}*", timeout=20000)
    assert parse_qs(urlsplit(page.url).query)["kc_action_status"] == ["success"]
    assert "id_token" in _tokens(page, settings, mobile_app_loopback, verifier)
    attributes = _attributes(world, person)
    assert (attributes["phone_number"], attributes["phone_number_verified"]) == ([person["phone"]], ["true"])


def test_a_new_number_is_verified_before_it_replaces_the_old_one(browser, settings, world, mobile_app_loopback):
    person = world.citizen()
    new_phone = "138" + person["phone"][3:]
    page = browser.new_context(locale="zh-CN").new_page()
    _authorize(page, settings, mobile_app_loopback, kc_action="govlink-verify-phone")
    _password(page, person["resident_id"])
    page.fill("#phone", new_phone)
    _press(page, "#govlink-sms-send")
    page.fill("#code", world.last_code(new_phone))
    assert world.messages(person["phone"], settle=1.0) == []  # the code goes to the new number only
    # Until the code is given, the old verified number stays.
    assert _attributes(world, person)["phone_number"] == [person["phone"]]
    page.click("#govlink-sms-submit")
    page.wait_for_url(f"{mobile_app_loopback}*", timeout=20000)
    attributes = _attributes(world, person)
    assert (attributes["phone_number"], attributes["phone_number_verified"]) == ([new_phone], ["true"])


def test_the_citizen_may_cancel_a_channels_request_and_nothing_changes(browser, settings, world, mobile_app_loopback):
    person = world.citizen(verified=False)
    page = browser.new_context(locale="zh-CN").new_page()
    _authorize(page, settings, mobile_app_loopback, kc_action="govlink-verify-phone")
    _password(page, person["resident_id"])
    page.click("#govlink-sms-cancel")
    page.wait_for_url(f"{mobile_app_loopback}*", timeout=20000)
    assert parse_qs(urlsplit(page.url).query)["kc_action_status"] == ["cancelled"]
    assert _attributes(world, person)["phone_number_verified"] == ["false"]
    assert world.messages(person["phone"], settle=0.5) == []


def test_verify_phone_set_on_the_account_runs_at_the_next_sign_in(browser, channels_url, world):
    person = world.citizen(verified=False)
    world.admin.update_user(person["id"], {"requiredActions": ["govlink-verify-phone"]})
    page = browser.new_context(locale="zh-CN").new_page()
    _mobile_login(page, channels_url, person["resident_id"])
    assert "验证手机号码" in page.content()
    _press(page, "#govlink-sms-send")
    page.fill("#code", world.last_code(person["phone"]))
    _press(page, "#govlink-sms-submit")
    page.wait_for_url(f"{channels_url}/mobile/")
    assert _signed_in(page)
    assert _attributes(world, person)["phone_number_verified"] == ["true"]
    assert world.user(person["id"])["requiredActions"] == []


# ----------------------------------------------------------------------------- SMS second factor


def _opted_in(world, **kwargs) -> dict:
    return world.citizen(attributes={"govlink_2fa": ["sms"]}, **kwargs)


def test_opted_in_citizen_needs_the_sms_code_after_the_password(browser, channels_url, world):
    person = _opted_in(world)
    page = browser.new_context(locale="zh-CN").new_page()
    _mobile_login(page, channels_url, person["resident_id"])
    assert "短信验证码" in page.content()
    assert page.inner_text("#govlink-sms-sent-to").endswith(person["phone"][:3] + "****" + person["phone"][7:])
    message = world.messages(person["phone"], 1)[-1]
    assert message["templateId"] == "2110001"
    code = message["params"][0]
    page.fill("#code", "1" * 6 if code != "1" * 6 else "2" * 6)
    _press(page, "#govlink-sms-submit")
    assert WRONG in page.content()
    # Password given, code not: the channel has no tokens.
    other = page.context.new_page()
    other.goto(f"{channels_url}/mobile/")
    assert not _signed_in(other)
    page.fill("#code", code)
    _press(page, "#govlink-sms-submit")
    page.wait_for_url(f"{channels_url}/mobile/")
    assert _signed_in(page)


def test_second_factor_also_follows_phone_and_password(browser, channels_url, world):
    """The phone as username records the password like Keycloak's own form, so the condition sees it."""
    person = _opted_in(world)
    page = browser.new_context(locale="zh-CN").new_page()
    _mobile_login(page, channels_url, person["phone"])
    assert "短信验证码" in page.content() and page.locator("#code").count() == 1
    page.fill("#code", world.last_code(person["phone"]))
    _press(page, "#govlink-sms-submit")
    page.wait_for_url(f"{channels_url}/mobile/")
    assert _signed_in(page)


def test_without_opting_in_the_password_is_enough_and_no_sms_is_sent(browser, channels_url, world):
    person = world.citizen()
    page = browser.new_context(locale="zh-CN").new_page()
    _mobile_login(page, channels_url, person["resident_id"])
    page.wait_for_url(f"{channels_url}/mobile/")
    assert _signed_in(page)
    assert world.messages(person["phone"], settle=1.0) == []


def test_a_group_opts_its_members_in(browser, channels_url, world):
    """Counter and hotline staff: the city sets govlink_2fa=sms on their group, not on each account."""
    import uuid

    person = world.citizen()
    group_id = world.admin.create_group({"name": f"counter-staff-{uuid.uuid4().hex[:8]}",
                                         "attributes": {"govlink_2fa": ["sms"]}})
    try:
        world.admin.group_user_add(person["id"], group_id)
        page = browser.new_context(locale="zh-CN").new_page()
        _mobile_login(page, channels_url, person["resident_id"])
        assert page.locator("#code").count() == 1
        page.fill("#code", world.last_code(person["phone"]))
        _press(page, "#govlink-sms-submit")
        page.wait_for_url(f"{channels_url}/mobile/")
        assert _signed_in(page)
    finally:
        world.admin.delete_group(group_id)


def test_opted_in_without_a_verified_phone_verifies_it_first(browser, channels_url, world):
    person = _opted_in(world, verified=False)
    page = browser.new_context(locale="zh-CN").new_page()
    _mobile_login(page, channels_url, person["resident_id"])
    assert "验证手机号码" in page.content()
    _press(page, "#govlink-sms-send")
    page.fill("#code", world.last_code(person["phone"]))
    _press(page, "#govlink-sms-submit")
    page.wait_for_url(f"{channels_url}/mobile/")
    assert _signed_in(page)
    assert _attributes(world, person)["phone_number_verified"] == ["true"]


# ----------------------------------------------------------------------------- daily cap per address


def _sms_send(browser, channels_url, phone):
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{channels_url}/mobile/")
    page.click("#login")
    page.wait_for_selector("#username")
    _press(page, "#govlink-sms-signin")
    page.fill("#phone", phone)
    _press(page, "#govlink-sms-send")
    return page.content()


def test_daily_cap_per_address_answers_alike_for_any_number(browser, channels_url, world):
    """Every browser test sends from 127.0.0.1, so this one caps the address at 2 on a day of its own
    (the test clock moved days ahead), and the next day (the clock again, no sleeping) it sends again."""
    import random

    days = random.randint(1000, 20000)
    world.advance_clock(days * 86400)
    world.set_sms(daily_per_ip=2)
    try:
        first, capped = world.citizen(), world.citizen()
        assert SENT in _sms_send(browser, channels_url, first["phone"])
        assert SENT in _sms_send(browser, channels_url, "13700" + f"{random.randrange(10**6):06d}")  # counted too
        registered = _sms_send(browser, channels_url, capped["phone"])
        unregistered = _sms_send(browser, channels_url, "13700" + f"{random.randrange(10**6):06d}")
        for page in (registered, unregistered):
            assert "今日发送次数已达上限" in page and SENT not in page
        assert world.messages(capped["phone"], settle=1.0) == []
        world.advance_clock(86400)
        assert SENT in _sms_send(browser, channels_url, capped["phone"])
        assert len(world.messages(capped["phone"], 1)) == 1
    finally:
        world.set_sms(daily_per_ip=100000)
        world.advance_clock(-(days + 1) * 86400)
