"""Issue 15, findings 1, 3 and 4: taking over accounts by how they are bound to a person.

Replayed against the real stack: Keycloak's own registration page and account API, the gateway
(in process) with tokens Keycloak really issued or signed with a key a Keycloak realm publishes,
the bus and the registry simulators over SOAP, PostgreSQL.

1. A padded ID number (victim's ID + U+3000 and friends) must not become an account, and the
   gateway must not read a non-canonical username or organization claim as the victim.
3. A verified person cannot rename themselves through Keycloak's account API, and an enterprise is
   bound to its legal representative by ID number, not by name.
4. An L1 squatter on someone's ID number does not lock the owner out: the owner reclaims the
   account with a registry-backed registration, or in person at a counter; the account is re-bound
   (squatter's password, sessions and tokens gone) and the re-binding is audited.
"""
from __future__ import annotations

import html
import re
import uuid
from datetime import date

import pytest
from sqlalchemy import select

from kernel.http import http_session
from kernel.identifiers import make_resident_id, make_uscc, mask
from idp.keycloak import admin_client
from simulators.channels.signin import Browserless, SignInError, pkce_pair
from tests.integration.idp.conftest import PASSWORD, bearer, channels, people, workers  # noqa: F401
from tests.security.test_hostile_tokens import _signed, hostile_gateway, hostile_realm  # noqa: F401
from tests.support.keycloak_users import new_resident_id

PORTAL_CB = "http://127.0.0.1:8399/portal/cb"
SQUATTER_PASSWORD = "Squat-Pass-2026x"
OWNER_PASSWORD = "Owner-Pass-2026x"

# Characters that Python's str.strip() (and the old Java port of it) removed, plus format characters
# and full-width digits: none may make a second account for a victim's ID number.
PADDINGS = {
    "ideographic-space": "\u3000", "nbsp": "\u00a0", "em-space": "\u2003", "thin-space": "\u2009",
    "line-separator": "\u2028", "next-line": "\u0085", "zero-width-space": "\u200b", "bom": "\ufeff",
    "tab": "\t",
}
FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")


def _id_ending_in_x() -> str:
    for seq in range(1, 999):
        resident_id = make_resident_id("340104", date(1970, 1, 1 + seq % 28), seq)
        if resident_id.endswith("X"):
            return resident_id
    raise AssertionError("no ID number ending in X")


def _self_register(settings, username: str, family: str = "钱", given: str = "自注", password: str = PASSWORD):
    """Keycloak's own registration page, as a browser fills it in; the response to the form post."""
    agent = Browserless(settings.issuer)
    page = agent.http.get(f"{settings.issuer}/protocol/openid-connect/registrations", params={
        "client_id": "web-portal", "response_type": "code", "scope": "openid", "redirect_uri": PORTAL_CB,
        "code_challenge": pkce_pair()[1], "code_challenge_method": "S256"})
    agent._insecure_ok()
    action = html.unescape(re.search(r'<form[^>]*id="kc-register-form"[^>]*action="([^"]+)"', page.text, re.S).group(1))
    response = agent.http.post(action, allow_redirects=False, data={
        "username": username, "lastName": family, "firstName": given, "password": password,
        "password-confirm": password})
    agent._insecure_ok()
    return response


def _registered(response) -> bool:
    return response.status_code in (302, 303) and response.headers.get("Location", "").startswith(PORTAL_CB)


def _accounts_for(settings, resident_id: str) -> list[dict]:
    """Every account whose username contains the ID number's first 17 digits (padded or not)."""
    return admin_client(settings, settings.realm).get_users({"search": resident_id[:17]})


# ---------------------------------------------------------------- finding 1: padded ID numbers
@pytest.fixture()
def victim(settings, people):  # noqa: F811
    person = people.create("周", "受害")
    yield person
    for user in _accounts_for(settings, person["resident_id"]):
        if user["id"] != person["id"]:
            admin_client(settings, settings.realm).delete_user(user["id"])


@pytest.mark.parametrize("where", ["after", "before"])
@pytest.mark.parametrize("padding", list(PADDINGS), ids=list(PADDINGS))
def test_keycloak_refuses_a_padded_id_number_at_self_registration(settings, victim, padding, where):
    pad = PADDINGS[padding]
    username = victim["resident_id"] + pad if where == "after" else pad + victim["resident_id"]
    r = _self_register(settings, username)
    assert not _registered(r), f"Keycloak made an account for the victim's ID number + {padding}"
    assert [u["id"] for u in _accounts_for(settings, victim["resident_id"])] == [victim["id"]]


def test_keycloak_refuses_full_width_digits_and_takes_the_canonical_form(settings, victim, people):  # noqa: F811
    full_width = victim["resident_id"].translate(FULL_WIDTH)
    assert not _registered(_self_register(settings, full_width))
    assert admin_client(settings, settings.realm).get_users({"search": full_width[:17]}) == []

    # Control: the exact canonical form of a fresh ID number registers (the form post itself works).
    fresh = new_resident_id()
    r = _self_register(settings, fresh)
    assert _registered(r), r.text[:300]
    created = admin_client(settings, settings.realm).get_users({"username": fresh.lower(), "exact": True})
    people.created.extend(u["id"] for u in created)
    assert len(created) == 1


def test_an_x_id_number_is_one_account_whatever_the_case(settings, people):  # noqa: F811
    """Keycloak keeps usernames lower-case: `...X` and `...x` are the same username, never two accounts."""
    resident_id = _id_ending_in_x()
    for user in admin_client(settings, settings.realm).get_users({"username": resident_id.lower(), "exact": True}):
        admin_client(settings, settings.realm).delete_user(user["id"])
    first = _self_register(settings, resident_id)
    assert _registered(first), first.text[:300]
    people.created.extend(u["id"] for u in _accounts_for(settings, resident_id))
    assert not _registered(_self_register(settings, resident_id[:-1] + "x"))
    assert len(_accounts_for(settings, resident_id)) == 1


@pytest.mark.parametrize("variant", [
    *[f"padded-{name}" for name in ("ideographic-space", "nbsp", "em-space", "thin-space", "line-separator",
                                    "next-line", "zero-width-space", "bom")],
    "leading-space", "full-width", "upper-case-x",
])
def test_gateway_refuses_a_non_canonical_username_claim(hostile_gateway, hostile_realm, variant):  # noqa: F811
    """Tokens signed with a key a Keycloak realm really publishes, naming the victim in a non-canonical way."""
    victim_id = _id_ending_in_x()
    canonical = victim_id.lower()  # Keycloak's stored form of the username
    if variant.startswith("padded-"):
        username = canonical + PADDINGS[variant.removeprefix("padded-")]
    elif variant == "leading-space":
        username = " " + canonical
    elif variant == "full-width":
        username = canonical.translate(FULL_WIDTH)
    else:
        username = victim_id  # upper-case X: never what Keycloak stores
    token = _signed(hostile_realm, preferred_username=username, azp="mobile-app", assurance_level=3,
                    realm_access={"roles": ["citizen"]})
    r = hostile_gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, (variant, r.get_json())
    assert r.get_json()["code"] == "invalid_token"
    assert victim_id not in r.get_data(as_text=True) and canonical not in r.get_data(as_text=True)


def test_gateway_takes_the_canonical_username_claim(hostile_gateway, hostile_realm):  # noqa: F811
    victim_id = _id_ending_in_x()
    token = _signed(hostile_realm, preferred_username=victim_id.lower(), azp="mobile-app", assurance_level=2,
                    realm_access={"roles": ["citizen"]})
    r = hostile_gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["resident_id"] == mask(victim_id) and r.get_json()["assurance_level"] == 2


@pytest.mark.parametrize("organization", ["lower-case", "padded", "attribute-padded"])
def test_gateway_refuses_a_non_canonical_organization_claim(hostile_gateway, hostile_realm, organization):  # noqa: F811
    uscc = make_uscc(org_body="MA2N0001")
    claim = {"lower-case": [uscc.lower()], "padded": [uscc + "\u3000"],
             "attribute-padded": {uscc: {"uscc": [" " + uscc]}}}[organization]
    token = _signed(hostile_realm, preferred_username=new_resident_id().lower(), azp="mobile-app",
                    assurance_level=2, organization=claim)
    r = hostile_gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, (organization, r.get_json())
    control = _signed(hostile_realm, preferred_username=new_resident_id().lower(), azp="mobile-app",
                      assurance_level=2, organization=[uscc])
    assert hostile_gateway.get("/api/v1/me", headers={"Authorization": f"Bearer {control}"}).get_json()["acting_for"] == uscc


# ---------------------------------------------------------------- finding 3: verified names, enterprises
def _account_api(settings, tokens, method="GET", body=None):
    return http_session(10).request(method, f"{settings.issuer}/account/", json=body,
                                    headers={**bearer(tokens), "Accept": "application/json"})


def test_verified_person_cannot_rename_through_the_account_api(settings, people, channels):  # noqa: F811
    person = people.create("钱", "已验", level=2)
    tokens = channels.sign_in("web-portal", person)
    profile = _account_api(settings, tokens)
    assert profile.status_code == 200, profile.text
    renamed = {k: v for k, v in profile.json().items() if k in ("username", "firstName", "lastName", "email", "attributes")}
    renamed.update(firstName="伟", lastName="张")
    for change in (renamed, {**renamed, "firstName": "已验"}, {**renamed, "lastName": "钱"}):
        r = _account_api(settings, tokens, "POST", change)
        assert r.status_code == 400, (r.status_code, r.text)
    user = admin_client(settings, settings.realm).get_user(person["id"])
    assert (user["lastName"], user["firstName"], user["attributes"]["assurance_level"]) == ("钱", "已验", ["2"])
    # Other fields stay the person's to edit.
    phone = _account_api(settings, tokens, "POST", {**renamed, "firstName": "已验", "lastName": "钱",
                                                      "attributes": {"phone_number": ["13900001111"]}})
    assert phone.status_code == 204, phone.text


def test_verified_phone_cannot_be_swapped_through_the_account_api(settings, people, channels):  # noqa: F811
    """Issue 21: a person changed phone_number in the account console and kept phone_number_verified. A
    verified phone now changes only by verifying the new one (govlink-verify-phone, an SMS code to it)."""
    person = people.create("孙", "有机", level=1)
    admin = admin_client(settings, settings.realm)
    user = admin.get_user(person["id"])
    admin.update_user(person["id"], {**{k: user[k] for k in ("username", "firstName", "lastName") if k in user},
                                     "attributes": {**(user.get("attributes") or {}), "phone_number": ["13900003333"],
                                                    "phone_number_verified": ["true"]}})
    tokens = channels.sign_in("web-portal", person)
    profile = _account_api(settings, tokens)
    assert profile.status_code == 200, profile.text
    mine = {k: v for k, v in profile.json().items() if k in ("username", "firstName", "lastName", "email", "attributes")}
    swapped = _account_api(settings, tokens, "POST", {**mine, "attributes": {**mine.get("attributes", {}),
                                                                          "phone_number": ["13900004444"]}})
    assert swapped.status_code == 400, (swapped.status_code, swapped.text)
    stored = admin.get_user(person["id"])["attributes"]
    assert (stored["phone_number"], stored["phone_number_verified"]) == (["13900003333"], ["true"])
    unchanged = _account_api(settings, tokens, "POST", mine)
    assert unchanged.status_code == 204, unchanged.text


def _new_uscc() -> str:
    return make_uscc(org_body="MA" + "".join(c for c in uuid.uuid4().hex.upper() if c in "0123456789ABCDEF")[:6])


def test_enterprise_is_bound_to_the_representatives_id_number_not_the_name(client, settings, people, channels,  # noqa: F811
                                                                           workers):  # noqa: F811
    """A namesake (or a renamed account) of the legal representative cannot register the enterprise."""
    representative = people.create("孙", "法人", level=2)
    namesake = people.create("孙", "法人", level=2)
    uscc = _new_uscc()
    workers.admin("/enterprise/_admin/enterprises", {"uscc": uscc, "name": "合肥同名科技有限公司",
                                                     "legalRepresentative": "孙法人",
                                                     "legalRepresentativeIdNumber": representative["resident_id"]})
    body = {"uscc": uscc, "name": "合肥同名科技有限公司", "legal_representative": "孙法人"}
    admin = admin_client(settings, settings.realm)
    try:
        r = client.post("/api/v1/identity/enterprises", json=body, headers=bearer(channels.sign_in("web-portal", namesake)))
        assert r.status_code == 422, r.get_json()
        assert r.get_json()["code"] == "not_verified"
        assert r.get_json()["details"]["reason"] == "legal_representative_mismatch"
        assert admin.get_organizations({"q": f"uscc:{uscc}"}) == []

        ok = client.post("/api/v1/identity/enterprises", json=body,
                         headers=bearer(channels.sign_in("web-portal", representative)))
        assert ok.status_code == 201, ok.get_json()
    finally:
        for org in admin.get_organizations({"q": f"uscc:{uscc}"}):
            admin.delete_organization(org["id"])


# ---------------------------------------------------------------- finding 4: squatting and re-binding
@pytest.fixture()
def squatted(settings, client, channels, workers):  # noqa: F811
    """A victim known to the population registry, and a squatter's L1 account on their ID number, signed in."""
    resident_id = new_resident_id()
    workers.admin("/population/_admin/people", {"name": "吴真名", "idNumber": resident_id})
    r = client.post("/api/v1/identity/registrations", json={
        "resident_id": resident_id, "family_name": "吴", "given_name": "冒充", "password": SQUATTER_PASSWORD,
        "phone": "13900009999"})
    assert r.status_code == 201, r.get_json()
    subject = r.get_json()["subject"]
    agent = channels.agent()
    tokens = channels.sign_in("mobile-app", username=resident_id, password=SQUATTER_PASSWORD, agent=agent,
                              scope=_offline_scope(settings))
    yield {"resident_id": resident_id, "subject": subject, "tokens": tokens, "agent": agent}
    try:
        admin_client(settings, settings.realm).delete_user(subject)
    except Exception:
        pass


def _offline_scope(settings) -> str:
    """Ask for an offline token too when the channel may have one, so re-binding must end offline sessions."""
    admin = admin_client(settings, settings.realm)
    optional = admin.get_client_optional_client_scopes(admin.get_client_id("mobile-app"))
    return "openid offline_access" if any(s["name"] == "offline_access" for s in optional) else "openid"


def _squatter_is_out(client, channels, squatted):
    with pytest.raises(SignInError):
        channels.sign_in("mobile-app", username=squatted["resident_id"], password=SQUATTER_PASSWORD)
    with pytest.raises(SignInError):
        channels.refresh("mobile-app", squatted["tokens"], squatted["agent"])
    r = client.get("/api/v1/me", headers=bearer(squatted["tokens"]))
    assert r.status_code == 401, r.get_json()


def _rebinding(db, subject: str):
    from store.models.identity import AccountRebinding

    with db.unit_of_work() as session:
        rows = session.scalars(select(AccountRebinding).where(AccountRebinding.subject == subject)).all()
        session.expunge_all()
        return rows


def test_owner_reclaims_an_l1_squatted_account_by_registering(client, channels, squatted, db):  # noqa: F811
    resident_id = squatted["resident_id"]
    r = client.post("/api/v1/identity/registrations", json={
        "resident_id": resident_id, "family_name": "吴", "given_name": "真名", "password": OWNER_PASSWORD})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["subject"] == squatted["subject"] and body["rebound"] is True and body["assurance_level"] == 2
    assert resident_id not in r.get_data(as_text=True)

    _squatter_is_out(client, channels, squatted)
    owner = channels.sign_in("mobile-app", username=resident_id, password=OWNER_PASSWORD)
    me = client.get("/api/v1/me", headers=bearer(owner)).get_json()
    assert me["assurance_level"] == 2 and me["name"] == "吴真名"

    [audit] = _rebinding(db, squatted["subject"])
    assert audit.trigger == "registration_reclaim" and audit.level_before == 1 and audit.level_after == 2
    assert audit.resident_id_masked == mask(resident_id) and audit.sessions_ended >= 1

    # Now verified: a further registration (the squatter trying back) is refused, with the way out.
    again = client.post("/api/v1/identity/registrations", json={
        "resident_id": resident_id, "family_name": "吴", "given_name": "真名", "password": SQUATTER_PASSWORD})
    assert again.status_code == 409 and again.get_json()["code"] == "already_registered"
    assert "in person" in again.get_json()["message"]
    channels.sign_in("mobile-app", username=resident_id, password=OWNER_PASSWORD)  # still the owner's


def test_a_registration_with_the_wrong_name_does_not_take_an_l1_account(client, channels, squatted, db):  # noqa: F811
    r = client.post("/api/v1/identity/registrations", json={
        "resident_id": squatted["resident_id"], "family_name": "吴", "given_name": "又一个", "password": OWNER_PASSWORD})
    assert r.status_code == 409 and r.get_json()["code"] == "already_registered"
    channels.sign_in("mobile-app", username=squatted["resident_id"], password=SQUATTER_PASSWORD)  # unchanged
    assert _rebinding(db, squatted["subject"]) == []


def test_in_person_verification_rebinds_the_account_to_the_person_at_the_counter(client, channels, squatted, db,  # noqa: F811
                                                                                  settings):
    resident_id = squatted["resident_id"]
    clerk = channels.sign_in("service-hall", username="clerk01", password="Hefei-Demo-2026")
    r = client.post("/api/v1/identity/verifications/in-person", headers=bearer(clerk), json={
        "resident_id": resident_id, "document": "resident_id_card", "family_name": "吴", "given_name": "真名"})
    assert r.status_code == 200, r.get_json()
    assert r.headers["Cache-Control"] == "no-store"
    body = r.get_json()
    assert body["subject"] == squatted["subject"] and body["assurance_level"] == 3 and body["rebound"] is True
    initial = body["initial_password"]
    assert isinstance(initial, str) and len(initial) >= 12

    _squatter_is_out(client, channels, squatted)
    owner_password = "Counter-Owner-2026x"
    owner = channels.sign_in("mobile-app", username=resident_id, password=initial, new_password=owner_password)
    me = client.get("/api/v1/me", headers=bearer(owner)).get_json()
    assert me["assurance_level"] == 3 and me["name"] == "吴真名" and me["subject"] == squatted["subject"]
    with pytest.raises(SignInError):  # the counter's password was for one use
        channels.sign_in("mobile-app", username=resident_id, password=initial)
    channels.sign_in("mobile-app", username=resident_id, password=owner_password)

    user = admin_client(settings, settings.realm).get_user(squatted["subject"])
    assert "phone_number" not in (user.get("attributes") or {})  # the squatter's contact points are gone
    [audit] = _rebinding(db, squatted["subject"])
    assert audit.trigger == "in_person" and audit.level_before == 1 and audit.level_after == 3
    assert audit.resident_id_masked == mask(resident_id) and audit.by != squatted["subject"]
    assert initial not in repr(audit.__dict__)


def test_registration_for_an_id_with_a_verified_account_says_how_to_reclaim(client, people):  # noqa: F811
    person = people.create("冯", "已验", level=2)
    r = client.post("/api/v1/identity/registrations", json={
        "resident_id": person["resident_id"], "family_name": "冯", "given_name": "已验", "password": OWNER_PASSWORD})
    assert r.status_code == 409 and r.get_json()["code"] == "already_registered"
    assert r.get_json()["details"]["reclaim"] == ["in_person"]
    assert person["resident_id"] not in r.get_data(as_text=True)

