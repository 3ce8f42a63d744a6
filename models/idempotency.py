"""The first answer to each idempotent action, kept so that a repeat gets it again (issue 21,
finding 10).

One row per (caller, key): claimed ``pending`` before the action runs, with a lease, and
``done`` with the response once it has one. A repeat of a ``done`` key is answered from the
row; a repeat of a ``pending`` key waits for it, and takes it over when the lease has run out
(its process died between the action and the answer: the action itself is then asked again
with the same key, which Temporal deduplicates, see ``console.idempotency``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


class IdempotentRequest(SQLModel, table=True):
    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("actor", "key", name="uq_idempotent_request_key"),)
    id: int | None = Field(default=None, primary_key=True)
    actor: str = Field(max_length=140)  # "user:<id>" or "bootstrap": keys are per caller
    key: str = Field(max_length=80)
    method: str = Field(max_length=8)
    path: str = Field(max_length=400)
    fingerprint: str = Field(max_length=64)  # SHA-256 of method, path, query and body
    state: str = Field(default="pending", max_length=8)  # pending | done
    lease_until: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(sa_type=UTCDateTime, default_factory=utcnow, index=True)
    status: int | None = None
    content_type: str = Field(default="", max_length=200)
    location: str = Field(default="", max_length=2000)
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
