"""Tables of the identity area: real-name verifications and account re-bindings (audit), CIBA requests,
ended sessions."""
from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from kernel.clock import utcnow
from store.base import Base, UtcDateTime


class IdentityVerification(Base):
    """One raise of a person's assurance level (R4): who, to what, how and on whose word.

    Only the masked resident ID number is kept here; the person is the Keycloak subject.
    """

    __tablename__ = "identity_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(64))
    resident_id_masked: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(32))  # population_registry | in_person
    level_before: Mapped[int] = mapped_column(Integer)
    level_after: Mapped[int] = mapped_column(Integer)
    verified_by: Mapped[str] = mapped_column(String(200))  # the clerk's subject, or the registry's service
    client: Mapped[str] = mapped_column(String(200))  # the channel the request came through
    reference: Mapped[str | None] = mapped_column(String(200))  # bus call id, or the document checked
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_identity_verifications_subject", "subject"),)


class CibaRequest(Base):
    """A hotline's CIBA authentication request, as Keycloak's HTTP authentication channel sent it.

    `callback_token` is the bearer token Keycloak gave us to answer it; it lives only until the
    request is decided or expires.
    """

    __tablename__ = "ciba_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64))  # the Keycloak user asked for consent
    client_id: Mapped[str] = mapped_column(String(200))  # the client that asked (hotline)
    scope: Mapped[str] = mapped_column(String(500))
    binding_message: Mapped[str | None] = mapped_column(String(200))
    callback_token: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | denied | expired
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_ciba_requests_subject_status", "subject", "status"),)


class EndedSession(Base):
    """A Keycloak session ended by back-channel logout: tokens of this `sid` are refused until they expire."""

    __tablename__ = "ended_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str | None] = mapped_column(String(64))
    client_id: Mapped[str | None] = mapped_column(String(200))
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    forget_after: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_ended_sessions_ended_at", "ended_at"),)


class AccountRebinding(Base):
    """An account re-bound to the person a stronger check proved to hold its ID number (issue 15 finding 4).

    Written when an in-person check (L3) or a registry-backed registration reclaims an account: the
    previous holder's credentials, sessions and contact points were removed. The ID number is kept
    masked only; no password is ever stored here.
    """

    __tablename__ = "account_rebindings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(64))  # the Keycloak user (kept: its history stays)
    resident_id_masked: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(32))  # in_person | registration_reclaim
    level_before: Mapped[int] = mapped_column(Integer)
    level_after: Mapped[int] = mapped_column(Integer)
    by: Mapped[str] = mapped_column(String(200))  # the clerk's subject, or the registry's service
    client: Mapped[str] = mapped_column(String(200))  # the channel (or govlink itself) the request came through
    reference: Mapped[str | None] = mapped_column(String(200))  # document checked, or the bus call id
    credentials_removed: Mapped[int] = mapped_column(Integer)
    sessions_ended: Mapped[int] = mapped_column(Integer)
    rebound_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (Index("ix_account_rebindings_subject", "subject"),)


class ConsoleSession(Base):
    """A staff member's sign-in to the consoles (routes/console_auth.py), kept server-side.

    The browser's cookie carries only `id` (random, signed by Flask); the tokens stay here,
    encrypted with a key derived from the gateway secret. The row goes at logout and when Keycloak's
    back-channel logout names its `sid`, so a copied cookie stops working at once.
    """

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sid: Mapped[str | None] = mapped_column(String(64))  # the Keycloak session (`sid` claim)
    subject: Mapped[str] = mapped_column(String(64))
    tokens: Mapped[str] = mapped_column(Text)  # Fernet token of {"access_token", "refresh_token", "id_token"}
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_console_sessions_sid", "sid"), Index("ix_console_sessions_expires_at", "expires_at"))
