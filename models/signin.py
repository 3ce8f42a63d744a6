"""Sign-in lock-outs: when a sign-in limit was reached, for whom, and until when (issue 11).

Kept apart from ``models.auth`` (one job: the audit of the limit); the attempts themselves
stay in ``sign_in_attempt``. A row is written once when a limit trips and changed only when an
administrator lifts it (``lifted_at``, ``lifted_by``, ``until`` brought to that moment), so
the table is the audit trail the administrators' sign-in page shows, and the back-off reads
how many lock-outs the same subject had in the last day.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class SignInLockout(SQLModel, table=True):
    __tablename__ = "sign_in_lockout"
    __table_args__ = (Index("ix_sign_in_lockout_subject", "scope", "subject", "until"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow, index=True)
    until: datetime = Field(sa_type=UTCDateTime)
    # pair (one name from one address) | account (one name, any address) | address (any name)
    scope: str = Field(max_length=10)
    subject: str = Field(max_length=200)  # "name|address", the name, or the address
    username: str = Field(default="", max_length=120)  # the attempt that tripped the limit
    ip: str = Field(default="", max_length=64)
    failures: int = 0  # failures counted when it tripped
    seconds: int = 0  # its length (the back-off doubles it for the same subject)
    # an administrator ended it early (issue 21): ``until`` is then the moment it was lifted
    lifted_at: datetime | None = Field(sa_type=UTCDateTime, default=None)
    lifted_by: str = Field(default="", max_length=120)
