"""Signing in the way citizens do (issue 21): phone + SMS code read from the SMS simulator, the lock
after five wrong codes and the resend limit (moved by the realm's test clock, never by sleeping),
password reset through the verified phone, a passkey with Chromium's virtual authenticator, and the
national identity service linked by resident ID number at L2."""
from __future__ import annotations

import pytest

from tests.browser.conftest import PASSWORD
from tests.support.signin import SigninWorld


@pytest.fixture(scope="module")
def world(settings, simulators):
    w = SigninWorld(settings, simulators.base_url, PASSWORD)
    yield w
    w.close()


def _open_login(page, channels_url):
    page.goto(f"{channels_url}/mobile/")
    page.click("#login")
    page.wait_for_selector("#username")


def _press(page, selector):
    """Click a submit button and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(selector)


def _signed_in(page) -> bool:
    return page.get_attribute("#status", "data-signed-in") == "yes"


def _to_sms(page, channels_url, phone):
    _open_login(page, channels_url)
    _press(page, "#govlink-sms-signin")
    page.fill("#phone", phone)
    _press(page, "#govlink-sms-send")


def test_login_page_speaks_to_citizens(browser, channels_url, world):
    page = browser.new_context(locale="zh-CN").new_page()
    _open_login(page, channels_url)
    assert "身份证号码 / 手机号" in page.inner_text("label[for=username]")
    assert page.locator("#govlink-sms-signin").inner_text().strip() == "手机验证码登录"
    assert "国家政务服务平台" in page.content()
    english = browser.new_context(locale="en").new_page()
    _open_login(english, channels_url)
    assert "Resident ID number / mobile phone" in english.inner_text("label[for=username]")


def test_sign_in_by_phone_and_sms_code(browser, channels_url, world):
    person = world.citizen()
    page = browser.new_context(locale="zh-CN").new_page()
    _to_sms(page, channels_url, person["phone"])
    assert "如果该号码已绑定账户，验证码已发送" in page.content()
    message = world.messages(person["phone"], 1)[-1]
    assert message["text"].startswith("【合肥政务服务】您的登录验证码为") and message["templateId"] == "2110001"
    page.fill("#code", message["params"][0])
    _press(page, "#govlink-sms-submit")
    page.wait_for_url(f"{channels_url}/mobile/")
    assert _signed_in(page) and person["resident_id"] not in page.content()


def test_unregistered_phone_gets_the_same_answer_and_no_message(browser, channels_url, world):
    page = browser.new_context(locale="zh-CN").new_page()
    stranger = "13700" + person_suffix()
    _to_sms(page, channels_url, stranger)
    assert "如果该号码已绑定账户，验证码已发送" in page.content()
    assert world.messages(stranger, settle=1.0) == []
    page.fill("#code", "000000")
    _press(page, "#govlink-sms-submit")
    assert "验证码错误或已过期" in page.content()


def person_suffix() -> str:
    import random

    return "".join(random.choices("0123456789", k=6))


def test_resend_waits_sixty_seconds_on_the_test_clock(browser, channels_url, world):
    person = world.citizen()
    page = browser.new_context(locale="zh-CN").new_page()
    _to_sms(page, channels_url, person["phone"])
    _press(page, "#govlink-sms-resend")
    assert "发送过于频繁" in page.content()
    assert len(world.messages(person["phone"], 1, settle=1.0)) == 1
    world.advance_clock(61)
    _press(page, "#govlink-sms-resend")
    assert "如果该号码已绑定账户，验证码已发送" in page.content()
    assert len(world.messages(person["phone"], 2)) == 2
    page.fill("#code", world.last_code(person["phone"], 2))
    _press(page, "#govlink-sms-submit")
    page.wait_for_url(f"{channels_url}/mobile/")
    assert _signed_in(page)


def test_five_wrong_codes_lock_the_phone_until_the_lock_ends(browser, channels_url, world):
    person = world.citizen()
    page = browser.new_context(locale="zh-CN").new_page()
    _to_sms(page, channels_url, person["phone"])
    code = world.last_code(person["phone"])
    wrong = "1" * 6 if code != "1" * 6 else "2" * 6
    for _ in range(4):
        page.fill("#code", wrong)
        _press(page, "#govlink-sms-submit")
        assert "验证码错误或已过期" in page.content()
    page.fill("#code", wrong)
    _press(page, "#govlink-sms-submit")
    assert "该号码已暂时锁定" in page.content()
    # Locked: even a new request sends nothing.
    world.advance_clock(120)
    page.fill("#phone", person["phone"])
    _press(page, "#govlink-sms-send")
    assert "该号码已暂时锁定" in page.content()
    assert len(world.messages(person["phone"], settle=1.0)) == 1
    # 15 minutes later (test clock) the phone works again.
    world.advance_clock(900)
    page.fill("#phone", person["phone"])
    _press(page, "#govlink-sms-send")
    page.fill("#code", world.last_code(person["phone"], 2))
    _press(page, "#govlink-sms-submit")
    page.wait_for_url(f"{channels_url}/mobile/")
    assert _signed_in(page)


def test_forgotten_password_is_reset_through_the_phone(browser, channels_url, world, settings):
    from tests.support.keycloak_users import sign_in

    person = world.citizen()
    page = browser.new_context(locale="zh-CN").new_page()
    _open_login(page, channels_url)
    page.click("a[href*='reset-credentials']")
    page.fill("#phone", person["phone"])
    _press(page, "#govlink-sms-send")
    message = world.messages(person["phone"], 1)[-1]
    assert message["templateId"] == "2110002"
    page.fill("#code", message["params"][0])
    _press(page, "#govlink-sms-submit")
    new_password = "Hefei-Reset-2026y"
    page.fill("#password-new", new_password)
    page.fill("#password-confirm", new_password)
    page.locator("#password-new").press("Enter")
    page.wait_for_url(f"{channels_url}/mobile/")
    assert _signed_in(page)
    assert sign_in(settings, person["resident_id"], new_password)


def _pkce():
    from simulators.channels.signin import pkce_pair

    return pkce_pair()


@pytest.fixture
def mobile_app_loopback():
    """A native app's loopback listener (RFC 8252 section 7.3): answers the authorization redirect."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_passkey_registered_then_used_without_password(browser, world, settings, mobile_app_loopback):
    """Chromium's virtual authenticator (DevTools protocol, WebAuthn domain) holds the passkey. WebAuthn
    refuses IP-address origins, so this browser reaches Keycloak as localhost (its tokens then name
    that issuer, which the channel stand-in would refuse): the mobile app's redirect is answered here."""
    import base64
    from urllib.parse import parse_qs, urlencode, urlsplit

    import requests

    person = world.citizen()
    issuer = settings.issuer.replace("127.0.0.1", "localhost")
    # The mobile app's loopback redirect (any port) is a real listener: a route handler would not see
    # Keycloak's 302 after a form post (Playwright routes only the first request of a redirect chain).
    redirect_uri = f"http://127.0.0.1:{mobile_app_loopback}/mobile/callback"
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept("我的手机"))  # Keycloak asks for the passkey's label
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True, "automaticPresenceSimulation": True}})["authenticatorId"]

    def authorize(**extra):
        verifier, challenge = _pkce()
        query = {"client_id": "mobile-app", "redirect_uri": redirect_uri, "response_type": "code", "scope": "openid",
                 "code_challenge": challenge, "code_challenge_method": "S256", **extra}
        page.goto(f"{issuer}/protocol/openid-connect/auth?{urlencode(query)}")
        return verifier

    # Signed in with the password on the mobile channel, the citizen adds a passkey.
    authorize(kc_action="webauthn-register-passwordless")
    page.fill("#username", person["resident_id"])
    if page.locator("#password").count() == 0:
        _press(page, "#kc-login")
    page.fill("#password", PASSWORD)
    _press(page, "#kc-login")
    page.click("#registerWebAuthn")
    page.wait_for_url(f"{redirect_uri}*", timeout=20000)
    types = [c["type"] for c in world.admin.get_credentials(person["id"])]
    assert "webauthn-passwordless" in types
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]) == 1

    # Another day: no session; the passkey alone signs in (no password typed).
    context.clear_cookies()
    verifier = authorize()
    page.wait_for_selector("#authenticateWebAuthnButton")
    page.click("#authenticateWebAuthnButton")
    page.wait_for_url(f"{redirect_uri}*", timeout=20000)
    code = parse_qs(urlsplit(page.url).query)["code"][0]
    tokens = requests.post(f"{issuer}/protocol/openid-connect/token", data={
        "grant_type": "authorization_code", "client_id": "mobile-app", "code": code, "redirect_uri": redirect_uri,
        "code_verifier": verifier}, timeout=10).json()
    claims = tokens["id_token"].split(".")[1]
    claims = __import__("json").loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    assert claims["preferred_username"] == person["resident_id"].lower()
    assert claims["assurance_level"] == 1  # a passkey shows how someone signs in, not who they are
    context.close()


def test_national_identity_links_the_local_account_at_l2(browser, channels_url, world):
    person = world.citizen("浏", "览器")
    page = browser.new_context(locale="zh-CN").new_page()
    _open_login(page, channels_url)
    _press(page, "#social-national-gov")
    page.fill("#id-number", person["resident_id"])
    page.click("#national-consent")
    page.wait_for_url(f"{channels_url}/mobile/", timeout=20000)
    assert _signed_in(page) and page.inner_text("#level") == "L2"
    user = world.user(person["id"])
    assert user["attributes"]["assurance_level"] == ["2"]
    assert user["attributes"]["assurance_source"] == ["national-idp:national-gov"]
    links = world.admin.get_user_social_logins(person["id"])
    assert [link["identityProvider"] for link in links] == ["national-gov"]
    # Linked, not duplicated: still one account with this ID number.
    assert len(world.admin.get_users({"username": person["resident_id"], "exact": True})) == 1

