"""The Keycloak realm `hefei`, as code.

`realm_definition(settings)` returns the realm representation that `idp.realm.apply_realm`
creates or updates through the admin API. Later areas add their clients, roles and scopes here,
so that one function describes the whole realm. The identity area (R1-R4) adds: the declarative
user profile (`user_profile()`), the `govlink` client scope that puts the audience and the
assurance level into tokens, the five channel clients (`channel_clients()`) and the department
service accounts (`DEPARTMENT_CLIENTS`).

Client secrets other than the gateway's are derived from the gateway secret (HMAC per client id),
so production sets one secret and every channel gets its own.
"""
from __future__ import annotations

import hashlib
import hmac
import os

REALM_ROLES = [
    {"name": "citizen", "description": "A natural person using online services"},
    {"name": "clerk", "description": "Service-hall counter staff (窗口工作人员)"},
    {"name": "finance", "description": "Finance staff who reconcile payments and deliveries"},
    {"name": "supervisor", "description": "Electronic supervision staff (电子监察)"},
    {"name": "operator", "description": "Operators of govlink itself"},
]


# Session lifetimes of the realm (seconds). A token of a session can be valid at most until the
# session's maximum plus one access-token lifetime: the gateway remembers ended sessions that long.
ACCESS_TOKEN_LIFESPAN = 300
SSO_SESSION_IDLE_TIMEOUT = 1800
SSO_SESSION_MAX_LIFESPAN = 36000
# Offline sessions (only clients that keep the `offline_access` scope: no channel nor console does).
OFFLINE_SESSION_IDLE_TIMEOUT = 7 * 24 * 3600
OFFLINE_SESSION_MAX_LIFESPAN = 30 * 24 * 3600

GOVLINK_SCOPE = "govlink"
DEFAULT_AUDIENCE = "govlink"  # the `aud` every token for the gateway carries (idp.tokens)
STAFF_USERNAME_PATTERN = r"^[a-z][a-z0-9._-]{2,63}$"
# The department subsystems that call govlink with client credentials: client id -> X-Road client.
DEPARTMENT_CLIENTS = {
    "case-system": ("GOV/11340100002987128A/case-system", "政务服务中心 办件系统 (case-handling subsystem)"),
}
# What govlink's own service account may do in the realm (least privilege): people (find, register,
# raise the level, end sessions) and enterprises (Keycloak organizations). Not manage-realm: realm
# settings, clients and flows are `govlink realm apply`'s, with the master realm's admin.
# view-realm: reading the `citizen` role to assign it at registration.
GATEWAY_REALM_MANAGEMENT_ROLES = ("view-users", "query-users", "manage-users", "view-realm",
                                  "view-organizations", "query-organizations", "manage-organizations")


def derived_secret(settings, client_id: str) -> str:
    """The client secret of `client_id`, derived from the gateway's secret."""
    return hmac.new(settings.gateway_client_secret.encode(), client_id.encode(), hashlib.sha256).hexdigest()[:40]


def channels_url() -> str:
    """Where the channel stand-ins (simulators/channels) are served, for their redirect URIs."""
    return os.environ.get("GOVLINK_CHANNELS_URL", "http://127.0.0.1:8300").rstrip("/")


def _caller_mapper(caller: str) -> dict:
    # The X-Road-style client identifier for access rights, fixed per client (idp.principal).
    return {"name": "govlink-client", "protocol": "openid-connect", "protocolMapper": "oidc-hardcoded-claim-mapper",
            "config": {"claim.name": "govlink_client", "claim.value": caller, "jsonType.label": "String",
                       "access.token.claim": "true", "id.token.claim": "false", "userinfo.token.claim": "false",
                       "introspection.token.claim": "true"}}


def service_account_client(client_id: str, secret: str, name: str, caller: str | None = None) -> dict:
    """A confidential client that only uses the client-credentials grant (a department subsystem)."""
    client = {
        "clientId": client_id,
        "name": name,
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": False,
        "clientAuthenticatorType": "client-secret",
        "secret": secret,
        "serviceAccountsEnabled": True,
        "standardFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "implicitFlowEnabled": False,
        "attributes": {"access.token.lifespan": "300"},
        "protocolMappers": [
            {
                # Tokens for this client are meant for the govlink gateway: put it in `aud`.
                "name": "audience-govlink",
                "protocol": "openid-connect",
                "protocolMapper": "oidc-audience-mapper",
                "config": {"included.custom.audience": "govlink", "access.token.claim": "true", "id.token.claim": "false",
                           "introspection.token.claim": "true"},
            }
        ],
    }
    if caller:
        client["protocolMappers"].append(_caller_mapper(caller))
    return client


def _mapper(name: str, mapper: str, config: dict) -> dict:
    return {"name": name, "protocol": "openid-connect", "protocolMapper": mapper, "config": config}


def govlink_client_scope() -> dict:
    """The client scope every channel has by default: audience `govlink`, assurance level, phone.

    Enterprise membership comes from Keycloak's own optional `organization` scope: a channel asks
    for it (or `organization:<USCC>`) when the person acts for an enterprise, and the token then
    names the organization's alias, which is the USCC.
    """
    tokens = {"access.token.claim": "true", "id.token.claim": "true", "userinfo.token.claim": "true",
              "introspection.token.claim": "true"}
    return {
        "name": GOVLINK_SCOPE,
        "description": "Tokens for the govlink gateway: audience and real-name assurance level",
        "protocol": "openid-connect",
        "attributes": {"include.in.token.scope": "true", "display.on.consent.screen": "false"},
        "protocolMappers": [
            _mapper("audience-govlink", "oidc-audience-mapper",
                    {"included.custom.audience": "govlink", "access.token.claim": "true", "id.token.claim": "false",
                     "introspection.token.claim": "true"}),
            _mapper("assurance-level", "oidc-usermodel-attribute-mapper",
                    {"user.attribute": "assurance_level", "claim.name": "assurance_level", "jsonType.label": "int",
                     **tokens}),
            _mapper("phone-number", "oidc-usermodel-attribute-mapper",
                    {"user.attribute": "phone_number", "claim.name": "phone_number", "jsonType.label": "String",
                     "access.token.claim": "false", "id.token.claim": "true", "userinfo.token.claim": "true"}),
            _mapper("phone-number-verified", "oidc-usermodel-attribute-mapper",
                    {"user.attribute": "phone_number_verified", "claim.name": "phone_number_verified",
                     "jsonType.label": "boolean", "access.token.claim": "false", "id.token.claim": "true",
                     "userinfo.token.claim": "true"}),
        ],
    }


def resource_server_client(settings) -> dict:
    """`govlink` as an OAuth resource server: the audience tokens name, allowed to introspect them.

    The gateway verifies tokens locally; introspection is for tools and the benchmark's baseline.
    """
    return {"clientId": DEFAULT_AUDIENCE, "name": "govlink (resource server)", "enabled": True,
            "protocol": "openid-connect", "publicClient": False, "clientAuthenticatorType": "client-secret",
            "secret": derived_secret(settings, DEFAULT_AUDIENCE), "standardFlowEnabled": False,
            "implicitFlowEnabled": False, "directAccessGrantsEnabled": False, "serviceAccountsEnabled": False,
            "attributes": {}}


def channel_clients(settings) -> list[dict]:
    """The five channel clients of R2, each with the OAuth flow that fits it."""
    base = channels_url()
    backchannel_logout = f"{settings.public_base_url.rstrip('/')}/idp/backchannel-logout"

    def browser_client(client_id, name, path, *, public, logout=True):
        client = {
            "clientId": client_id, "name": name, "enabled": True, "protocol": "openid-connect",
            "publicClient": public, "standardFlowEnabled": True, "implicitFlowEnabled": False,
            "directAccessGrantsEnabled": False, "serviceAccountsEnabled": False, "consentRequired": False,
            "frontchannelLogout": False, "fullScopeAllowed": True,
            # Loopback without a port: Keycloak then accepts any port on 127.0.0.1 (RFC 8252 7.3),
            # so tests can serve the stand-ins on a free port.
            "redirectUris": [f"{base}/{path}/*", f"http://127.0.0.1/{path}/*"], "webOrigins": ["+"],
            "attributes": {"pkce.code.challenge.method": "S256",
                           "post.logout.redirect.uris": f"{base}/{path}/*##http://127.0.0.1/{path}/*",
                           "backchannel.logout.session.required": "true",
                           "backchannel.logout.url": backchannel_logout if logout else ""},
        }
        if not public:
            client.update(clientAuthenticatorType="client-secret", secret=derived_secret(settings, client_id))
        return client

    kiosk = {
        "clientId": "kiosk", "name": "自助终端 self-service kiosk", "enabled": True, "protocol": "openid-connect",
        "publicClient": True, "standardFlowEnabled": False, "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False, "consentRequired": False, "fullScopeAllowed": True,
        "attributes": {"oauth2.device.authorization.grant.enabled": "true", "oauth2.device.polling.interval": "1",
                       "backchannel.logout.session.required": "true", "backchannel.logout.url": backchannel_logout},
    }
    hotline = {
        "clientId": "hotline", "name": "服务热线 hotline", "enabled": True, "protocol": "openid-connect",
        "publicClient": False, "clientAuthenticatorType": "client-secret", "secret": derived_secret(settings, "hotline"),
        "standardFlowEnabled": False, "implicitFlowEnabled": False, "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False, "consentRequired": False, "fullScopeAllowed": True,
        "attributes": {"oidc.ciba.grant.enabled": "true", "ciba.backchannel.token.delivery.mode": "poll",
                       "backchannel.logout.session.required": "true", "backchannel.logout.url": backchannel_logout},
    }
    return [
        browser_client("web-portal", "政府网站 web portal", "portal", public=False),
        browser_client("mobile-app", "移动客户端 mobile app", "mobile", public=True),
        kiosk,
        hotline,
        browser_client("service-hall", "服务大厅窗口 service-hall counter", "counter", public=False),
    ]


def staff_console_client(settings) -> dict:
    """`staff-console`: the confidential client of the staff pages (finance console, supervision),
    signed in with the authorization code flow + PKCE by routes/console_auth.py."""
    base = settings.public_base_url.rstrip("/")
    return {
        "clientId": "staff-console", "name": "工作人员控制台 staff console", "enabled": True,
        "protocol": "openid-connect", "publicClient": False, "clientAuthenticatorType": "client-secret",
        "secret": derived_secret(settings, "staff-console"), "standardFlowEnabled": True,
        "implicitFlowEnabled": False, "directAccessGrantsEnabled": False, "serviceAccountsEnabled": False,
        "consentRequired": False, "frontchannelLogout": False, "fullScopeAllowed": True,
        # Loopback without a port as well (RFC 8252 7.3): tests serve the gateway on a free port.
        "redirectUris": [f"{base}/console/auth/callback", "http://127.0.0.1/console/auth/callback"],
        "webOrigins": ["+"],
        "attributes": {"pkce.code.challenge.method": "S256",
                       "post.logout.redirect.uris": f"{base}/console/*##http://127.0.0.1/console/*",
                       "backchannel.logout.session.required": "true",
                       "backchannel.logout.url": f"{base}/idp/backchannel-logout"},
    }


def user_profile() -> dict:
    """The declarative user profile: people keyed on the resident ID number, name, phone, level."""
    admin_only = {"view": ["admin", "user"], "edit": ["admin"]}
    editable = {"view": ["admin", "user"], "edit": ["admin", "user"]}
    required = {"roles": ["admin", "user"]}
    # The name is the person's own to give at registration and to correct while unverified (L1);
    # from L2 on it is the name a registry or a clerk vouched for: only govlink (admin) changes it
    # (keycloak-providers VerifiedValueLockValidator; issue 15 finding 3).
    name_locked_when_verified = {"govlink-locked-when-verified": {"level-attribute": "assurance_level", "min-level": "2"}}
    return {
        "unmanagedAttributePolicy": "ADMIN_VIEW",
        "attributes": [
            {"name": "username", "displayName": "居民身份证号码 (resident ID number)",
             "validations": {"length": {"min": 3, "max": 64}, "up-username-not-idn-homograph": {},
                             "govlink-resident-id": {"staff-pattern": STAFF_USERNAME_PATTERN}},
             "permissions": editable, "multivalued": False},
            {"name": "email", "displayName": "${email}",
             "validations": {"email": {}, "length": {"max": 255}}, "permissions": editable, "multivalued": False},
            {"name": "lastName", "displayName": "姓 (family name)", "required": required,
             "validations": {"length": {"min": 1, "max": 64}, "person-name-prohibited-characters": {},
                             **name_locked_when_verified},
             "permissions": editable, "multivalued": False},
            {"name": "firstName", "displayName": "名 (given name)", "required": required,
             "validations": {"length": {"min": 1, "max": 64}, "person-name-prohibited-characters": {},
                             **name_locked_when_verified},
             "permissions": editable, "multivalued": False},
            # A verified phone is changed only by verifying the new one (govlink-verify-phone, an SMS code
            # to it): the person cannot swap it and keep the flag (issue 21).
            {"name": "phone_number", "displayName": "手机号码 (mobile phone)",
             "validations": {"pattern": {"pattern": r"^1[3-9][0-9]{9}$", "error-message": "手机号码格式不正确"},
                             "govlink-locked-when-verified": {"level-attribute": "phone_number_verified",
                                                              "min-level": "1"}},
             "annotations": {"inputType": "html5-tel"}, "permissions": editable, "multivalued": False},
            # Verification state is written by govlink (admin) only: a user cannot raise it.
            {"name": "phone_number_verified", "displayName": "手机号码已验证", "permissions": admin_only,
             "validations": {"options": {"options": ["true", "false"]}}, "multivalued": False},
            # "sms": after a password, an SMS code to the verified phone (config/realm_signin.py SECOND_FACTOR).
            {"name": "govlink_2fa", "displayName": "登录短信验证 (SMS code after the password)", "permissions": editable,
             "validations": {"options": {"options": ["sms", "off"]}}, "multivalued": False},
            {"name": "assurance_level", "displayName": "实名认证等级 (assurance level)", "permissions": admin_only,
             "validations": {"integer": {"min": 1, "max": 3}}, "multivalued": False},
        ],
        "groups": [],
    }


def realm_definition(settings) -> dict:
    """The full realm representation for `settings.realm`."""
    return {
        "realm": settings.realm,
        "enabled": True,
        "displayName": "合肥市政务服务统一身份认证",
        "displayNameHtml": "<b>合肥市政务服务</b> 统一身份认证",
        "internationalizationEnabled": True,
        "supportedLocales": ["zh-CN", "en"],
        "defaultLocale": "zh-CN",
        "registrationAllowed": True,
        "loginWithEmailAllowed": False,
        "duplicateEmailsAllowed": True,
        "resetPasswordAllowed": True,
        "bruteForceProtected": True,
        # Sign-in events go to Keycloak's database (kept 90 days for audit), not to its log: the
        # jboss-logging listener would write usernames, which are resident ID numbers, unmasked.
        "eventsListeners": [],
        "eventsEnabled": True,
        "eventsExpiration": 90 * 24 * 3600,
        "adminEventsEnabled": True,
        "permanentLockout": False,
        "failureFactor": 5,
        "waitIncrementSeconds": 60,
        "maxFailureWaitSeconds": 900,
        "passwordPolicy": "length(10) and digits(1) and lowerCase(1) and upperCase(1) and notUsername() and passwordHistory(3)",
        "accessTokenLifespan": ACCESS_TOKEN_LIFESPAN,
        "ssoSessionIdleTimeout": SSO_SESSION_IDLE_TIMEOUT,
        "ssoSessionMaxLifespan": SSO_SESSION_MAX_LIFESPAN,
        "offlineSessionIdleTimeout": OFFLINE_SESSION_IDLE_TIMEOUT,
        "offlineSessionMaxLifespanEnabled": True,
        "offlineSessionMaxLifespan": OFFLINE_SESSION_MAX_LIFESPAN,
        # A refresh token is good for one use: a stolen one that was used already is refused, and
        # its reuse by the thief after the owner refreshed is refused too (rotation).
        "revokeRefreshToken": True,
        "refreshTokenMaxReuse": 0,
        "sslRequired": "external",
        "editUsernameAllowed": False,
        "registrationEmailAsUsername": False,
        "verifyEmail": False,
        "organizationsEnabled": True,
        "oauth2DeviceCodeLifespan": 600,
        "oauth2DevicePollingInterval": 1,
        "attributes": {
            # CIBA for the hotline: the client polls; the user is named by login_hint (ID number).
            "cibaBackchannelTokenDeliveryMode": "poll", "cibaExpiresIn": "120", "cibaInterval": "1",
            "cibaAuthRequestedUserHint": "login_hint",
        },
        "roles": {"realm": REALM_ROLES},
        "clientScopes": [govlink_client_scope()],
        "userProfile": user_profile(),
        "clients": [
            service_account_client(settings.gateway_client_id, settings.gateway_client_secret, "govlink gateway",
                                   caller="govlink/gateway"),
            resource_server_client(settings),
            *channel_clients(settings),
            staff_console_client(settings),
            *[service_account_client(cid, derived_secret(settings, cid), name, caller=caller)
              for cid, (caller, name) in DEPARTMENT_CLIENTS.items()],
        ],
    }


def demo_users() -> list[dict]:
    """Accounts for `make run` and the tests (never created when GOVLINK_ENV=production).

    Citizens sign in with their resident ID number as the username (R1).
    """
    from datetime import date

    from kernel.identifiers import make_resident_id

    password = "Hefei-Demo-2026"
    return [
        {"username": make_resident_id("340104", date(1985, 6, 15), 21), "firstName": "晓明", "lastName": "王",
         "password": password, "roles": ["citizen"], "attributes": {"assurance_level": ["1"]}},
        {"username": "clerk01", "firstName": "窗口", "lastName": "李", "password": password, "roles": ["clerk"]},
        {"username": "finance01", "firstName": "财务", "lastName": "张", "password": password, "roles": ["finance"]},
        {"username": "finance02", "firstName": "复核", "lastName": "赵", "password": password, "roles": ["finance"]},
        {"username": "supervisor01", "firstName": "监察", "lastName": "陈", "password": password, "roles": ["supervisor"]},
        {"username": "operator01", "firstName": "运维", "lastName": "孙", "password": password, "roles": ["operator"]},
    ]
