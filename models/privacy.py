"""Erasure requests, legal holds and the clients' payload keys (issue 20).

``erasure_request`` is the register of every erasure asked for (one contact who left, or a
whole client on its instruction, or the retention Schedule): who asked, why, what was done or
why it was refused. ``legal_hold`` is a manager's hold that refuses erasure with its reason.
``client_key`` holds one AES key per client, wrapped by the master key, that encrypts the
client's Temporal payloads; erasing the client deletes the row (crypto-shredding).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class ErasureRequest(SQLModel, table=True):
    __tablename__ = "erasure_request"
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(index=True)
    contact_id: int | None = None  # one contact; None: the whole client
    subject: str = ""  # the contact's pseudonym once erased (never its name)
    requested_by: str = Field(default="", max_length=120)
    reason: str = ""
    requested_at: datetime = _ts(default_factory=utcnow)
    outcome: str = Field(default="", max_length=20)  # done | refused
    detail: str = ""
    done_at: datetime | None = _ts(default=None)


class LegalHold(SQLModel, table=True):
    __tablename__ = "legal_hold"
    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(index=True)
    reason: str = ""
    set_by: str = Field(default="", max_length=120)
    set_at: datetime = _ts(default_factory=utcnow)
    released_by: str = Field(default="", max_length=120)
    released_at: datetime | None = _ts(default=None)


class ClientKey(SQLModel, table=True):
    """``key_id`` is ``client-<id>`` (or ``desk`` for payloads of no client)."""

    __tablename__ = "client_key"
    key_id: str = Field(primary_key=True, max_length=40)
    wrapped: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = _ts(default_factory=utcnow)
