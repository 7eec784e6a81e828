"""Apply the realm definition of `config.realm` to a running Keycloak, idempotently."""
from __future__ import annotations

import logging

from config.realm import GATEWAY_REALM_MANAGEMENT_ROLES, GOVLINK_SCOPE, realm_definition
from idp.keycloak import admin_client
from idp.realm_signin import apply_signin

log = logging.getLogger(__name__)

# Client scopes every channel client gets by default, besides Keycloak's own defaults.
CHANNEL_DEFAULT_SCOPES = (GOVLINK_SCOPE,)
CHANNEL_OPTIONAL_SCOPES = ("organization",)
# Scopes no client of the realm gets: offline tokens would outlive every logout (issue 15 #9).
WITHHELD_SCOPES = ("offline_access",)
# Keycloak's built-in clients whose password grant is switched off in the realm (issue 15 #12).
NO_PASSWORD_GRANT = ("admin-cli",)


def apply_realm(settings) -> dict:
    """Create the realm if missing, then bring its settings, roles and clients in line with the code.

    Returns a summary {"realm": ..., "created": bool, "clients": [...], "roles": [...]}.
    """
    definition = realm_definition(settings)
    clients = definition.pop("clients", [])
    roles = definition.pop("roles", {}).get("realm", [])
    scopes = definition.pop("clientScopes", [])
    profile = definition.pop("userProfile", None)
    admin = admin_client(settings)
    existing = {r["realm"] for r in admin.get_realms()}
    created = settings.realm not in existing
    if created:
        admin.create_realm(dict(definition), skip_exists=True)
        log.info("realm %s created", settings.realm)
    admin.update_realm(settings.realm, definition)
    admin.change_current_realm(settings.realm)
    if profile is not None:
        admin.update_realm_users_profile(profile)
    for role in roles:
        admin.create_realm_role(role, skip_exists=True)
    scope_ids = {scope["name"]: _upsert_client_scope(admin, scope) for scope in scopes}
    all_scopes = {s["name"]: s["id"] for s in admin.get_client_scopes()}
    for client in clients:
        internal_id = _upsert_client(admin, client)
        if client.get("standardFlowEnabled") or _attr(client, "oauth2.device.authorization.grant.enabled") \
                or _attr(client, "oidc.ciba.grant.enabled"):
            _ensure_scopes(admin, internal_id, [scope_ids.get(n) or all_scopes.get(n) for n in CHANNEL_DEFAULT_SCOPES],
                           [all_scopes.get(n) for n in CHANNEL_OPTIONAL_SCOPES])
        _withhold_scopes(admin, internal_id, [all_scopes.get(n) for n in WITHHELD_SCOPES])
    _withhold_realm_default_scopes(admin, settings.realm, [all_scopes.get(n) for n in WITHHELD_SCOPES])
    _no_password_grant(admin)
    _grant_gateway_realm_management(admin, settings)
    apply_signin(admin, settings)  # SMS codes, passkeys, the national identity provider (issue 21)
    return {"realm": settings.realm, "created": created, "clients": [c["clientId"] for c in clients],
            "roles": [r["name"] for r in roles]}


def _attr(client: dict, name: str) -> bool:
    return client.get("attributes", {}).get(name) == "true"


def _upsert_client(admin, client: dict) -> str:
    internal_id = admin.get_client_id(client["clientId"])
    if internal_id is None:
        internal_id = admin.create_client(client, skip_exists=True)
        log.info("client %s created", client["clientId"])
        return internal_id
    admin.update_client(internal_id, {k: v for k, v in client.items() if k != "protocolMappers"})
    _sync_mappers(client.get("protocolMappers", []), admin.get_mappers_from_client(internal_id),
                  lambda m: admin.add_mapper_to_client(internal_id, m),
                  lambda mid, m: admin.update_client_mapper(internal_id, mid, m),
                  lambda mid: admin.remove_client_mapper(internal_id, mid))
    return internal_id


def _upsert_client_scope(admin, scope: dict) -> str:
    found = admin.get_client_scope_by_name(scope["name"])
    if found is None:
        scope_id = admin.create_client_scope(scope, skip_exists=True)
        log.info("client scope %s created", scope["name"])
        return scope_id
    scope_id = found["id"]
    admin.update_client_scope(scope_id, {k: v for k, v in scope.items() if k != "protocolMappers"} | {"id": scope_id})
    _sync_mappers(scope.get("protocolMappers", []), admin.get_mappers_from_client_scope(scope_id),
                  lambda m: admin.add_mapper_to_client_scope(scope_id, m),
                  lambda mid, m: admin.update_mapper_in_client_scope(scope_id, mid, m),
                  lambda mid: admin.delete_mapper_from_client_scope(scope_id, mid))
    return scope_id


def _sync_mappers(wanted: list[dict], present: list[dict], add, update, remove) -> None:
    """Make the mappers exactly the wanted ones (the realm is code: hand-made mappers go)."""
    by_name = {m["name"]: m for m in present}
    for name in set(by_name) - {m["name"] for m in wanted}:
        remove(by_name[name]["id"])
    for mapper in wanted:
        current = by_name.get(mapper["name"])
        if current is None:
            add(mapper)
        elif current.get("config") != mapper["config"] or current.get("protocolMapper") != mapper["protocolMapper"]:
            update(current["id"], {**mapper, "id": current["id"]})


def _ensure_scopes(admin, client_id: str, default_ids: list, optional_ids: list) -> None:
    have_default = {s["id"] for s in admin.get_client_default_client_scopes(client_id)}
    have_optional = {s["id"] for s in admin.get_client_optional_client_scopes(client_id)}
    for scope_id in filter(None, default_ids):
        if scope_id not in have_default:
            admin.add_client_default_client_scope(client_id, scope_id, {})
    for scope_id in filter(None, optional_ids):
        if scope_id not in have_optional and scope_id not in have_default:
            admin.add_client_optional_client_scope(client_id, scope_id, {})


def _withhold_scopes(admin, client_id: str, scope_ids: list) -> None:
    """Take `scope_ids` off the client, default and optional (e.g. offline_access)."""
    for scope_id in filter(None, scope_ids):
        if scope_id in {s["id"] for s in admin.get_client_optional_client_scopes(client_id)}:
            admin.delete_client_optional_client_scope(client_id, scope_id)
        if scope_id in {s["id"] for s in admin.get_client_default_client_scopes(client_id)}:
            admin.delete_client_default_client_scope(client_id, scope_id)


def _withhold_realm_default_scopes(admin, realm: str, scope_ids: list) -> None:
    """New clients (Keycloak's own included) do not get `scope_ids` either."""
    optional = {s["id"] for s in admin.get_default_optional_client_scopes()}
    default = {s["id"] for s in admin.get_default_default_client_scopes()}
    for scope_id in filter(None, scope_ids):
        if scope_id in optional:
            admin.delete_default_optional_client_scope(scope_id)
        if scope_id in default:
            admin.delete_default_default_client_scope(scope_id)


def _no_password_grant(admin) -> None:
    for client_id in NO_PASSWORD_GRANT:
        internal_id = admin.get_client_id(client_id)
        if internal_id and admin.get_client(internal_id).get("directAccessGrantsEnabled"):
            admin.update_client(internal_id, {"clientId": client_id, "directAccessGrantsEnabled": False})


def _grant_gateway_realm_management(admin, settings) -> None:
    """Give the gateway's service account exactly the realm-management roles it needs (least privilege:
    roles granted by hand or by an older version are taken away)."""
    gateway_id = admin.get_client_id(settings.gateway_client_id)
    user = admin.get_client_service_account_user(gateway_id)
    management_id = admin.get_client_id("realm-management")
    assigned = {r["name"]: r for r in admin.get_client_roles_of_user(user["id"], management_id)}
    missing = [admin.get_client_role(management_id, name) for name in GATEWAY_REALM_MANAGEMENT_ROLES
               if name not in assigned]
    if missing:
        admin.assign_client_role(user["id"], management_id, missing)
    extra = [role for name, role in assigned.items() if name not in GATEWAY_REALM_MANAGEMENT_ROLES]
    if extra:
        admin.delete_client_roles_of_user(user["id"], management_id, extra)


def ensure_demo_users(settings) -> list[dict]:
    """Create the demo accounts of `config.realm.demo_users` if missing (refused in production)."""
    from config.realm import demo_users

    if settings.env == "production":
        raise RuntimeError("demo users are never created in production")
    admin = admin_client(settings, settings.realm)
    users = demo_users()
    for user in users:
        if admin.get_user_id(user["username"]) is None:
            user_id = admin.create_user({
                "username": user["username"], "enabled": True, "firstName": user["firstName"],
                "lastName": user["lastName"], "attributes": user.get("attributes", {}),
                "credentials": [{"type": "password", "value": user["password"], "temporary": False}],
            }, exist_ok=True)
            roles = [admin.get_realm_role(name) for name in user["roles"]]
            admin.assign_realm_roles(user_id, roles)
    return users
