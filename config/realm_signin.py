"""How citizens sign in (issue 21), as code: the part of the realm that `idp.realm_signin` applies.

- the realm attributes `govlink.sms.*` read by the Keycloak SMS authenticators
  (keycloak-providers, package `sms`), built by `idp.realm_signin.sms_attributes()` from config/sms.yaml (the gateway, its key pair, the sign
  name and templates, the code policy). `govlink.sms.test-clock` (a clock offset for tests) is
  written only outside production.
- `FLOWS`: the browser flow (ID number or phone + password, passkeys, or phone + SMS code; then an
  SMS code as second factor when the person opted in and signed in with a password), the
  reset-credentials flow (verified phone + SMS code, then a new password), and the first- and
  post-broker-login flows of the national identity provider (link by resident ID number, L2).
- `passkey_policy()`: WebAuthn passwordless (passkeys): user verification required, discoverable.
- `national_idp()`: the national government service platform's unified identity, brokered by OIDC.
"""
from __future__ import annotations

from config.realm import derived_secret

BROWSER_FLOW = "govlink browser"
RESET_FLOW = "govlink reset by phone"
FIRST_BROKER_FLOW = "govlink national first login"
POST_BROKER_FLOW = "govlink national post login"
NATIONAL_IDP = "national-gov"
LOGIN_THEME = "govlink"
VERIFY_PHONE_ACTION = ("govlink-verify-phone", "验证手机号码 (verify mobile phone)")
PASSKEY_ACTION = "webauthn-register-passwordless"

# The SMS second factor: a person (user attribute) or a whole group (group attribute, e.g. counter
# and hotline staff) with govlink_2fa=sms gets an SMS code to the verified phone after a password.
# Not after a passkey (already two factors) nor after phone + SMS code (the same phone again).
SECOND_FACTOR_ATTRIBUTE = ("govlink_2fa", "sms")
SECOND_FACTOR = ("govlink sms second factor", "CONDITIONAL", [
    ("conditional-user-attribute", "REQUIRED", {
        "attribute_name": SECOND_FACTOR_ATTRIBUTE[0], "attribute_expected_value": SECOND_FACTOR_ATTRIBUTE[1],
        "include_group_attributes": "true", "not": "false", "regex": "false"}),
    ("conditional-credential", "REQUIRED", {"credentials": "password", "included": "true"}),
    ("govlink-sms-2fa", "REQUIRED"),  # no verified phone yet: govlink-verify-phone first (required action)
])

# alias -> executions; an execution is (provider, requirement), (provider, requirement, {config}) or
# (subflow alias, requirement, [executions]).
FLOWS: dict[str, list] = {
    BROWSER_FLOW: [
        ("auth-cookie", "ALTERNATIVE"),
        ("identity-provider-redirector", "ALTERNATIVE"),
        ("govlink browser forms", "ALTERNATIVE", [
            ("govlink first factor", "REQUIRED", [
                ("govlink-password-form", "ALTERNATIVE"),  # ID number or phone + password; passkey button
                ("govlink-sms-otp", "ALTERNATIVE"),        # reached by the page's "手机验证码登录" button
            ]),
            SECOND_FACTOR,
        ]),
    ],
    RESET_FLOW: [
        ("govlink-sms-reset", "REQUIRED"),  # the verified phone and an SMS code identify the person
        ("reset-password", "REQUIRED"),     # then UPDATE_PASSWORD
    ],
    FIRST_BROKER_FLOW: [("govlink-national-identity-link", "REQUIRED")],
    POST_BROKER_FLOW: [("govlink-national-identity-link", "REQUIRED")],
}


def passkey_policy() -> dict:
    """Realm fields of the WebAuthn passwordless policy: passkeys on the person's own device."""
    return {
        "webAuthnPolicyPasswordlessRpEntityName": "合肥市政务服务",
        "webAuthnPolicyPasswordlessSignatureAlgorithms": ["ES256", "RS256"],
        "webAuthnPolicyPasswordlessAttestationConveyancePreference": "none",
        "webAuthnPolicyPasswordlessAuthenticatorAttachment": "not specified",
        "webAuthnPolicyPasswordlessResidentKey": "required",  # a discoverable credential: no username typed
        "webAuthnPolicyPasswordlessUserVerificationRequirement": "required",
        "webAuthnPolicyPasswordlessPasskeysEnabled": True,
        # The page's "使用通行密钥登录" button starts it; no autofill request pending on every page load.
        "webAuthnPolicyPasswordlessMediation": "none",
    }


def national_idp_url(settings) -> str:
    return f"{settings.simulators_url.rstrip('/')}/national-id"


def national_idp(settings) -> dict:
    """The identity provider representation (OIDC, code flow + PKCE, signed ID tokens checked by JWKS)."""
    base = national_idp_url(settings)
    return {
        "alias": NATIONAL_IDP, "displayName": "国家政务服务平台", "providerId": "oidc", "enabled": True,
        "trustEmail": False, "storeToken": False, "addReadTokenRoleOnCreate": False, "linkOnly": False,
        "hideOnLogin": False, "firstBrokerLoginFlowAlias": FIRST_BROKER_FLOW, "postBrokerLoginFlowAlias": POST_BROKER_FLOW,
        "config": {
            "issuer": base, "authorizationUrl": f"{base}/authorize", "tokenUrl": f"{base}/token",
            "userInfoUrl": f"{base}/userinfo", "jwksUrl": f"{base}/jwks", "useJwksUrl": "true",
            "validateSignature": "true", "clientId": "hefei-govlink",
            "clientSecret": derived_secret(settings, NATIONAL_IDP), "clientAuthMethod": "client_secret_post",
            "defaultScope": "openid profile", "pkceEnabled": "true", "pkceMethod": "S256", "syncMode": "IMPORT",
            "guiOrder": "1",
        },
    }
