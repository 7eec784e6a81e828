"""The sign-in part of the realm (issue 21) and the national identity simulator's OIDC wire."""
from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from config.realm_signin import BROWSER_FLOW, FLOWS, RESET_FLOW, SECOND_FACTOR, national_idp, passkey_policy
from idp.realm_signin import sms_attributes
from config.settings import Settings
from connectors.sms.profile import SmsProfileError


def test_sms_attributes_come_from_the_profile_and_the_test_clock_is_dev_only():
    dev = sms_attributes(Settings())
    assert dev["govlink.sms.endpoint"] == "http://127.0.0.1:8100/tencent-sms"
    assert dev["govlink.sms.ttl-seconds"] == "300" and dev["govlink.sms.max-attempts"] == "5"
    assert dev["govlink.sms.resend-seconds"] == "60" and dev["govlink.sms.template.reset"] == "2110002"
    assert dev["govlink.sms.test-clock"] == "true"
    production = Settings(env="production", sms_secret_id="AKIDreal", sms_secret_key="real-key",
                          sms_api_base="https://sms.tencentcloudapi.com")
    assert sms_attributes(production)["govlink.sms.test-clock"] == "false"
    with pytest.raises(SmsProfileError):
        sms_attributes(Settings(env="production"))


def test_flows_use_govlinks_providers():
    forms = FLOWS[BROWSER_FLOW][2][2]
    first, second = forms
    assert first[:2] == ("govlink first factor", "REQUIRED")
    assert [provider for provider, _ in first[2]] == ["govlink-password-form", "govlink-sms-otp"]
    assert second == SECOND_FACTOR
    assert FLOWS[RESET_FLOW] == [("govlink-sms-reset", "REQUIRED"), ("reset-password", "REQUIRED")]


def test_sms_second_factor_follows_a_password_of_an_opted_in_person_or_group():
    name, requirement, (attribute, credential, sms) = SECOND_FACTOR
    assert requirement == "CONDITIONAL"
    assert attribute[:2] == ("conditional-user-attribute", "REQUIRED")
    assert attribute[2]["attribute_name"] == "govlink_2fa" and attribute[2]["attribute_expected_value"] == "sms"
    assert attribute[2]["include_group_attributes"] == "true"  # a group (counter staff) opts in all its members
    # Only after a password: a passkey is two factors already, phone + SMS code would ask the same phone twice.
    assert credential == ("conditional-credential", "REQUIRED", {"credentials": "password", "included": "true"})
    assert sms == ("govlink-sms-2fa", "REQUIRED")


def test_passkeys_are_discoverable_with_user_verification():
    policy = passkey_policy()
    assert policy["webAuthnPolicyPasswordlessPasskeysEnabled"] is True
    assert policy["webAuthnPolicyPasswordlessResidentKey"] == "required"
    assert policy["webAuthnPolicyPasswordlessUserVerificationRequirement"] == "required"


@pytest.fixture()
def national():
    from simulators.server import run_in_thread

    url, stop = run_in_thread()
    yield url + "/national-id"
    stop()


def _authorize(base, settings, id_number, verifier="v" * 50):
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    form = {"client_id": "hefei-govlink", "redirect_uri": "http://127.0.0.1/cb", "state": "s1", "nonce": "n1",
            "code_challenge": challenge, "code_challenge_method": "S256", "scope": "openid profile",
            "id_number": id_number}
    return requests.post(f"{base}/authorize", data=form, allow_redirects=False, timeout=5)


def test_national_identity_oidc_round_trip(national):
    from simulators.population import SEED_PEOPLE

    settings = Settings()
    idp = national_idp(settings.replace(simulators_url=national.removesuffix("/national-id")))
    discovery = requests.get(f"{national}/.well-known/openid-configuration", timeout=5).json()
    assert discovery["issuer"] == idp["config"]["issuer"] and discovery["token_endpoint"] == idp["config"]["tokenUrl"]
    person = SEED_PEOPLE[0]
    answer = _authorize(national, settings, person.idNumber)
    assert answer.status_code == 302
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    token_form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1/cb",
                  "client_id": "hefei-govlink", "client_secret": idp["config"]["clientSecret"], "code_verifier": "v" * 50}
    tokens = requests.post(f"{national}/token", data=token_form, timeout=5).json()
    keys = KeySet.import_key_set(requests.get(f"{national}/jwks", timeout=5).json())
    claims = jwt.decode(tokens["id_token"], keys).claims
    assert claims["preferred_username"] == person.idNumber and claims["name"] == person.name
    assert claims["iss"] == discovery["issuer"] and claims["aud"] == "hefei-govlink" and claims["nonce"] == "n1"
    info = requests.get(f"{national}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=5)
    assert info.json()["resident_id"] == person.idNumber
    # One use per code.
    assert requests.post(f"{national}/token", data=token_form, timeout=5).json()["error"] == "invalid_grant"


def test_national_identity_refuses_unknown_numbers_and_wrong_verifiers(national):
    settings = Settings()
    refused = _authorize(national, settings, "110101199003070000")
    assert refused.status_code == 200 and "身份信息未通过核验" in refused.text
    from simulators.population import SEED_PEOPLE

    answer = _authorize(national, settings, SEED_PEOPLE[0].idNumber)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    secret = national_idp(settings)["config"]["clientSecret"]
    bad = requests.post(f"{national}/token", data={"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": "http://127.0.0.1/cb", "client_id": "hefei-govlink",
                                                   "client_secret": secret, "code_verifier": "w" * 50}, timeout=5)
    assert bad.json()["error"] == "invalid_grant"
    assert re.search("同意授权", requests.get(f"{national}/authorize", params={
        "client_id": "hefei-govlink", "code_challenge": "x", "code_challenge_method": "S256"}, timeout=5).text)
