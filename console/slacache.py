"""Per-case SLA figures kept in ``sla_case``, refreshed from the ledger, and their summaries.

Why a cache: a year of the desk is ~200,000 cases and over a million ledger lines; reading
and recomputing them all for every visit of the manager's view would take tens of seconds.
The ledger stays the only source: ``refresh`` reads the ledger lines appended since its last
pass (``sla_watermark``), recomputes those cases with ``domain.sla.compute`` and rewrites
their rows. A change of policy (business hours, L1 length) rebuilds everything. The
watermark re-reads a margin of ids behind it (``OVERLAP_IDS``), because PostgreSQL may commit
a lower id after a higher one; re-reading a case is harmless (rows are replaced whole).

Figures still running are stored with the instant they will be breached (``*_due``), so a
breach appears as time passes without recomputing anything. Summaries (median, nearest-rank
90th percentile, breaches) follow ``domain.sla.aggregate``; a test holds them equal.
"""

from __future__ import annotations

import math
import statistics
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.engine import Engine

from console.sla import EffectivePolicy, effective_policy
from domain.sla import Action, CaseSla, Figure, LedgerEntry, compute
from models.auth import SlaCase, SlaWatermark
from models.db import session_scope
from models.tables import AuditEvent, Case
from models.types import utcnow
from vigie.settings import Settings

OVERLAP_IDS = 1000
CHUNK = 2000
_refresh_lock = threading.Lock()

# figure name -> (seconds column, breach column, due column or None)
FIGURES: dict[str, tuple[str, str | None, str | None]] = {
    "time_to_triage": ("triage_s", "triage_breach", "triage_due"),
    "time_to_first_contact": ("contact_s", "contact_breach", "contact_due"),
    "time_to_demande": ("demande_s", "demande_breach", "demande_due"),
    "l1_duration": ("l1_s", "l1_breach", "l1_due"),
    "time_to_resolution": ("resolution_s", None, None),
}
DIMENSIONS = ("client", "technician", "criticality", "month", "week")
T = SlaCase.__table__.c  # type: ignore[attr-defined]
A = AuditEvent.__table__.c  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RefreshStats:
    cases: int
    rebuilt: bool
    last_audit_id: int


# --- refresh ----------------------------------------------------------------------------------


def _entries(rows: Iterable[Any]) -> list[LedgerEntry]:
    return [
        LedgerEntry(
            seq=r.seq,
            at=r.at,
            action=r.action,
            from_state=r.from_state,
            to_state=r.to_state,
            actor=r.actor,
            reason=r.reason,
            data=r.data or {},
            policy_version=r.policy_version,
        )
        for r in rows
    ]


def _finished(entries: Sequence[LedgerEntry]) -> bool:
    done = False
    for e in sorted(entries, key=lambda e: (e.at, e.seq)):
        if e.action in (Action.RESOLVE, Action.CLOSE):
            done = True
        elif e.action == Action.REOPEN:
            done = False
    return done


def _due(fig: Figure, finished: bool, policy: EffectivePolicy, tolerance: timedelta) -> Any:
    """When a running figure will count as breached (None if it cannot be)."""
    if finished or fig.end is not None or fig.start is None or fig.target is None:
        return None
    if fig.breached is not None:
        return None
    return policy.calendar.add(fig.start.at, fig.target + tolerance)


def case_row(
    case_id: int,
    client_id: int | None,
    assignee: str | None,
    entries: list[LedgerEntry],
    policy: EffectivePolicy,
    now: datetime,
) -> dict[str, Any]:
    """The ``sla_case`` row of one case, from its ledger."""
    row: dict[str, Any] = {
        "case_id": case_id,
        "client_id": client_id,
        "policy_version": policy.version,
        "computed_at": now,
    }
    try:
        sla: CaseSla = compute(entries, policy.calendar, policy.targets)
    except ValueError as exc:
        opened = min((e.at for e in entries), default=now)
        return {**row, "technician": assignee or "", "opened_at": opened, "error": str(exc)}
    triager = sla.time_to_triage.end.actor if sla.time_to_triage.end is not None else ""
    finished = _finished(entries)
    tolerance = policy.targets.tolerance
    row.update(
        technician=(triager or assignee or "")[:120],
        criticality=str(sla.criticality) if sla.criticality is not None else None,
        opened_at=sla.opened_at,
        finished=finished,
        escalated=sla.escalated,
        escalated_by_timer=sla.escalated_by == "timer",
        reopened=sla.reopened_count,
        error="",
    )
    for name, (seconds, breach, due) in FIGURES.items():
        fig: Figure = getattr(sla, name)
        row[seconds] = fig.value.total_seconds() if fig.complete and fig.value is not None else None
        if breach is not None:
            row[breach] = bool(fig.breached)
        if due is not None:
            row[due] = _due(fig, finished, policy, tolerance)
    return row


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def refresh(engine: Engine, settings: Settings, *, full: bool = False) -> RefreshStats:
    """Brings ``sla_case`` up to the ledger; cheap when nothing changed (one indexed read)."""
    with _refresh_lock, session_scope(engine) as s:
        policy = effective_policy(s, settings)
        mark = s.get(SlaWatermark, 1)
        max_id = s.execute(select(func.max(A.id))).scalar() or 0
        rebuild = full or mark is None or mark.policy_version != policy.version
        if not rebuild and mark is not None and mark.last_audit_id >= max_id:
            return RefreshStats(0, False, max_id)
        since = 0 if rebuild else max(0, (mark.last_audit_id if mark else 0) - OVERLAP_IDS)
        case_ids = sorted(
            s.execute(
                select(A.case_id).where(A.id > since, A.id <= max_id).distinct()
            ).scalars()
        )
        if rebuild:
            s.execute(delete(SlaCase.__table__))  # type: ignore[arg-type]
        now = utcnow()
        done = 0
        for chunk in _chunks(case_ids, CHUNK):
            done += _refresh_chunk(s, chunk, policy, now, replace=not rebuild)
        if mark is None:
            mark = SlaWatermark(id=1)
        mark.last_audit_id = max_id
        mark.policy_version = policy.version
        mark.refreshed_at = now
        s.add(mark)
        return RefreshStats(done, rebuild, max_id)


def _refresh_chunk(
    s: Any, chunk: Sequence[int], policy: EffectivePolicy, now: datetime, replace: bool
) -> int:
    cases = {
        r.id: r
        for r in s.execute(
            select(Case.id, Case.client_id, Case.assignee).where(Case.id.in_(chunk))  # type: ignore[union-attr,attr-defined]
        )
    }
    ledger: dict[int, list[Any]] = defaultdict(list)
    for r in s.execute(
        select(
            A.case_id, A.seq, A.at, A.action, A.from_state, A.to_state, A.actor, A.reason,
            A.data, A.policy_version,
        ).where(A.case_id.in_(chunk))
    ):
        ledger[r.case_id].append(r)
    rows = []
    for case_id in chunk:
        info = cases.get(case_id)
        if info is None or not ledger.get(case_id):
            continue
        rows.append(
            case_row(case_id, info.client_id, info.assignee, _entries(ledger[case_id]), policy,
                     now)
        )
    if replace:
        s.execute(delete(SlaCase.__table__).where(T.case_id.in_(chunk)))  # type: ignore[arg-type]
    if rows:
        defaults = {c.name: None for c in SlaCase.__table__.columns}  # type: ignore[attr-defined]
        defaults.update(
            finished=False, escalated=False, escalated_by_timer=False, reopened=0,
            triage_breach=False, contact_breach=False, demande_breach=False, l1_breach=False,
            technician="", error="", policy_version=policy.version,
        )
        s.execute(insert(SlaCase.__table__), [{**defaults, **r} for r in rows])  # type: ignore[arg-type]
    return len(rows)


# --- summaries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Local dates, ``start`` included, ``end`` included (as a manager reads "1-31 March")."""

    start: date
    end: date
    tz: str

    def bounds(self) -> tuple[datetime, datetime]:
        zone = ZoneInfo(self.tz)
        lo = datetime.combine(self.start, datetime.min.time(), zone)
        hi = datetime.combine(self.end + timedelta(days=1), datetime.min.time(), zone)
        return lo, hi


@dataclass(frozen=True)
class Selection:
    """Which cases a figure is about: a period and optional fixed dimensions."""

    period: Period
    client_id: int | None = None  # -1: cases without a client
    technician: str | None = None
    criticality: str | None = None  # "unclassified" for none

    def where(self) -> Any:
        lo, hi = self.period.bounds()
        cond = [T.opened_at >= lo, T.opened_at < hi, T.error == ""]
        if self.client_id is not None:
            cond.append(T.client_id.is_(None) if self.client_id < 0 else T.client_id == self.client_id)
        if self.technician is not None:
            cond.append(T.technician == self.technician)
        if self.criticality == "unclassified":
            cond.append(T.criticality.is_(None))
        elif self.criticality:
            cond.append(T.criticality == self.criticality)
        return and_(*cond)


def metric_condition(metric: str, now: datetime) -> Any:
    """SQL condition of the cases behind one number of the view."""
    if metric in ("", "count"):
        return None
    if metric == "escalated":
        return T.escalated.is_(True)
    if metric == "breached":
        return or_(*(breach_condition(name, now) for name in FIGURES if FIGURES[name][1]))
    name, _, kind = metric.partition(":")
    if name not in FIGURES:
        raise ValueError(f"mesure inconnue : {metric}")
    if kind == "breach":
        return breach_condition(name, now)
    return getattr(T, FIGURES[name][0]).is_not(None)


def breach_condition(name: str, now: datetime) -> Any:
    _, breach, due = FIGURES[name]
    if breach is None or due is None:
        return T.case_id.is_(None)  # never
    return or_(getattr(T, breach).is_(True), and_(getattr(T, due).is_not(None), getattr(T, due) < now))


def _p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile, like ``domain.sla.aggregate``."""
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


@dataclass
class Group:
    key: Any
    label: str
    count: int = 0
    escalated: int = 0
    breached_cases: int = 0
    values: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n in FIGURES})
    breaches: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIGURES, 0))

    @property
    def escalated_pct(self) -> float | None:
        return round(100 * self.escalated / self.count, 1) if self.count else None

    def figure(self, name: str) -> dict[str, Any]:
        values = self.values[name]
        return {
            "measured": len(values),
            "median_seconds": statistics.median(values) if values else None,
            "p90_seconds": _p90(values) if values else None,
            "breaches": self.breaches[name],
        }


ROW_COLUMNS = (
    T.case_id, T.client_id, T.technician, T.criticality, T.opened_at, T.escalated,
    T.triage_s, T.contact_s, T.demande_s, T.l1_s, T.resolution_s,
    T.triage_breach, T.contact_breach, T.demande_breach, T.l1_breach,
    T.triage_due, T.contact_due, T.demande_due, T.l1_due,
)  # fmt: skip


def group_key(row: Any, by: str, zone: ZoneInfo) -> Any:
    if by == "client":
        return row.client_id if row.client_id is not None else -1
    if by == "technician":
        return row.technician
    if by == "criticality":
        return row.criticality or "unclassified"
    local = row.opened_at.astimezone(zone).date()
    if by == "week":
        return local - timedelta(days=local.weekday())
    return local.replace(day=1)


def summarize(
    engine: Engine, sel: Selection, dims: Sequence[str], now: datetime | None = None
) -> tuple[Group, dict[str, list[Group]]]:
    """The whole selection and its groups along each dimension, in one read of the cache."""
    for by in dims:
        if by not in DIMENSIONS:
            raise ValueError(f"regroupement inconnu : {by}")
    now = now or utcnow()
    zone = ZoneInfo(sel.period.tz)
    total = Group(key=None, label="")
    groups: dict[str, dict[Any, Group]] = {by: {} for by in dims}
    with engine.connect() as conn:
        for row in conn.execute(select(*ROW_COLUMNS).where(sel.where())):
            _add(total, row, now)
            for by in dims:
                key = group_key(row, by, zone)
                grp = groups[by].get(key)
                if grp is None:
                    grp = groups[by][key] = Group(key=key, label=str(key))
                _add(grp, row, now)
    ordered = {
        by: [found[k] for k in sorted(found, key=lambda k: (str(type(k)), k))]
        for by, found in groups.items()
    }
    return total, ordered


def _add(grp: Group, row: Any, now: datetime) -> None:
    grp.count += 1
    if row.escalated:
        grp.escalated += 1
    any_breach = False
    for name, (seconds, breach, due) in FIGURES.items():
        value = getattr(row, seconds)
        if value is not None:
            grp.values[name].append(value)
        if breach is not None:
            late = getattr(row, breach) or (
                getattr(row, due) is not None and getattr(row, due) < now  # type: ignore[arg-type]
            )
            if late:
                grp.breaches[name] += 1
                any_breach = True
    if any_breach:
        grp.breached_cases += 1


def distribution(values: list[float], edges_min: Sequence[int]) -> list[tuple[str, int]]:
    """Counts of values (seconds) in buckets bounded by ``edges_min`` (minutes)."""
    labels = []
    lo = 0
    for hi in edges_min:
        labels.append((f"{_fmt_min(lo)}–{_fmt_min(hi)}", lo * 60, hi * 60))
        lo = hi
    labels.append((f"> {_fmt_min(lo)}", lo * 60, math.inf))
    counts = [0] * len(labels)
    for v in values:
        for i, (_label, a, b) in enumerate(labels):
            if a <= v < b:
                counts[i] += 1
                break
    return [(label, counts[i]) for i, (label, _a, _b) in enumerate(labels)]


def _fmt_min(minutes: int) -> str:
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h"


def cases_behind(
    engine: Engine,
    sel: Selection,
    metric: str,
    *,
    offset: int = 0,
    limit: int = 50,
    now: datetime | None = None,
) -> tuple[list[Any], int]:
    """The cases a number counts, newest first, with the total."""
    now = now or utcnow()
    cond = sel.where()
    extra = metric_condition(metric, now)
    if extra is not None:
        cond = and_(cond, extra)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(SlaCase.__table__).where(cond)).scalar() or 0  # type: ignore[arg-type]
        rows = conn.execute(
            select(*ROW_COLUMNS, Case.ref, Case.title)  # type: ignore[arg-type]
            .join_from(SlaCase.__table__, Case.__table__, Case.id == T.case_id)  # type: ignore[arg-type]
            .where(cond)
            .order_by(T.opened_at.desc(), T.case_id.desc())
            .offset(offset)
            .limit(limit)
        ).all()
    return list(rows), int(total)


def iter_case_rows(engine: Engine, sel: Selection) -> Iterator[Any]:
    """Every case of a selection with its figures (the detailed CSV export), streamed."""
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=5000).execute(
            select(*ROW_COLUMNS, Case.ref)  # type: ignore[arg-type]
            .join_from(SlaCase.__table__, Case.__table__, Case.id == T.case_id)  # type: ignore[arg-type]
            .where(sel.where())
            .order_by(T.opened_at, T.case_id)
        )
        yield from result
