"""Site incidents' children: the alerts a site outage explains, kept under their parent.

A site incident is an ordinary case (family ``site``, see ``records.incidents``); while it is
open, an alert of one of the site's servers opens no case of its own: it becomes (or feeds)
one child row here, keyed by its problem fingerprint, so the technician sees what the outage
hides and the link's return can decide, child by child, what happens next.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class IncidentChild(SQLModel, table=True):
    """One problem of a server behind a site in outage.

    ``state``: ``failing`` (its last news is a problem or an absence), ``recovered`` (it
    recovered: it closes with the incident), ``promoted`` (still failing when the link came
    back: it became a case of its own, ``case_workflow_id``, opened at ``released_at``).
    """

    __tablename__ = "incident_child"
    __table_args__ = (UniqueConstraint("incident_case_id", "fingerprint"),)
    id: int | None = Field(default=None, primary_key=True)
    incident_case_id: int = Field(foreign_key="case.id", index=True)
    fingerprint: str = Field(max_length=600, index=True)
    client_id: int | None = Field(default=None, foreign_key="client.id")
    server_id: int | None = Field(default=None, foreign_key="server.id")
    host: str | None = None
    family: str = ""
    check: str = ""
    target: str | None = None
    title: str = ""
    origin: str = Field(default="event", max_length=20)  # event | absence
    state: str = Field(default="failing", max_length=20)
    events: int = 0  # problem and recovery messages attached
    last_event_id: int | None = Field(default=None, foreign_key="alert_event.id")
    first_at: datetime = _ts(default_factory=utcnow)
    last_at: datetime = _ts(default_factory=utcnow)
    released_at: datetime | None = _ts(default=None)  # when the link came back
    released_by_event_id: int | None = Field(default=None, foreign_key="alert_event.id")
    case_workflow_id: str | None = Field(default=None, max_length=200)


class InhibitionRule(SQLModel, table=True):
    """An administrator's rule: while an open case matches the source matchers, alerts that
    match the target matchers in the same scope (client, or site) open no case of their own;
    each is recorded, muted (triage ``inhibited``) and shown with the rule and its source.

    Matchers are a family and a check, each empty for "any". The rule ends at ``expires_at``
    (always given: a forgotten rule must not mute for ever) or when revoked; every change is
    a line of ``inhibition_audit``.
    """

    __tablename__ = "inhibition_rule"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    client_id: int | None = Field(default=None, foreign_key="client.id")  # None: every client
    source_family: str = Field(default="", max_length=60)
    source_check: str = Field(default="", max_length=60)
    target_family: str = Field(default="", max_length=60)
    target_check: str = Field(default="", max_length=60)
    equal: str = Field(default="client", max_length=20)  # client | site
    expires_at: datetime = _ts()
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = _ts(default_factory=utcnow)
    revoked_at: datetime | None = _ts(default=None)
    revoked_by: str = Field(default="", max_length=100)


class InhibitionAudit(SQLModel, table=True):
    """Who created, changed or revoked an inhibition rule, when, and what it was before."""

    __tablename__ = "inhibition_audit"
    id: int | None = Field(default=None, primary_key=True)
    rule_id: int = Field(foreign_key="inhibition_rule.id", index=True)
    at: datetime = _ts(default_factory=utcnow)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=20)  # create | edit | revoke
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
