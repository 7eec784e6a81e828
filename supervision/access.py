"""Who may see a case (R13 for the applicant, R10 for supervisors): `may_see_case`, the one rule."""
from __future__ import annotations

import json

from sqlalchemy import or_, select

from config.logging import mask_identifiers
from store.models.bus import MessageLogRecord
from store.models.logistics import Shipment
from store.models.payment import PaymentNotice

SUPERVISOR_ROLE = "supervisor"


def may_see_case(session, case_id: str, principal) -> bool:
    """True if `principal` may see case `case_id`'s timeline, complaints and rating.

    - a supervisor (realm role `supervisor`) sees every case;
    - the applicant sees their own case (`is_applicant`).
    Anyone else does not; callers answer 404, as if the case did not exist.
    """
    return SUPERVISOR_ROLE in principal.roles or is_applicant(session, case_id, principal)


def is_applicant(session, case_id: str, principal) -> bool:
    """The applicant of a case is whoever acted in it or pays or receives for it:

    - the `user` (Keycloak subject) of any envelope of the case in the message log, i.e. the
      person (or service account) who called a department, created a notice or a leg for it;
    - the payer of one of its payment notices: the person's resident ID number, or the USCC of the
      enterprise they act for;
    - the applicant of its delivery (shipment): the same keys, or the subject who created it.
    Only the applicant rates the case and files complaints about it.
    """
    subject = principal.subject
    keys = [k for k in (principal.resident_id, principal.enterprise_uscc) if k]
    if keys and session.execute(select(PaymentNotice.id).where(PaymentNotice.case_id == case_id,
                                                              PaymentNotice.payer_key.in_(keys)).limit(1)).first():
        return True
    shipment_match = [Shipment.applicant_subject == subject] + ([Shipment.applicant_key.in_(keys)] if keys else [])
    if session.execute(select(Shipment.id).where(Shipment.case_id == case_id, or_(*shipment_match)).limit(1)).first():
        return True
    # The readable column is masked; the body says who exactly (a subject is not masked, but be sure).
    bodies = session.execute(select(MessageLogRecord.body).where(MessageLogRecord.case_id == case_id,
                                                                MessageLogRecord.user_masked == mask_identifiers(subject))
                             .limit(20)).scalars()
    return any(_user_of(body) == subject for body in bodies)


def _user_of(body: str) -> str | None:
    try:
        return json.loads(body).get("user")
    except (ValueError, AttributeError):
        return None
