"""The contract of each client and its lifecycle: checklist, onboarding, notice, personal data.

``contract.status`` is a projection written by the contract workflows (onboarding, notice):
the workflow is the truth, the row is what the intake and the console read. A client with no
contract row is treated as *active* (clients recorded before contracts existed keep being
monitored). ``contract_event`` is the contract's append-only timeline; ``data_access`` is the
log of who viewed which client's personal data (data-processor duty).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class Contract(SQLModel, table=True):
    """One per client. ``users``/``servers`` are the sizes signed for (onboarding length);
    ``contracted_days`` the on-site length written in the contract from 50 users."""

    id: int | None = Field(default=None, primary_key=True)
    client_id: int = Field(foreign_key="client.id", unique=True)
    start_date: date
    status: str = Field(default="onboarding", max_length=20, index=True)
    options: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    policies: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    users: int = 0
    servers: int = 0
    contracted_days: int | None = None
    onboarding_days: int | None = None  # decided (rule or planner)
    onboarding_rule: str = ""
    onboarding_decided_by: str = ""
    onboarding_visit_id: int | None = None
    onboarding_workflow_id: str = Field(default="", max_length=200)
    notice_workflow_id: str = Field(default="", max_length=200)
    technical_document: str = ""  # what was created, or why not
    activated_at: datetime | None = _ts(default=None)
    notice_received_on: date | None = None
    notice_effective_at: datetime | None = _ts(default=None)
    terminated_at: datetime | None = _ts(default=None)
    termination_reason: str = ""
    erased_at: datetime | None = _ts(default=None)
    created_by: str = ""
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class Prerequisite(SQLModel, table=True):
    """One line of the 3.1 checklist for one contract: status, evidence and who checked."""

    __table_args__ = (UniqueConstraint("contract_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    client_id: int = Field(foreign_key="client.id", index=True)
    code: str = Field(max_length=60)
    label: str = ""
    mandatory: bool = True
    status: str = Field(default="open", max_length=20)  # open|met|waived|not_applicable
    value: str = ""  # the fixed IP for ``fixed_ip``
    evidence: str = ""
    checked_by: str = ""
    checked_at: datetime | None = _ts(default=None)
    waiver_reason: str = ""
    waived_by: str = ""
    waived_at: datetime | None = _ts(default=None)


class ContractEvent(SQLModel, table=True):
    """The contract's timeline, append-only. ``key`` makes a retried write count once."""

    __tablename__ = "contract_event"
    __table_args__ = (Index("ix_contract_event_contract", "contract_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=300)
    contract_id: int = Field(foreign_key="contract.id")
    client_id: int = Field(foreign_key="client.id", index=True)
    at: datetime = _ts()
    action: str = Field(max_length=60)
    actor: str = ""
    from_status: str | None = None
    to_status: str | None = None
    reason: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))


class SensorDeployment(SQLModel, table=True):
    """One monitored element of one server during onboarding (3.2.1: agents installed)."""

    __tablename__ = "sensor_deployment"
    __table_args__ = (UniqueConstraint("contract_id", "server_id", "element"),)
    id: int | None = Field(default=None, primary_key=True)
    contract_id: int = Field(foreign_key="contract.id", index=True)
    client_id: int = Field(foreign_key="client.id")
    server_id: int = Field(foreign_key="server.id")
    element: str = Field(max_length=40)  # hardware | backup | antivirus | agent
    status: str = Field(default="planned", max_length=20)  # planned | installed | verified
    note: str = ""
    by: str = ""
    at: datetime | None = _ts(default=None)


class DataAccess(SQLModel, table=True):
    """Who viewed which client's personal data (a case, a raw message, contacts, an export)."""

    __tablename__ = "data_access"
    __table_args__ = (Index("ix_data_access_client", "client_id", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _ts(default_factory=utcnow)
    username: str = Field(max_length=120)
    role: str = Field(default="", max_length=20)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    subject: str = Field(max_length=30)  # case | raw_message | contacts | export | erasure
    subject_id: int | None = None
    path: str = Field(default="", max_length=300)
