"""Account binding (issue 15 finding 4): who an account keyed on a resident ID number belongs to.

An L1 account only claims an ID number: anyone who read it off a document can register it. A
stronger check proves who holds the number, and then the account is *re-bound* to that person:

- in person (L3): a clerk checked the ID document of the person at the counter. The account becomes
  theirs whatever its level, because the counter cannot know who else knows its password: every
  credential goes and a one-time password is handed over at the counter (Keycloak asks for a new
  one at the first sign-in);
- registry-backed (L2) reclaim: someone registers an ID number whose account is still L1 with the
  name the population registry holds for it. The unverified account is re-bound to them, with the
  password they chose, at L2. An account at L2 or more is not reclaimed this way (the registrant
  proves no more than its holder did): 409, and the way out is the counter.

Re-binding keeps the Keycloak user (its id, history and roles) and removes what the previous holder
had: passwords, OTP and passkeys, identity-provider links, every session and offline token (Keycloak
logout, which also sets the user's not-before; the session ids are recorded as ended so the gateway
refuses access tokens already issued), e-mail and phone. It writes an `AccountRebinding` audit row
with the masked ID number.
"""
from __future__ import annotations

import logging
import secrets
import string
from dataclasses import dataclass

from idp.directory import directory_for
from kernel.identifiers import mask
from store.models.identity import AccountRebinding

log = logging.getLogger(__name__)

IN_PERSON = "in_person"
REGISTRATION_RECLAIM = "registration_reclaim"
RECLAIMABLE_BELOW = 2  # accounts below L2 can be reclaimed by a registry-backed registration


@dataclass(frozen=True)
class Rebound:
    subject: str
    level_before: int
    level_after: int
    credentials_removed: int
    sessions_ended: int


def initial_password(length: int = 16) -> str:
    """A random one-time password meeting the realm's policy (upper, lower, digit, length >= 10)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.islower() for c in candidate) and any(c.isupper() for c in candidate)
                and any(c.isdigit() for c in candidate)):
            return candidate


def reclaimable(level: int) -> bool:
    """May a registry-backed registration take an account at this level? (Pure: the rule above.)"""
    return level < RECLAIMABLE_BELOW


def rebind(runtime, user: dict, resident_id: str, *, trigger: str, level: int, by: str, client: str,
           reference: str | None, password: str, temporary: bool, family_name: str | None = None,
           given_name: str | None = None, phone: str | None = None, ended_sessions=None) -> Rebound:
    """Re-bind the Keycloak `user` to the person a `trigger` check proved to hold `resident_id`.

    Credentials first (the previous holder cannot sign in again meanwhile), then the sessions.
    `ended_sessions` (an `idp.sessions.EndedSessions`) learns the ended session ids at once; it is
    always recorded in the database too.
    """
    directory = directory_for(runtime.settings)
    user_id = user["id"]
    before = directory.level_of(user)
    after = max(before, level)
    sids = directory.session_ids(user_id)
    removed = directory.replace_credentials(user_id, password, temporary=temporary)
    directory.rebind_profile(user_id, level=after, family_name=family_name, given_name=given_name, phone=phone,
                             required_actions=["UPDATE_PASSWORD"] if temporary else [])
    directory.end_all_sessions(user_id)
    sids |= directory.session_ids(user_id)  # any session opened meanwhile (normally none)
    _record_ended(runtime, sids, user_id, ended_sessions)
    with runtime.db.unit_of_work() as session:
        session.add(AccountRebinding(subject=user_id, resident_id_masked=mask(resident_id), trigger=trigger,
                                     level_before=before, level_after=after, by=by, client=client,
                                     reference=reference, credentials_removed=removed, sessions_ended=len(sids)))
    log.warning("account of %s re-bound (%s) by %s: L%s -> L%s, %s credentials removed, %s sessions ended",
                mask(resident_id), trigger, by, before, after, removed, len(sids))
    return Rebound(user_id, before, after, removed, len(sids))


def _record_ended(runtime, sids: set[str], subject: str, ended_sessions) -> None:
    if ended_sessions is None:
        from idp.sessions import EndedSessions

        ended_sessions = EndedSessions(runtime.db)
    for sid in sorted(sids):
        ended_sessions.end(sid, subject, None)
