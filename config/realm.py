"""The Keycloak realm `hefei`, as code.

`realm_definition(settings)` returns the realm representation that `idp.realm.apply_realm`
creates or updates through the admin API. Later areas add their clients, roles and scopes here,
so that one function describes the whole realm.
"""
from __future__ import annotations

REALM_ROLES = [
    {"name": "citizen", "description": "A natural person using online services"},
    {"name": "clerk", "description": "Service-hall counter staff (窗口工作人员)"},
    {"name": "finance", "description": "Finance staff who reconcile payments and deliveries"},
    {"name": "supervisor", "description": "Electronic supervision staff (电子监察)"},
    {"name": "operator", "description": "Operators of govlink itself"},
]


def service_account_client(client_id: str, secret: str, name: str) -> dict:
    """A confidential client that only uses the client-credentials grant (a department subsystem)."""
    return {
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
                "config": {"included.custom.audience": "govlink", "access.token.claim": "true", "id.token.claim": "false"},
            }
        ],
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
        "permanentLockout": False,
        "failureFactor": 5,
        "waitIncrementSeconds": 60,
        "maxFailureWaitSeconds": 900,
        "passwordPolicy": "length(10) and digits(1) and lowerCase(1) and upperCase(1) and notUsername() and passwordHistory(3)",
        "accessTokenLifespan": 300,
        "ssoSessionIdleTimeout": 1800,
        "ssoSessionMaxLifespan": 36000,
        "sslRequired": "external",
        "roles": {"realm": REALM_ROLES},
        "clients": [
            service_account_client(settings.gateway_client_id, settings.gateway_client_secret, "govlink gateway"),
        ],
    }


def demo_users() -> list[dict]:
    """Accounts for `make run` and the tests (never created when GOVLINK_ENV=production).

    Citizens sign in with their resident ID number as the username (R1).
    """
    from datetime import date

    from idp.identifiers import make_resident_id

    password = "Hefei-Demo-2026"
    return [
        {"username": make_resident_id("340104", date(1985, 6, 15), 21), "firstName": "晓明", "lastName": "王",
         "password": password, "roles": ["citizen"], "attributes": {"assurance_level": ["1"]}},
        {"username": "clerk01", "firstName": "窗口", "lastName": "李", "password": password, "roles": ["clerk"]},
        {"username": "finance01", "firstName": "财务", "lastName": "张", "password": password, "roles": ["finance"]},
        {"username": "finance02", "firstName": "复核", "lastName": "赵", "password": password, "roles": ["finance"]},
        {"username": "supervisor01", "firstName": "监察", "lastName": "陈", "password": password, "roles": ["supervisor"]},
    ]
