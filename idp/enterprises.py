"""Enterprises (legal persons, 法人) as Keycloak organizations keyed on the USCC (R1).

An enterprise is registered online by its legal representative (法定代表人), a person at L2 or
more, after the enterprise registry confirms that the registrant's resident ID number (from their
token, canonical) is the representative's. The name is never the key: namesakes exist, and a name
is only what the account says (issue 15 finding 3). Members may act
for the enterprise: a token requested with the `organization` scope then carries its USCC.
"""
from __future__ import annotations

import logging

from idp.directory import directory_for
from kernel.errors import Refused
from kernel.identifiers import mask
from idp.principal import USCC_ATTRIBUTE
from idp.realname import NotVerified, UnknownPerson
from idp.verification import verify_enterprise

log = logging.getLogger(__name__)


class EnterpriseError(Refused):
    """A refused enterprise request, answered with its `status` and `code`."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, code, message)


NOT_THE_REPRESENTATIVE = ("The enterprise registry does not name you (by your resident ID number) as this enterprise's "
                          "legal representative; others register it at a counter.")


def register(runtime, principal, uscc: str, name: str) -> dict:
    """Verify with the enterprise registry that the registrant is the legal representative (by
    resident ID number), create the organization, make the registrant a member."""
    if principal.resident_id is None:
        raise EnterpriseError(403, "not_a_person", "Only a person signed in with a resident ID number can register an enterprise.")
    directory = directory_for(runtime.settings)
    person = directory.person(principal.subject)
    if directory.enterprise(uscc) is not None:
        raise EnterpriseError(409, "already_registered", f"The enterprise {mask(uscc)} is already registered.")
    answer = verify_enterprise(runtime, principal, uscc, principal.resident_id)
    if not answer["match"]:
        raise NotVerified(answer["reason"], answer["call_id"], NOT_THE_REPRESENTATIVE)
    representative = f"{person.get('lastName') or ''}{person.get('firstName') or ''}"
    org_id = directory.create_enterprise(uscc, name.strip(), representative)
    directory.add_member(org_id, principal.subject)
    log.info("enterprise %s registered by %s", mask(uscc), mask(principal.resident_id or ""))
    return {"uscc": uscc, "name": name.strip(), "verification_call_id": answer["call_id"]}


def add_member(runtime, principal, uscc: str, resident_id: str) -> dict:
    """A member adds a person (by ID number) who may then act for the enterprise."""
    directory = directory_for(runtime.settings)
    org = directory.enterprise(uscc)
    if org is None or not _is_member(directory, principal.subject, uscc):
        raise EnterpriseError(404, "not_found", f"You are not a member of an enterprise {uscc}.")
    person = directory.find_person(resident_id)
    if person is None:
        raise UnknownPerson(resident_id, "they register first")
    directory.add_member(org["id"], person["id"])
    return {"uscc": uscc, "member": mask(resident_id)}


def of_person(runtime, subject: str) -> list[dict]:
    """The enterprises a person may act for."""
    return [_view(org) for org in directory_for(runtime.settings).enterprises_of(subject)]


def _is_member(directory, subject: str, uscc: str) -> bool:
    return any(_view(org)["uscc"] == uscc for org in directory.enterprises_of(subject))


def _view(org: dict) -> dict:
    attributes = org.get("attributes") or {}
    uscc = (attributes.get(USCC_ATTRIBUTE) or [org.get("alias")])[0]
    name = (attributes.get("display_name") or [str(org.get("name") or "").removesuffix(f" ({uscc})")])[0]
    return {"uscc": uscc, "name": name}
