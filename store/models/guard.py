"""Tables of the gateway's guards (issue 15): who owns a case, and the rate-limit token buckets.

Times are aware UTC.
"""
from datetime import datetime

from sqlalchemy import Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from kernel.clock import utcnow
from store.base import Base, UtcDateTime


class Case(Base):
    """A case (办件) and its owner, recorded by the first authoritative mention of its id.

    A person who starts a case owns it (subject and, for a person, their resident ID number or
    their enterprise's USCC); a clerk or a department service account who starts one for an
    applicant names the applicant (`owner_key`). A case started by staff without naming anyone has
    no owner: no person may join it (see supervision/cases.py)."""

    __tablename__ = "cases"

    case_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner_subject: Mapped[str | None] = mapped_column(String(200))  # the Keycloak subject of the person
    owner_key: Mapped[str | None] = mapped_column(String(18))  # resident ID number or USCC (the applicant)
    created_by: Mapped[str] = mapped_column(String(200))  # the subject or client that started it
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class RateLimitBucket(Base):
    """One token bucket of a rate limit (store/ratelimit.py); `bucket` is a hash, never the key itself."""

    __tablename__ = "rate_limit_buckets"

    bucket: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_rate_limit_buckets_updated_at", "updated_at"),)
