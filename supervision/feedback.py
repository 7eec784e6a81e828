"""Satisfaction (满意度评价) and complaints (投诉) about a case.

- The applicant rates a finished case once: 1 to 5 and an optional comment.
- The applicant files complaints about their case; supervisors see them all, assign them, reply
  and close them; the applicant sees the reply. A complaint moves
  filed -> assigned -> replied -> closed (assigning is optional, a reply is needed before closing).
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from kernel.errors import Refused
from store.models.supervision import CaseSatisfaction, Complaint
from supervision.rollups import credit_rating
from supervision.timeline import mask_actor

# action -> (the statuses it may start from, the status it leads to)
TRANSITIONS = {
    "assign": ({"filed", "assigned"}, "assigned"),
    "reply": ({"filed", "assigned", "replied"}, "replied"),
    "close": ({"replied"}, "closed"),
}
STATUSES = ("filed", "assigned", "replied", "closed")


class FeedbackError(Refused):
    """A refused feedback action: an HTTP status, a code and a sentence for the caller."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, code, message)


def next_status(current: str, action: str) -> str:
    """The status after `action`, or FeedbackError(409) if the complaint's status does not allow it."""
    allowed, target = TRANSITIONS[action]
    if current not in allowed:
        hint = " Reply first." if action == "close" else ""
        raise FeedbackError(409, "invalid_transition", f"A complaint that is {current} does not allow {action}.{hint}")
    return target


def _now() -> datetime:
    return datetime.now(timezone.utc)


def rate(session, case_id: str, subject: str, rating: int, comment: str | None, *, finished: bool) -> CaseSatisfaction:
    """Record the applicant's rating (the caller has checked that `subject` is the applicant)."""
    if not finished:
        raise FeedbackError(409, "case_not_finished", "Only a finished case can be rated.")
    if not 1 <= rating <= 5:
        raise FeedbackError(422, "invalid_rating", "The rating is a whole number from 1 to 5.")
    if session.get(CaseSatisfaction, case_id) is not None:
        raise FeedbackError(409, "already_rated", "This case has been rated already.")
    row = CaseSatisfaction(case_id=case_id, rating=rating, comment=comment or None, subject=subject, rated_at=_now())
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise FeedbackError(409, "already_rated", "This case has been rated already.") from None
    credit_rating(session, case_id)  # counted in the satisfaction rollups of the groups it has steps in
    return row


def file_complaint(session, case_id: str, subject: str, text: str) -> Complaint:
    now = _now()
    complaint = Complaint(id=str(uuid.uuid4()), case_id=case_id, subject=subject, filer_masked=mask_actor(subject),
                          text=text, status="filed", created_at=now, updated_at=now,
                          history=[{"at": now.isoformat(), "action": "file", "by": mask_actor(subject), "status": "filed"}])
    session.add(complaint)
    session.flush()
    return complaint


def act(session, complaint_id: str, action: str, actor: str, *, assignee: str | None = None,
        reply: str | None = None) -> Complaint:
    """A supervisor's action on a complaint (assign, reply, close), under a row lock."""
    complaint = session.execute(select(Complaint).where(Complaint.id == complaint_id).with_for_update()).scalar_one_or_none()
    if complaint is None:
        raise FeedbackError(404, "not_found", "No such complaint.")
    target = next_status(complaint.status, action)
    now = _now()
    if action == "assign":
        if not assignee:
            raise FeedbackError(422, "assignee_required", "Say whom to assign the complaint to.")
        complaint.assignee = assignee
    elif action == "reply":
        if not reply:
            raise FeedbackError(422, "reply_required", "Write the reply the applicant will see.")
        complaint.reply, complaint.replied_by, complaint.replied_at = reply, actor, now
    else:
        complaint.closed_at = now
    complaint.status = target
    complaint.updated_at = now
    complaint.history = [*complaint.history, {"at": now.isoformat(), "action": action, "by": actor, "status": target}]
    return complaint


def complaints(session, *, subject: str | None = None, case_id: str | None = None, status: str | None = None,
               limit: int = 100, offset: int = 0) -> list[Complaint]:
    query = select(Complaint).order_by(Complaint.created_at.desc())
    if subject is not None:
        query = query.where(Complaint.subject == subject)
    if case_id is not None:
        query = query.where(Complaint.case_id == case_id)
    if status is not None:
        query = query.where(Complaint.status == status)
    return list(session.execute(query.limit(limit).offset(offset)).scalars())


def complaint_counts(session, *, since: datetime, until: datetime) -> dict[str, int]:
    """Complaints filed in [since, until), by status now: a range of `ix_supervision_complaints_created_at_status`."""
    rows = session.execute(select(Complaint.status, func.count())
                           .where(Complaint.created_at >= since, Complaint.created_at < until)
                           .group_by(Complaint.status)).all()
    return {status: 0 for status in STATUSES} | {status: count for status, count in rows}
