"""The gateway's side of case ownership (supervision/cases.py): refuse a quoted case that is not the caller's."""
from __future__ import annotations

from routes.errors import ApiError
from supervision.cases import CaseNotYours, claim_case

CASE_NOT_FOUND = "No case with this id is yours: quote a case you started, or start a new one with a new case_id."


def claim_case_or_refuse(session, case_id: str, principal, *, applicant_key: str | None = None):
    """`claim_case`, answering 404 `case_not_found` (as if the case did not exist) when it is someone else's."""
    try:
        return claim_case(session, case_id, principal, applicant_key=applicant_key)
    except CaseNotYours:
        raise ApiError(404, "case_not_found", CASE_NOT_FOUND) from None
