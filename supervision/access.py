"""Who may see a case (R13 for the applicant, R10 for supervisors): `may_see_case`, the one rule.

`visible_case` and `applicants_case` apply it for the API: a case id that is malformed or not the
caller's to see is refused as if the case did not exist (404 `not_found`); a case the caller sees
but does not own is refused 403 `not_applicant` where only its applicant may act.
"""
from __future__ import annotations

import re

from kernel.errors import CodedError
from store.models.guard import Case
from supervision.cases import owns

SUPERVISOR_ROLE = "supervisor"
CASE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class CaseHidden(CodedError):
    """No such case, as far as the caller may know (404)."""

    code = "not_found"
    status = 404

    def __init__(self):
        super().__init__("No such case.")


class NotApplicant(CodedError):
    """The caller sees the case but is not its applicant (403)."""

    code = "not_applicant"
    status = 403


def visible_case(session, case_id: str, principal) -> None:
    """Return if `principal` may see case `case_id`; CaseHidden otherwise (also for a malformed id)."""
    if not CASE_ID.fullmatch(case_id) or not may_see_case(session, case_id, principal):
        raise CaseHidden()


def applicants_case(session, case_id: str, principal, refusal: str) -> None:
    """Return if `principal` is the applicant of case `case_id`; NotApplicant(`refusal`) if they only
    see it, CaseHidden otherwise."""
    if not CASE_ID.fullmatch(case_id):
        raise CaseHidden()
    if not is_applicant(session, case_id, principal):
        if may_see_case(session, case_id, principal):
            raise NotApplicant(refusal)
        raise CaseHidden()


def may_see_case(session, case_id: str, principal) -> bool:
    """True if `principal` may see case `case_id`'s timeline, complaints and rating.

    - a supervisor (realm role `supervisor`) sees every case;
    - the applicant sees their own case (`is_applicant`).
    Anyone else does not; callers answer 404, as if the case did not exist.
    """
    return SUPERVISOR_ROLE in principal.roles or is_applicant(session, case_id, principal)


def is_applicant(session, case_id: str, principal) -> bool:
    """The applicant of a case is whoever owns it (supervision/cases.py): the person who started it,
    or the applicant staff named when they started it. Quoting a case's id in a call, a notice or a
    leg makes no one its applicant. Only the applicant rates the case and files complaints about it.
    """
    return owns(session.get(Case, case_id), principal)
