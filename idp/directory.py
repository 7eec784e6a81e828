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

from kernel.errors import CodedError
from kernel.identifiers import mask
from idp.principal import USCC_ATTRIBUTE

log = logging.getLogger(__name__)
LEVEL_ATTRIBUTE = "assurance_level"


RECLAIM_HINT = ("An account with this resident ID number exists. If it is yours, sign in. If not: an unverified "
                "account is re-bound to you when you register with your name exactly as the population registry "
                "holds it; otherwise verify in person at a service-hall counter, which re-binds the account to you.")


class DirectoryError(CodedError):
    """Keycloak refused or failed an admin call; `keycloak_status` is Keycloak's HTTP status (0 if unreachable).

    Answered as: Keycloak's 409 (the account exists) `already_registered` 409; its 400 (it refused the
    data) `refused_by_identity_provider` 422; anything else `identity_provider_unavailable` 503. The
    admin message (`admin_message`) and Keycloak's text stay in the log, `details.keycloak` only on 422.
    """

    def __init__(self, status: int, message: str, details: dict | None = None):
        self.keycloak_status = status
        self.admin_message = message
        keycloak = dict(details or {})
        if status == 409:
            super().__init__(RECLAIM_HINT, code="already_registered", status=409, details={"reclaim": ["in_person"]})
        elif status == 400:
            super().__init__("The identity provider refused the data.", code="refused_by_identity_provider",
                             status=422, details={"keycloak": keycloak.get("keycloak", "")})
        else:
            super().__init__("The identity provider did not answer; try again.", code="identity_provider_unavailable",
                             status=503)


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

    # ------------------------------------------------------------------ re-binding (idp.binding)
    def session_ids(self, user_id: str) -> set[str]:
        """The ids of the person's sessions, online and offline. Offline sessions are listed per client,
        by the client's internal id, which the consents' `Offline Token` grants name (no view-clients
        role needed); an offline session keeps the id of the sign-in that created it."""
        sids = {s["id"] for s in _call("list the sessions", self.admin.get_sessions, user_id)}
        for consent in _call("list the consents", self.admin.user_consents, user_id):
            for grant in consent.get("additionalGrants") or ():
                client_uuid = grant.get("client")
                if grant.get("key") != "Offline Token" or not client_uuid:
                    continue
                path = f"admin/realms/{self.settings.realm}/users/{user_id}/offline-sessions/{client_uuid}"
                response = _call("list the offline sessions", self.admin.connection.raw_get, path)
                if response.status_code == 200:
                    sids |= {s["id"] for s in response.json()}
                else:
                    log.warning("could not list offline sessions (HTTP %s)", response.status_code)
        return sids

    def end_all_sessions(self, user_id: str) -> None:
        """Log the person out everywhere: every session (Keycloak also sets the user's not-before, so
        refresh tokens issued before are refused) and every offline token (consents revoked); forget
        the failed sign-ins counted against the account."""
        _call("log the person out", self.admin.user_logout, user_id)
        # Failed sign-ins of the previous holder must not lock the new one out (brute-force detection).
        _call("clear failed sign-ins", self.admin.clear_bruteforce_attempts_for_user, user_id)
        for consent in _call("list the consents", self.admin.user_consents, user_id):
            _call("revoke an offline token", self.admin.revoke_consent, user_id, consent["clientId"])

    def replace_credentials(self, user_id: str, password: str, *, temporary: bool) -> int:
        """Set `password` (temporary: Keycloak asks for a new one at the next sign-in), then remove
        every other credential (OTP, passkeys, password history) and identity-provider link. The
        password goes first so that one the realm's policy refuses leaves the account as it was.
        Returns how many credentials and links were removed (the replaced password counts as one)."""
        had_password = any(c.get("type") == "password"
                           for c in _call("list the credentials", self.admin.get_credentials, user_id))
        _call("set the new password", self.admin.set_user_password, user_id, password, temporary)
        removed = int(had_password)
        for credential in _call("list the credentials", self.admin.get_credentials, user_id):
            if credential.get("type") != "password":
                _call("remove a credential", self.admin.delete_credential, user_id, credential["id"])
                removed += 1
        for link in _call("list the identity-provider links", self.admin.get_user_social_logins, user_id):
            _call("remove an identity-provider link", self.admin.delete_user_social_login, user_id,
                  link["identityProvider"])
            removed += 1
        return removed

    def rebind_profile(self, user_id: str, *, level: int, family_name: str | None, given_name: str | None,
                       phone: str | None, required_actions: list[str]) -> None:
        """The account's profile for its new holder: the verified level and name; the previous holder's
        contact points (e-mail, phone) and pending required actions replaced; the new holder's phone
        (unverified) if given."""
        user = self.person(user_id)
        attributes = {k: v for k, v in (user.get("attributes") or {}).items()
                      if k not in ("phone_number", "phone_number_verified")}
        attributes[LEVEL_ATTRIBUTE] = [str(level)]
        if phone:
            attributes["phone_number"] = [phone]
            attributes["phone_number_verified"] = ["false"]
        _call("re-bind the account", self.admin.update_user, user_id, {
            "username": user["username"], "firstName": given_name or user.get("firstName"),
            "lastName": family_name or user.get("lastName"), "email": "", "emailVerified": False,
            "enabled": True, "requiredActions": required_actions, "attributes": attributes})

    def disable(self, user_id: str) -> list[str]:
        """Disable the account and end every session of it; returns the ended sessions' ids.

        Keycloak refuses a disabled account's refresh tokens, but not its access tokens: the caller
        records the returned sessions as ended (idp.sessions) so the gateway refuses those at once.
        """
        sids = sorted(self.session_ids(user_id))
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
