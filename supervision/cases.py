"""Who owns a case (issue 15, finding 6): the applicant is whoever owns the case, not whoever quotes its id.

A case is recorded (`cases`) by the first authoritative mention of its id:

- a person (citizen, enterprise member) who quotes a new case id in a service call, a payment
  notice or a delivery leg starts that case and owns it (their subject, and their resident ID
  number, or the USCC they act for when that is the payer/applicant they name);
- staff (role `clerk`) and department service accounts may quote any case id (they handle cases
  for applicants). When they start a case naming an applicant (a notice's payer, a leg's
  applicant), the applicant owns it; a case they start naming no one has no owner until the first
  staff action that names one.

A person quoting a case they do not own is refused (`CaseNotYours`, answered 404 as if it did not
exist); nothing is recorded for them. Case ids first quoted before this table existed have no
row: they have no applicant (supervisors still see them).
"""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from store.models.guard import Case

STAFF_ROLES = frozenset({"clerk"})


class CaseNotYours(Exception):
    """The caller quoted a case that someone else owns."""


def acts_for_others(principal) -> bool:
    """Staff and department service accounts quote any case (they handle cases for applicants)."""
    return bool(principal.roles & STAFF_ROLES) or principal.is_service_account


def own_keys(principal) -> list[str]:
    return [k for k in (principal.resident_id, principal.enterprise_uscc) if k]


def owns(case: Case | None, principal) -> bool:
    """True if `principal` is the applicant of `case` (by subject, or by ID number / USCC)."""
    if case is None:
        return False
    if case.owner_subject is not None and case.owner_subject == principal.subject:
        return True
    return case.owner_key is not None and case.owner_key in own_keys(principal)


def claim_case(session, case_id: str, principal, *, applicant_key: str | None = None) -> Case:
    """Record case `case_id` at its first mention, or check that the caller may quote it.

    `applicant_key` is the applicant the caller names (a notice's payer, a leg's applicant), if any.
    Raises CaseNotYours for a person quoting a case they do not own.
    """
    for _attempt in (1, 2):
        case = session.get(Case, case_id, with_for_update=True)
        if case is None:
            case = _new_case(case_id, principal, applicant_key)
            try:
                with session.begin_nested():
                    session.add(case)
                return case
            except IntegrityError:  # started at this moment by someone else: check theirs
                continue
        if acts_for_others(principal):
            if case.owner_subject is None and case.owner_key is None and applicant_key:
                case.owner_key = applicant_key
            return case
        if owns(case, principal):
            return case
        raise CaseNotYours(case_id)
    raise CaseNotYours(case_id)


def _new_case(case_id: str, principal, applicant_key: str | None) -> Case:
    creator = principal.caller if principal.is_service_account else principal.subject
    if acts_for_others(principal):
        return Case(case_id=case_id, owner_subject=None, owner_key=applicant_key, created_by=creator)
    keys = own_keys(principal)
    key = applicant_key if applicant_key in keys else (keys[0] if keys else None)
    return Case(case_id=case_id, owner_subject=principal.subject, owner_key=key, created_by=creator)
