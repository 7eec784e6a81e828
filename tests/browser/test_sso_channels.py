"""Sign in once, signed in everywhere; kiosk by device code; log out once, signed out everywhere (R3)."""
from __future__ import annotations


def _sign_in_at_keycloak(page, citizen):
    """Keycloak's login: with organizations on, the username first, then the password."""
    page.fill("#username", citizen["resident_id"])
    if page.locator("#password").count() == 0:
        page.click("#kc-login")
    page.fill("#password", citizen["password"])
    page.click("#kc-login")


def _signed_in(page) -> bool:
    return page.get_attribute("#status", "data-signed-in") == "yes"


def test_sso_across_portal_mobile_and_kiosk_then_single_logout(browser, channels_url, citizen):
    person = browser.new_context(locale="zh-CN")
    page = person.new_page()

    page.goto(f"{channels_url}/portal/")
    assert not _signed_in(page)
    page.click("#login")
    assert "/realms/hefei/" in page.url  # Keycloak's own login page, in Chinese by default
    assert page.locator("html").get_attribute("lang") in ("zh-CN", "zh-Hans", "zh")
    _sign_in_at_keycloak(page, citizen)
    page.wait_for_url(f"{channels_url}/portal/")
    assert _signed_in(page) and page.inner_text("#level") == "L1"
    assert citizen["resident_id"] not in page.content()  # masked on the page

    # The mobile H5 app: signed in through the SSO session, no password asked.
    page.goto(f"{channels_url}/mobile/")
    page.click("#login")
    page.wait_for_url(f"{channels_url}/mobile/")
    assert _signed_in(page)

    # The kiosk (another device) shows a code; the signed-in browser approves it.
    kiosk = browser.new_context().new_page()
    kiosk.goto(f"{channels_url}/kiosk/start")
    link = kiosk.get_attribute("#verification-link", "href")
    assert kiosk.inner_text("#user-code")
    page.goto(link)
    page.locator("input[name=accept], button[name=accept]").first.click()
    kiosk.wait_for_selector("#status[data-signed-in=yes]", timeout=15000)
    assert kiosk.inner_text("#level") == "L1"

    # Log out on the portal: Keycloak ends the session and tells govlink; the mobile app is signed out.
    page.goto(f"{channels_url}/portal/")
    page.click("#logout")
    page.wait_for_url(f"{channels_url}/portal/")
    assert not _signed_in(page)
    page.wait_for_timeout(1200)  # the gateway re-reads ended sessions at most every second
    page.goto(f"{channels_url}/mobile/")
    assert not _signed_in(page)
    person.close()
