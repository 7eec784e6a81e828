"""Apply the realm definition of `config.realm` to a running Keycloak, idempotently."""
from __future__ import annotations

import logging

from config.realm import realm_definition
from idp.keycloak import admin_client

log = logging.getLogger(__name__)


def apply_realm(settings) -> dict:
    """Create the realm if missing, then bring its settings, roles and clients in line with the code.

    Returns a summary {"realm": ..., "created": bool, "clients": [...], "roles": [...]}.
    """
    definition = realm_definition(settings)
    clients = definition.pop("clients", [])
    roles = definition.pop("roles", {}).get("realm", [])
    admin = admin_client(settings)
    existing = {r["realm"] for r in admin.get_realms()}
    created = settings.realm not in existing
    if created:
        admin.create_realm(dict(definition), skip_exists=True)
        log.info("realm %s created", settings.realm)
    admin.update_realm(settings.realm, definition)
    admin.change_current_realm(settings.realm)
    for role in roles:
        admin.create_realm_role(role, skip_exists=True)
    for client in clients:
        _upsert_client(admin, client)
    return {"realm": settings.realm, "created": created, "clients": [c["clientId"] for c in clients],
            "roles": [r["name"] for r in roles]}


def _upsert_client(admin, client: dict) -> str:
    internal_id = admin.get_client_id(client["clientId"])
    if internal_id is None:
        internal_id = admin.create_client(client, skip_exists=True)
        log.info("client %s created", client["clientId"])
        return internal_id
    mappers = client.get("protocolMappers", [])
    admin.update_client(internal_id, {k: v for k, v in client.items() if k != "protocolMappers"})
    present = {m["name"] for m in admin.get_mappers_from_client(internal_id)}
    for mapper in mappers:
        if mapper["name"] not in present:
            admin.add_mapper_to_client(internal_id, mapper)
    return internal_id


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
