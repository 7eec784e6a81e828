"""People in the real Keycloak for tests: fresh resident ID numbers, citizens created and deleted,
sign-ins on the mobile-app channel (the identity area's scripted browser, authorization code + PKCE)."""
from __future__ import annotations

import random
from datetime import date, timedelta

from kernel.identifiers import make_resident_id
from idp.keycloak import admin_client
from simulators.channels.signin import Browserless

DEMO_PASSWORD = "Hefei-Demo-2026"  # the demo users of `govlink realm demo-users` (config/realm.py demo_users())
MOBILE_REDIRECT = "http://127.0.0.1/mobile/cb"  # loopback redirect of the mobile-app channel (any port)


def new_resident_id(region: str = "340104") -> str:
    """A resident ID number (居民身份证号码) with a random birth date (1950-1999) and sequence number."""
    birth = date(1950, 1, 1) + timedelta(days=random.randrange(18000))
    return make_resident_id(region, birth, random.randrange(1, 999))


def sign_in(settings, username: str, password: str) -> str:
    """An access token of `username` for the mobile-app channel (real Keycloak login form)."""
    return Browserless(settings.issuer).sign_in("mobile-app", MOBILE_REDIRECT, username=username,
                                                password=password)["access_token"]


class People:
    """Citizens created in Keycloak for a test or a module; `cleanup()` deletes them."""

    def __init__(self, settings, password: str, *, region: str = "340104"):
        self.settings = settings
        self.password = password
        self.region = region
        self.admin = admin_client(settings, settings.realm)
        self.created: list[str] = []

    def new_resident_id(self) -> str:
        return new_resident_id(self.region)

    def create(self, family: str = "张", given: str = "测试", *, level: int = 1, roles=("citizen",)) -> dict:
        """A new person with a fresh resident ID number as username, at this assurance level."""
        resident_id = self.new_resident_id()
        user_id = self.admin.create_user({
            "username": resident_id, "enabled": True, "lastName": family, "firstName": given,
            "attributes": {"assurance_level": [str(level)]},
            "credentials": [{"type": "password", "value": self.password, "temporary": False}]})
        self.admin.assign_realm_roles(user_id, [self.admin.get_realm_role(name) for name in roles])
        self.created.append(user_id)
        return {"id": user_id, "resident_id": resident_id, "name": family + given, "password": self.password}

    def signed_in(self, family: str = "张", given: str = "测试", **create) -> tuple[str, str]:
        """(resident ID number, access token on the mobile-app channel) of a new person."""
        person = self.create(family, given, **create)
        return person["resident_id"], sign_in(self.settings, person["resident_id"], self.password)

    def cleanup(self) -> None:
        for user_id in self.created:
            try:
                self.admin.delete_user(user_id)
            except Exception:
                pass

    def __enter__(self) -> "People":
        return self

    def __exit__(self, *exc) -> None:
        self.cleanup()
