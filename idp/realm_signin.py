"""Apply `config.realm_signin` to the realm: SMS attributes, passkey policy, flows, theme, the
national identity provider and the required actions. Idempotent; called by `idp.realm.apply_realm`.

A flow is rebuilt only when its definition changed (a hash in its description): the realm is bound
to Keycloak's built-in flow while the old one is replaced.
"""
from __future__ import annotations

import hashlib
import json
import logging

from connectors.sms.profile import load_sms_profile
from config.realm_signin import (BROWSER_FLOW, FIRST_BROKER_FLOW, FLOWS, LOGIN_THEME, NATIONAL_IDP, PASSKEY_ACTION,
                                 POST_BROKER_FLOW, RESET_FLOW, VERIFY_PHONE_ACTION, national_idp, passkey_policy)

log = logging.getLogger(__name__)

# Realm field -> (our flow, Keycloak's built-in flow bound while ours is rebuilt).
BINDINGS = {"browserFlow": (BROWSER_FLOW, "browser"), "resetCredentialsFlow": (RESET_FLOW, "reset credentials")}


def sms_attributes(settings) -> dict:
    """The realm attributes of the SMS authenticators (values are strings)."""
    profile = load_sms_profile(settings)
    codes = profile.codes
    values = {
        "endpoint": profile.api_base, "secret-id": profile.secret_id, "secret-key": profile.secret_key,
        "sdk-app-id": profile.sdk_app_id, "sign-name": profile.sign_name, "region": profile.region,
        "code-length": codes.length, "ttl-seconds": codes.ttl_seconds, "max-attempts": codes.max_attempts,
        "lock-seconds": codes.lock_seconds, "resend-seconds": codes.resend_seconds,
        "daily-per-phone": codes.daily_per_phone, "daily-per-ip": codes.daily_per_ip,
        "test-clock": "false" if settings.env == "production" else "true",
        **{f"template.{purpose}": template.id for purpose, template in profile.templates.items()},
    }
    return {f"govlink.sms.{name}": str(value) for name, value in values.items()}


def realm_fields(settings, current_attributes: dict | None = None) -> dict:
    """What the realm representation gets: theme, passkey policy and the SMS attributes (merged)."""
    attributes = dict(current_attributes or {})
    attributes.update(sms_attributes(settings))
    return {"loginTheme": LOGIN_THEME, **passkey_policy(), "attributes": attributes}


def apply_signin(admin, settings) -> None:
    realm = admin.get_realm(settings.realm)
    admin.update_realm(settings.realm, realm_fields(settings, realm.get("attributes")))
    _required_actions(admin, settings)
    rebuilt = {alias: _ensure_flow(admin, settings, alias, FLOWS[alias]) for alias in FLOWS}
    bindings = {field: flow for field, (flow, _builtin) in BINDINGS.items()}
    if any(rebuilt.values()) or any(realm.get(f) != flow for f, flow in bindings.items()):
        admin.update_realm(settings.realm, bindings)
    _ensure_idp(admin, national_idp(settings))


def _hash(executions) -> str:
    # "priorities": flows built before executions carried their position are rebuilt once
    return hashlib.sha256(json.dumps(["priorities", executions], sort_keys=True).encode()).hexdigest()[:12]


def _ensure_flow(admin, settings, alias: str, executions: list) -> bool:
    """Create the flow, or rebuild it if its definition changed; True if (re)built."""
    description = f"govlink (config/realm_signin.py) {_hash(executions)}"
    current = next((f for f in admin.get_authentication_flows() if f["alias"] == alias), None)
    if current is not None and current.get("description") == description:
        return False
    if current is not None:
        for field, (flow, builtin) in BINDINGS.items():
            if flow == alias:  # unbind, so the old flow can go
                admin.update_realm(settings.realm, {field: builtin})
        for idp in admin.get_idps():
            if alias in (idp.get("firstBrokerLoginFlowAlias"), idp.get("postBrokerLoginFlowAlias")):
                admin.delete_idp(idp["alias"])  # re-created by _ensure_idp
        _delete_subflows(admin, executions)
        admin.delete_authentication_flow(current["id"])
    admin.create_authentication_flow({"alias": alias, "description": description, "providerId": "basic-flow",
                                      "topLevel": True, "builtIn": False})
    _add_executions(admin, alias, executions)
    log.info("authentication flow %s built", alias)
    return True


def _is_subflow(item) -> bool:
    return len(item) == 3 and isinstance(item[2], list)


def _subflow_names(executions) -> list[str]:
    """Every subflow alias, nested ones too, parents first."""
    names = []
    for item in executions:
        if _is_subflow(item):
            names += [item[0], *_subflow_names(item[2])]
    return names


def _delete_subflows(admin, executions) -> None:
    for name in reversed(_subflow_names(executions)):  # children first
        flow = next((f for f in admin.get_authentication_flows() if f["alias"] == name), None)
        if flow is not None:
            admin.delete_authentication_flow(flow["id"])


def _add_executions(admin, alias: str, executions: list) -> None:
    # Keycloak orders executions by priority and gives new ones 0: equal priorities come back in an
    # arbitrary order (a fresh realm could open with the SMS form), so each gets its position.
    for position, item in enumerate(executions, start=1):
        if _is_subflow(item):
            sub, requirement, children = item
            admin.create_authentication_flow_subflow({"alias": sub, "provider": "registration-page-form",
                                                      "type": "basic-flow", "description": sub}, alias)
            _set_requirement(admin, alias, sub, requirement, position * 10, subflow=True)
            _add_executions(admin, sub, children)
        else:
            provider, requirement, *config = item
            admin.create_authentication_flow_execution({"provider": provider}, alias)
            execution_id = _set_requirement(admin, alias, provider, requirement, position * 10)
            if config:
                admin.create_execution_config(execution_id, {"alias": f"{alias} {provider}", "config": config[0]})


def _set_requirement(admin, alias: str, name: str, requirement: str, priority: int, *,
                     subflow: bool = False) -> str | None:
    """Sets the requirement and priority of the (last added) execution `name` of `alias`; returns its id."""
    found = None
    for execution in admin.get_authentication_flow_executions(alias):
        matches = execution.get("displayName") == name if subflow else execution.get("providerId") == name
        if matches and execution.get("level") == 0:
            found = execution
    if found is not None and (found.get("requirement"), found.get("priority")) != (requirement, priority):
        admin.update_authentication_flow_executions(
            {"id": found["id"], "requirement": requirement, "priority": priority}, alias)
    return None if found is None else found["id"]


def _required_actions(admin, settings) -> None:
    alias, name = VERIFY_PHONE_ACTION
    if admin.get_required_action_by_alias(alias) is None:
        admin.connection.raw_post(f"admin/realms/{settings.realm}/authentication/register-required-action",
                                  data=json.dumps({"providerId": alias, "name": name}))
    for action in (alias, PASSKEY_ACTION):
        current = admin.get_required_action_by_alias(action)
        if current is not None and not current.get("enabled"):
            admin.update_required_action(action, {**current, "enabled": True})


def _ensure_idp(admin, idp: dict) -> None:
    existing = {i["alias"] for i in admin.get_idps()}
    if idp["alias"] in existing:
        admin.update_idp(idp["alias"], idp)
    else:
        admin.create_idp(idp)


__all__ = ["apply_signin", "realm_fields", "NATIONAL_IDP", "FIRST_BROKER_FLOW", "POST_BROKER_FLOW"]
