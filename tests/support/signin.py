"""Citizen sign-in tests (issue 21): the SMS gateway and national identity simulators wired into the
test realm, citizens with a verified phone, the SMS codes the simulator received, the test clock."""
from __future__ import annotations

import random

import requests

from config.realm_signin import NATIONAL_IDP, national_idp
from idp.keycloak import admin_client
from tests.support.keycloak_users import new_resident_id


class SigninWorld:
    """Points the realm's SMS gateway and national identity provider at `simulators_url` (restored
    by `close()`); creates citizens and reads the messages the SMS simulator recorded."""

    def __init__(self, settings, simulators_url: str, password: str):
        self.settings = settings
        self.sims = simulators_url.rstrip("/")
        self.password = password
        self.admin = admin_client(settings, settings.realm)
        self.created: list[str] = []
        realm = self.admin.get_realm(settings.realm)
        self._attributes = dict(realm.get("attributes") or {})
        self._set_attributes({"govlink.sms.endpoint": f"{self.sims}/tencent-sms", "govlink.sms.clock-offset-seconds": "0"})
        self.admin.update_idp(NATIONAL_IDP, national_idp(settings.replace(simulators_url=self.sims)))

    def _set_attributes(self, changes: dict) -> None:
        realm = self.admin.get_realm(self.settings.realm)
        self.admin.update_realm(self.settings.realm, {"attributes": {**(realm.get("attributes") or {}), **changes}})

    def advance_clock(self, seconds: int) -> None:
        """Moves the SMS authenticators' clock (the realm's test clock; never in production)."""
        realm = self.admin.get_realm(self.settings.realm)
        current = int((realm.get("attributes") or {}).get("govlink.sms.clock-offset-seconds", "0"))
        self._set_attributes({"govlink.sms.clock-offset-seconds": str(current + seconds)})

    def citizen(self, family="手", given="机号", *, phone: str | None = "random", verified=True, level=1) -> dict:
        """A citizen with a password and (unless `phone=None`) a phone, verified unless told otherwise."""
        resident_id = new_resident_id()
        if phone == "random":
            phone = "139" + "".join(random.choices("0123456789", k=8))
        attributes = {"assurance_level": [str(level)]}
        if phone:
            attributes.update(phone_number=[phone], phone_number_verified=["true" if verified else "false"])
        user_id = self.admin.create_user({
            "username": resident_id, "enabled": True, "lastName": family, "firstName": given, "attributes": attributes,
            "credentials": [{"type": "password", "value": self.password, "temporary": False}]})
        self.admin.assign_realm_roles(user_id, [self.admin.get_realm_role("citizen")])
        self.created.append(user_id)
        return {"id": user_id, "resident_id": resident_id, "phone": phone, "password": self.password}

    def messages(self, phone: str) -> list[dict]:
        r = requests.get(f"{self.sims}/tencent-sms/_admin/messages", params={"phone": phone}, timeout=5)
        r.raise_for_status()
        return r.json()["messages"]

    def last_code(self, phone: str) -> str:
        messages = self.messages(phone)
        assert messages, f"no SMS reached the simulator for {phone[:3]}****"
        return messages[-1]["params"][0]

    def user(self, user_id: str) -> dict:
        return self.admin.get_user(user_id)

    def close(self) -> None:
        for user_id in self.created:
            try:
                self.admin.delete_user(user_id)
            except Exception:
                pass
        self.admin.update_realm(self.settings.realm, {"attributes": {**self._attributes,
                                                                    "govlink.sms.clock-offset-seconds": "0"}})
        self.admin.update_idp(NATIONAL_IDP, national_idp(self.settings))
