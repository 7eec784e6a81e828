"""Real-name upgrades (实名认证, R4): L1 -> L2 by the population registry, -> L3 in person at a counter.

Each raise is written to Keycloak (the `assurance_level` attribute the tokens carry) and recorded
in `identity_verifications` with who vouched for it. Tokens issued before still show the old level:
the channel gets a new token (refresh) to step up.

The in-person check also re-binds the account to the person at the counter (`idp.binding`): their
ID document proves they hold the number, not that they hold the account's password. A registration
for an ID number whose account is still L1 reclaims it when the population registry confirms the
registrant's name (`reclaim`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from idp import binding
from idp.directory import RECLAIM_HINT, DirectoryError, directory_for
from kernel.errors import CodedError
from kernel.identifiers import mask
from idp.verification import verify_identity
from store.models.identity import IdentityVerification

log = logging.getLogger(__name__)


class NotVerified(CodedError):
    """The registry did not confirm the person (422 `not_verified`); `reason` is the registry's (e.g. `name_mismatch`)."""

    code = "not_verified"
    status = 422

    def __init__(self, reason: str, call_id: str | None = None,
                 message: str = "The population registry did not confirm your name and ID number."):
        super().__init__(message, details={"reason": reason, "call_id": call_id})
        self.reason = reason
        self.call_id = call_id


class NotReclaimable(CodedError):
    """An account exists for the ID number and this request may not take it (see `reclaim`): 409
    `already_registered`, `details.reclaim` says how."""

    code = "already_registered"
    status = 409

    def __init__(self, resident_id: str):
        super().__init__(RECLAIM_HINT, details={"reclaim": ["in_person"]})


class UnknownPerson(CodedError, LookupError):
    """No account holds this resident ID number (404 `unknown_person`)."""

    code = "unknown_person"
    status = 404

    def __init__(self, resident_id: str, hint: str = "register first"):
        super().__init__(f"No account for {mask(resident_id)}; {hint}.")


@dataclass(frozen=True)
class RegistryCaller:
    """Who asks the registry when nobody is signed in yet (a registration): govlink itself."""

    caller: str
    subject: str

    def envelope_claims(self) -> dict:
        """The envelope's `principal`: the account being reclaimed, vouching for nothing (no ID number,
        level 0), so a grant condition bound to the caller's own number can never hold for it; govlink's
        own grant (`govlink/gateway`, config/access.yaml) is unconditioned."""
        return {"subject": self.subject, "id_number": None, "acting_for": None, "level": 0}


GATEWAY_CALLER = "govlink/gateway"


@dataclass(frozen=True)
class Outcome:
    level_before: int
    level_after: int
    method: str
    reference: str | None
    rebound: bool = False
    initial_password: str | None = None  # handed over once at the counter; never stored or logged

    @property
    def raised(self) -> bool:
        return self.level_after > self.level_before

    @property
    def next_step(self) -> str:
        """What the channel does to use the new level."""
        if self.rebound:
            return "sign in with the one-time password and choose a new one (all earlier sessions have ended)"
        return "refresh the token (or sign in again) to carry the new level" if self.raised else "none"


def full_name(user: dict) -> str:
    """A Chinese name as the registry holds it: family name then given name, no space."""
    return f"{user.get('lastName') or ''}{user.get('firstName') or ''}".strip()


def verify_with_registry(runtime, principal) -> Outcome:
    """Check the person's account name and ID number with the population registry; raise to L2."""
    directory = directory_for(runtime.settings)
    user = directory.person(principal.subject)
    answer = verify_identity(runtime, principal, full_name(user), principal.resident_id)
    if not answer["match"]:
        log.info("registry did not confirm %s: %s", mask(principal.resident_id), answer["reason"])
        raise NotVerified(answer["reason"], answer["call_id"])
    before, after = directory.raise_level(principal.subject, 2)
    _record(runtime, principal.subject, principal.resident_id, "population_registry", before, after,
            "population-registry", principal.caller, answer["call_id"])
    return Outcome(before, after, "population_registry", answer["call_id"])


def verify_in_person(runtime, clerk, resident_id: str, document: str, *, family_name: str | None = None,
                     given_name: str | None = None, ended_sessions=None) -> tuple[str, Outcome]:
    """A clerk has checked the person's ID document at the counter: the account of that ID number is
    re-bound to them (`idp.binding`) at L3, with the name on the document if given. Returns
    (subject, outcome); the outcome carries the one-time password for the person."""
    directory = directory_for(runtime.settings)
    user = directory.find_person(resident_id)
    if user is None:
        raise UnknownPerson(resident_id)
    password = binding.initial_password()
    rebound = binding.rebind(runtime, user, resident_id, trigger=binding.IN_PERSON, level=3, by=clerk.subject,
                             client=clerk.caller, reference=document, password=password, temporary=True,
                             family_name=family_name, given_name=given_name, ended_sessions=ended_sessions)
    _record(runtime, user["id"], resident_id, "in_person", rebound.level_before, rebound.level_after,
            clerk.subject, clerk.caller, document)
    log.info("%s verified in person by clerk %s: L%s -> L%s", mask(resident_id), clerk.username,
             rebound.level_before, rebound.level_after)
    return user["id"], Outcome(rebound.level_before, rebound.level_after, "in_person", document, rebound=True,
                               initial_password=password)


def register(runtime, resident_id: str, family_name: str, given_name: str, password: str,
             phone: str | None = None, ended_sessions=None) -> tuple[str, Outcome | None]:
    """Register a person (L1) keyed on their resident ID number: (subject, None). If an account already
    holds the number, `reclaim` it: (subject, its outcome), or NotReclaimable."""
    try:
        return directory_for(runtime.settings).register_person(resident_id, family_name, given_name, password,
                                                               phone), None
    except DirectoryError as exc:
        if exc.keycloak_status != 409:
            raise
    return reclaim(runtime, resident_id, family_name, given_name, password, phone, ended_sessions=ended_sessions)


def reclaim(runtime, resident_id: str, family_name: str, given_name: str, password: str,
            phone: str | None = None, ended_sessions=None) -> tuple[str, Outcome]:
    """A registration for an ID number that already has an account: re-bind that account to the
    registrant if it is still unverified (L1) and the population registry confirms the registrant's
    name for the number; they get it at L2 with their password. Otherwise NotReclaimable (nothing
    changes). RegistryUnavailable if the registry cannot answer."""
    directory = directory_for(runtime.settings)
    user = directory.find_person(resident_id)
    if user is None or not binding.reclaimable(directory.level_of(user)):
        raise NotReclaimable(resident_id)
    answer = verify_identity(runtime, RegistryCaller(GATEWAY_CALLER, user["id"]), f"{family_name}{given_name}",
                             resident_id)
    if not answer["match"]:
        log.info("registration for the existing account of %s not confirmed by the registry: %s",
                 mask(resident_id), answer["reason"])
        raise NotReclaimable(resident_id)
    rebound = binding.rebind(runtime, user, resident_id, trigger=binding.REGISTRATION_RECLAIM, level=2,
                             by="population-registry", client=GATEWAY_CALLER, reference=answer["call_id"],
                             password=password, temporary=False, family_name=family_name, given_name=given_name,
                             phone=phone, ended_sessions=ended_sessions)
    _record(runtime, user["id"], resident_id, "population_registry", rebound.level_before, rebound.level_after,
            "population-registry", GATEWAY_CALLER, answer["call_id"])
    return user["id"], Outcome(rebound.level_before, rebound.level_after, "population_registry", answer["call_id"],
                               rebound=True)


def _record(runtime, subject, resident_id, method, before, after, verified_by, client, reference) -> None:
    with runtime.db.unit_of_work() as session:
        session.add(IdentityVerification(subject=subject, resident_id_masked=mask(resident_id), method=method,
                                         level_before=before, level_after=after, verified_by=verified_by,
                                         client=client, reference=reference))
