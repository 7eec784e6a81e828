"""Citizen sign-in tests (issue 21): the SMS gateway and national identity simulators wired into the
test realm, citizens with a verified phone, the SMS codes the simulator received, the test clock."""
from __future__ import annotations

import random
import time

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
        # Every test sends from 127.0.0.1: the daily cap per address (30) would stop the second run of the
        # day (the counts outlive a test run). test_sms_daily_caps tests that cap on a day of its own.
        self._set_attributes({"govlink.sms.endpoint": f"{self.sims}/tencent-sms", "govlink.sms.clock-offset-seconds": "0",
                              "govlink.sms.daily-per-ip": "100000"})
        self.admin.update_idp(NATIONAL_IDP, national_idp(settings.replace(simulators_url=self.sims)))

    def _set_attributes(self, changes: dict) -> None:
        realm = self.admin.get_realm(self.settings.realm)
        self.admin.update_realm(self.settings.realm, {"attributes": {**(realm.get("attributes") or {}), **changes}})

    def set_sms(self, **values) -> None:
        """Sets realm attributes govlink.sms.<name> (underscores become dashes); restored by close()."""
        self._set_attributes({f"govlink.sms.{name.replace('_', '-')}": str(v) for name, v in values.items()})

    def advance_clock(self, seconds: int) -> None:
        """Moves the SMS authenticators' clock (the realm's test clock; never in production)."""
        realm = self.admin.get_realm(self.settings.realm)
        current = int((realm.get("attributes") or {}).get("govlink.sms.clock-offset-seconds", "0"))
        self._set_attributes({"govlink.sms.clock-offset-seconds": str(current + seconds)})

    def citizen(self, family="手", given="机号", *, phone: str | None = "random", verified=True, level=1,
                attributes: dict | None = None) -> dict:
        """A citizen with a password and (unless `phone=None`) a phone, verified unless told otherwise."""
        resident_id = new_resident_id()
        if phone == "random":
            phone = "139" + "".join(random.choices("0123456789", k=8))
        attributes = {"assurance_level": [str(level)], **(attributes or {})}
        if phone:
            attributes.update(phone_number=[phone], phone_number_verified=["true" if verified else "false"])
        user_id = self.admin.create_user({
            "username": resident_id, "enabled": True, "lastName": family, "firstName": given, "attributes": attributes,
            "credentials": [{"type": "password", "value": self.password, "temporary": False}]})
        self.admin.assign_realm_roles(user_id, [self.admin.get_realm_role("citizen")])
        self.created.append(user_id)
        return {"id": user_id, "resident_id": resident_id, "phone": phone, "password": self.password}

    def messages(self, phone: str, count: int = 0, *, settle: float = 0.0) -> list[dict]:
        """What the SMS simulator received for `phone`. Keycloak delivers in the background, so this
        waits (up to 10 s) until at least `count` messages arrived; `settle` seconds more let a message
        that should not exist arrive before a test asserts there is none."""
        deadline = time.monotonic() + 10
        while True:
            r = requests.get(f"{self.sims}/tencent-sms/_admin/messages", params={"phone": phone}, timeout=5)
            r.raise_for_status()
            messages = r.json()["messages"]
            if len(messages) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if settle:
            time.sleep(settle)
            return self.messages(phone)
        return messages

    def last_code(self, phone: str, count: int = 1) -> str:
        """The code of the newest message, once `count` messages reached the simulator."""
        messages = self.messages(phone, count)
        assert len(messages) >= count, f"{len(messages)} of {count} SMS reached the simulator for {phone[:3]}****"
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
