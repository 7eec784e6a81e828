"""Reaching Keycloak: the realm's discovery document and the admin client."""
from __future__ import annotations

from kernel.http import http_session


def discovery_url(settings) -> str:
    return f"{settings.issuer}/.well-known/openid-configuration"


def ping(settings, timeout: float = 2.0) -> None:
    """Raise unless the realm's OpenID discovery document is served (Keycloak up, realm present)."""
    response = http_session(timeout).get(discovery_url(settings))
    if response.status_code == 404:
        raise RuntimeError(f"realm {settings.realm!r} not found (run `govlink realm apply`)")
    response.raise_for_status()


def admin_client(settings, realm: str | None = None):
    """A python-keycloak admin client signed in as the bootstrap admin of the master realm."""
    from keycloak import KeycloakAdmin

    admin = KeycloakAdmin(
        server_url=settings.keycloak_url.rstrip("/") + "/",
        username=settings.keycloak_admin_user,
        password=settings.keycloak_admin_password,
        realm_name="master",
        user_realm_name="master",
        timeout=int(settings.http_timeout_seconds) or 10,
    )
    if realm:
        admin.change_current_realm(realm)
    return admin
