"""Real-name upgrades (实名认证, R4): L1 -> L2 by the population registry, -> L3 in person at a counter.

Each raise is written to Keycloak (the `assurance_level` attribute the tokens carry) and recorded
in `identity_verifications` with who vouched for it. Tokens issued before still show the old level:
the channel gets a new token (refresh) to step up.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from idp.directory import directory_for
from idp.identifiers import mask
from idp.verification import verify_identity
from store.models.identity import IdentityVerification

log = logging.getLogger(__name__)


class NotVerified(Exception):
    """The registry did not confirm the person; `reason` is the registry's (e.g. `name_mismatch`)."""

    def __init__(self, reason: str, call_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.call_id = call_id


@dataclass(frozen=True)
class Outcome:
    level_before: int
    level_after: int
    method: str
    reference: str | None

    @property
    def raised(self) -> bool:
        return self.level_after > self.level_before


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


def verify_in_person(runtime, clerk, resident_id: str, document: str) -> tuple[str, Outcome]:
    """A clerk has checked the person's document at the counter: raise to L3. Returns (subject, outcome)."""
    directory = directory_for(runtime.settings)
    user = directory.find_person(resident_id)
    if user is None:
        raise LookupError(resident_id)
    before, after = directory.raise_level(user["id"], 3)
    _record(runtime, user["id"], resident_id, "in_person", before, after, clerk.subject, clerk.caller, document)
    log.info("%s verified in person by clerk %s: L%s -> L%s", mask(resident_id), clerk.username, before, after)
    return user["id"], Outcome(before, after, "in_person", document)


def _record(runtime, subject, resident_id, method, before, after, verified_by, client, reference) -> None:
    with runtime.db.unit_of_work() as session:
        session.add(IdentityVerification(subject=subject, resident_id_masked=mask(resident_id), method=method,
                                         level_before=before, level_after=after, verified_by=verified_by,
                                         client=client, reference=reference))
