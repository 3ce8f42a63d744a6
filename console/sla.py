"""SLA figures of a case, recomputed from its ledger every time they are shown.

The rules live in ``domain.sla`` (figures, targets, explanations) and ``domain.calendar``
(business time); this module only chooses the policy in effect and feeds them the ledger.
The policy is the newest ``Policy`` row an administrator saved, else the environment's
settings, so the console and a fresh desk agree out of the box.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlmodel import Session, col, select

from base.settings import Settings, same_names
from domain.calendar import BusinessCalendar, BusinessHours
from domain.sla import CaseSla, LedgerEntry, SlaTargets, compute
from models.auth import Policy
from models.tables import AuditEvent

# Version of the rules in ``domain.sla``: a change of rule recomputes every cached figure
# (2: a major case's first contact is a person reached by phone; 3: a case opened from a
# visit's "ko" item has no triage nor first-contact figure, ``console.slacache.ALERT_ONLY``).
SLA_RULES = 3


@dataclass(frozen=True)
class EffectivePolicy:
    """The rules in effect: from the newest saved version, or from the environment."""

    version: str  # "env" or the saved version number
    business_start: str
    business_end: str
    l1_minutes: int
    auto_close_hours: int
    timezone: str

    @property
    def cache_key(self) -> str:
        """Everything a cached figure depends on: a change of any of it recomputes them all."""
        return (
            f"{self.version}|{self.timezone}|{self.business_start}-{self.business_end}"
            f"|{self.l1_minutes}|rules{SLA_RULES}"
        )

    @property
    def calendar(self) -> BusinessCalendar:
        return _calendar(self.timezone, self.business_start, self.business_end)

    @property
    def targets(self) -> SlaTargets:
        return SlaTargets(l1=timedelta(minutes=self.l1_minutes))


@lru_cache(maxsize=16)
def _calendar(tz: str, start: str, end: str) -> BusinessCalendar:
    """Calendars are cached: they memoise holiday years, which is most of their cost."""
    return BusinessCalendar(
        BusinessHours(tz=tz, start=time.fromisoformat(start), end=time.fromisoformat(end))
    )


def env_policy(settings: Settings) -> EffectivePolicy:
    return EffectivePolicy(
        version="env",
        **same_names(settings, "business_start", "business_end", "l1_minutes",
            "auto_close_hours", "timezone"),
    )


def effective_policy(s: Session, settings: Settings) -> EffectivePolicy:
    row = s.exec(select(Policy).order_by(col(Policy.version).desc()).limit(1)).first()
    if row is None:
        return env_policy(settings)
    return EffectivePolicy(
        version=str(row.version),
        business_start=row.business_start,
        business_end=row.business_end,
        l1_minutes=row.l1_minutes,
        auto_close_hours=row.auto_close_hours,
        timezone=settings.timezone,
    )


def team_calendar(settings: Settings) -> BusinessCalendar:
    """The environment's calendar (kept for callers that have no session at hand)."""
    return env_policy(settings).calendar


def to_entries(rows: list[AuditEvent]) -> list[LedgerEntry]:
    return [
        LedgerEntry(
            seq=r.seq,
            at=r.at,
            action=r.action,
            from_state=r.from_state,
            to_state=r.to_state,
            actor=r.actor,
            reason=r.reason,
            data=dict(r.data or {}),
            policy_version=r.policy_version,
        )
        for r in rows
    ]


def case_sla(
    rows: list[AuditEvent], policy: EffectivePolicy, now: datetime | None = None
) -> CaseSla | None:
    """The figures of one case, or None when its ledger has nothing to measure yet."""
    if not rows:
        return None
    try:
        return compute(to_entries(rows), policy.calendar, policy.targets, now=now)
    except ValueError:
        return None  # no opening entry (yet): nothing to measure


def sla_for(
    rows: list[AuditEvent], policy: EffectivePolicy, now: datetime | None = None
) -> dict[str, Any] | None:
    """JSON form of :func:`case_sla` (the API's ``sla`` field)."""
    result = case_sla(rows, policy, now)
    return result.to_dict() if result is not None else None
