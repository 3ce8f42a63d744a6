"""The anomalies remote monitoring saw since the previous visit (3.2.4), for the report.

The window runs from the end of the client's previous visit (its report, or failing that the
end of its day) to the start of this one; with no previous visit, from the start of the
contract year. It lists the client's cases opened in the window with their SLA outcome
(recomputed from each case's ledger by ``domain.sla``), the Demandes registered in it, and
the days the backup audit found a job failed or missing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from domain.calendar import default_calendar
from domain.sla import LedgerEntry, SlaTargets, compute
from models.expectations import BackupDay
from models.tables import AuditEvent, BackupJob, Case, Demande, Server
from models.visits import Visit

BAD_BACKUP = ("failed", "not_received", "incomplete", "cancelled")


@dataclass(frozen=True)
class CaseLine:
    case_id: int
    ref: str
    opened_at: dt.datetime
    title: str
    criticality: str
    state: str
    sla: str  # "dans les délais" | "hors délai : <figures>" | "non mesurable"


@dataclass(frozen=True)
class DemandeLine:
    ref: str
    case_ref: str
    opened_at: dt.datetime
    summary: str
    level: int


@dataclass(frozen=True)
class BackupLine:
    day: dt.date
    server: str
    job: str
    status: str


@dataclass(frozen=True)
class Anomalies:
    start: dt.datetime
    end: dt.datetime
    cases: list[CaseLine]
    demandes: list[DemandeLine]
    backups: list[BackupLine]

    @property
    def count(self) -> int:
        return len(self.cases) + len(self.backups)


def window(s: Session, visit: Visit, tz: str) -> tuple[dt.datetime, dt.datetime]:
    zone = ZoneInfo(tz)
    if visit.started_at is not None:
        end = visit.started_at
    elif visit.date is not None:
        end = dt.datetime.combine(visit.date, dt.time(0, 0), zone)
    else:
        end = dt.datetime.combine(visit.due_end, dt.time(0, 0), zone)
    previous = s.exec(
        select(Visit).where(
            Visit.client_id == visit.client_id, Visit.id != visit.id,
            col(Visit.finished_at).is_not(None), col(Visit.finished_at) <= end,
        ).order_by(col(Visit.finished_at).desc())
    ).first()
    if previous is not None and previous.finished_at is not None:
        start = previous.finished_at
    else:
        start = dt.datetime.combine(dt.date(visit.contract_year, 1, 1), dt.time(0, 0), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def sla_outcome(rows: list[AuditEvent]) -> str:
    entries = [LedgerEntry(seq=r.seq, at=r.at, action=r.action, from_state=r.from_state,
                           to_state=r.to_state, actor=r.actor, reason=r.reason,
                           data=dict(r.data or {}), policy_version=r.policy_version)
               for r in rows]
    try:
        figures = compute(entries, default_calendar(), SlaTargets())
    except ValueError:
        return "non mesurable"
    if figures.breaches:
        labels = {f.name: f.label for f in figures.figures()}
        return "hors délai : " + ", ".join(labels.get(b, b) for b in figures.breaches)
    return "dans les délais"


def anomalies_for(s: Session, visit: Visit, tz: str = "Europe/Paris") -> Anomalies:
    start, end = window(s, visit, tz)
    cases = s.exec(
        select(Case).where(Case.client_id == visit.client_id, col(Case.opened_at) >= start,
                           col(Case.opened_at) < end).order_by(col(Case.opened_at))
    ).all()
    case_lines = []
    for c in cases:
        rows = list(s.exec(select(AuditEvent).where(AuditEvent.case_id == c.id)
                           .order_by(col(AuditEvent.seq))).all())
        case_lines.append(CaseLine(c.id or 0, c.ref, c.opened_at, c.title,
                                   c.criticality or "", c.state, sla_outcome(rows)))
    demandes = s.exec(
        select(Demande, Case).join(Case, col(Case.id) == Demande.case_id).where(
            Case.client_id == visit.client_id, col(Demande.opened_at) >= start,
            col(Demande.opened_at) < end).order_by(col(Demande.opened_at))
    ).all()
    demande_lines = [DemandeLine(d.ref, c.ref, d.opened_at, d.summary, d.level)
                     for d, c in demandes]
    zone = ZoneInfo(tz)
    days = s.exec(
        select(BackupDay, BackupJob, Server)
        .join(BackupJob, col(BackupJob.id) == BackupDay.job_id)
        .join(Server, col(Server.id) == BackupDay.server_id)
        .where(BackupDay.client_id == visit.client_id,
               col(BackupDay.day) >= start.astimezone(zone).date(),
               col(BackupDay.day) < end.astimezone(zone).date(),
               col(BackupDay.status).in_(BAD_BACKUP))
        .order_by(col(BackupDay.day))
    ).all()
    backup_lines = [BackupLine(d.day, srv.display_name or srv.hostname,
                               job.name or job.product, d.status) for d, job, srv in days]
    return Anomalies(start, end, case_lines, demande_lines, backup_lines)
