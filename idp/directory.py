"""People and enterprises in the realm, through the admin API as govlink's own service account.

The gateway's service account holds only the realm-management roles of
`config.realm.GATEWAY_REALM_MANAGEMENT_ROLES`; never the master realm's administrator.
People are Keycloak users whose username is their resident ID number (stored lower-case by
Keycloak, so a check character `X` reads `x` there); enterprises are Keycloak organizations whose
alias and `uscc` attribute are the unified social credit code.
"""
from __future__ import annotations

import logging
import threading

from keycloak.exceptions import KeycloakError

from idp.identifiers import mask
from idp.principal import USCC_ATTRIBUTE

log = logging.getLogger(__name__)
LEVEL_ATTRIBUTE = "assurance_level"


class DirectoryError(Exception):
    """Keycloak refused or failed an admin call; `status` is Keycloak's HTTP status (0 if unreachable)."""

    def __init__(self, status: int, message: str, details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or {}


def _call(what: str, fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except KeycloakError as exc:
        status = getattr(exc, "response_code", None) or 0
        body = exc.response_body.decode("utf-8", "replace") if isinstance(exc.response_body, bytes) else str(exc.response_body or "")
        raise DirectoryError(status, f"Keycloak refused to {what}", {"keycloak": body[:300]}) from None


class Directory:
    """The admin operations govlink needs, on one lazily opened admin connection per process."""

    def __init__(self, settings):
        self.settings = settings
        self._admin = None
        self._lock = threading.Lock()

    @property
    def admin(self):
        with self._lock:
            if self._admin is None:
                from keycloak import KeycloakAdmin

                self._admin = KeycloakAdmin(
                    server_url=self.settings.keycloak_url.rstrip("/") + "/", realm_name=self.settings.realm,
                    client_id=self.settings.gateway_client_id, client_secret_key=self.settings.gateway_client_secret,
                    timeout=int(self.settings.http_timeout_seconds) or 10)
            return self._admin

    # ------------------------------------------------------------------ people
    def find_person(self, resident_id: str) -> dict | None:
        """The user whose username is this (validated) resident ID number, or None."""
        users = _call("look a person up", self.admin.get_users, {"username": resident_id.lower(), "exact": True})
        return users[0] if users else None

    def person(self, user_id: str) -> dict:
        return _call("read a person", self.admin.get_user, user_id)

    def register_person(self, resident_id: str, family_name: str, given_name: str, password: str,
                        phone: str | None = None) -> str:
        """Create a person at level L1 and return the Keycloak user id."""
        attributes = {LEVEL_ATTRIBUTE: ["1"]}
        if phone:
            attributes["phone_number"] = [phone]
            attributes["phone_number_verified"] = ["false"]
        user_id = _call("register the person", self.admin.create_user, {
            "username": resident_id.lower(), "enabled": True, "lastName": family_name, "firstName": given_name,
            "attributes": attributes,
            "credentials": [{"type": "password", "value": password, "temporary": False}],
        }, exist_ok=False)
        citizen = _call("read the citizen role", self.admin.get_realm_role, "citizen")
        _call("give the citizen role", self.admin.assign_realm_roles, user_id, [citizen])
        log.info("person %s registered at L1", mask(resident_id))
        return user_id

    def level_of(self, user: dict) -> int:
        values = (user.get("attributes") or {}).get(LEVEL_ATTRIBUTE) or ["1"]
        try:
            return int(values[0])
        except ValueError:
            return 1

    def raise_level(self, user_id: str, level: int) -> tuple[int, int]:
        """Raise a person's level to `level` (never lower it); returns (before, after)."""
        user = self.person(user_id)
        before = self.level_of(user)
        if before >= level:
            return before, before
        attributes = dict(user.get("attributes") or {})
        attributes[LEVEL_ATTRIBUTE] = [str(level)]
        # The whole representation: with the declarative profile, missing attributes would be dropped.
        _call("raise the assurance level", self.admin.update_user, user_id, {
            "username": user["username"], "firstName": user.get("firstName"), "lastName": user.get("lastName"),
            "email": user.get("email"), "enabled": user.get("enabled", True), "attributes": attributes})
        return before, level

    def session_ids(self, user_id: str) -> list[str]:
        """The ids of the person's Keycloak sessions (the `sid` their tokens carry)."""
        return [s["id"] for s in _call("list the person's sessions", self.admin.get_sessions, user_id)]

    def disable(self, user_id: str) -> list[str]:
        """Disable the account and end every session of it; returns the ended sessions' ids.

        Keycloak refuses a disabled account's refresh tokens, but not its access tokens: the caller
        records the returned sessions as ended (idp.sessions) so the gateway refuses those at once.
        """
        sids = self.session_ids(user_id)
        user = self.person(user_id)
        # The whole representation: with the declarative profile, missing attributes would be dropped.
        _call("disable the person", self.admin.update_user, user_id, {
            "username": user["username"], "firstName": user.get("firstName"), "lastName": user.get("lastName"),
            "email": user.get("email"), "enabled": False, "attributes": user.get("attributes") or {}})
        _call("end the person's sessions", self.admin.user_logout, user_id)  # back-channel logout to every client
        return sids

    # ------------------------------------------------------------------ enterprises
    def enterprise(self, uscc: str) -> dict | None:
        """The organization of this USCC, or None."""
        for org in _call("look an enterprise up", self.admin.get_organizations, {"q": f"{USCC_ATTRIBUTE}:{uscc}"}):
            if org.get("alias") == uscc or uscc in (org.get("attributes") or {}).get(USCC_ATTRIBUTE, []):
                return org
        return None

    def create_enterprise(self, uscc: str, name: str, legal_representative: str) -> str:
        """Create the organization of an enterprise; returns its id."""
        org_id = _call("register the enterprise", self.admin.create_organization, {
            "name": f"{name} ({uscc})", "alias": uscc, "enabled": True,
            "description": f"统一社会信用代码 {uscc}",
            "attributes": {USCC_ATTRIBUTE: [uscc], "display_name": [name], "legal_representative": [legal_representative]},
            "domains": [],
        })
        if not org_id:
            org_id = self.enterprise(uscc)["id"]
        return org_id

    def add_member(self, org_id: str, user_id: str) -> None:
        members = _call("list the members", self.admin.get_organization_members, org_id)
        if any(m["id"] == user_id for m in members):
            return
        _call("add the member", self.admin.organization_user_add, user_id, org_id)

    def enterprises_of(self, user_id: str) -> list[dict]:
        return _call("list the person's enterprises", self.admin.get_user_organizations, user_id)


_directories: dict[str, Directory] = {}
_directories_lock = threading.Lock()


def directory_for(settings) -> Directory:
    """The process's directory for this realm (one admin connection, reused)."""
    with _directories_lock:
        if settings.issuer not in _directories:
            _directories[settings.issuer] = Directory(settings)
        return _directories[settings.issuer]
