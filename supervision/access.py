"""Who may see a case (R13 for the applicant, R10 for supervisors): `may_see_case`, the one rule."""
from __future__ import annotations

from store.models.guard import Case
from supervision.cases import owns

SUPERVISOR_ROLE = "supervisor"


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
