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

import gc
import math
import statistics
import threading
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from base.settings import Settings
from console.sla import EffectivePolicy, effective_policy
from domain.sla import Action, CaseSla, Figure, LedgerEntry, compute
from models.auth import SlaCase, SlaWatermark
from models.db import session_scope
from models.tables import AuditEvent, Case
from models.types import utcnow

OVERLAP_IDS = 1000
CHUNK = 2000
INLINE_LIMIT = 5000  # cases a page view may recompute itself before answering
_refresh_lock = threading.Lock()

# figure name -> (seconds column, breach column, due column or None)
FIGURES: dict[str, tuple[str, str | None, str | None]] = {
    "time_to_triage": ("triage_s", "triage_breach", "triage_due"),
    "time_to_first_contact": ("contact_s", "contact_breach", "contact_due"),
    "time_to_demande": ("demande_s", "demande_breach", "demande_due"),
    "l1_duration": ("l1_s", "l1_breach", "l1_due"),
    "time_to_resolution": ("resolution_s", None, None),
}
# A case a consultant opened from a "ko" item of a visit (a Demande in one click) was
# classified on site, not triaged from an alert: it is kept out of the alert desk's triage
# and first-contact figures (else it reads "triaged and contacted in 0 h 00").
ALERT_ONLY = frozenset({"time_to_triage", "time_to_first_contact"})
VISIT_FAMILY = "visit"
BIT = {name: 1 << i for i, name in enumerate(n for n in FIGURES if FIGURES[n][1])}
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
    from_visit: bool = False,
) -> dict[str, Any]:
    """The ``sla_case`` row of one case, from its ledger; a case opened from a visit has
    no triage or first-contact figure (``ALERT_ONLY``)."""
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
        return {
            **row,
            "technician": assignee or "",
            "opened_at": opened,
            "opened_day": _local_day(opened, policy.timezone),
            "error": str(exc),
        }
    triager = sla.time_to_triage.end.actor if sla.time_to_triage.end is not None else ""
    finished = _finished(entries)
    tolerance = policy.targets.tolerance
    row.update(
        technician=(triager or assignee or "")[:120],
        criticality=str(sla.criticality) if sla.criticality is not None else None,
        opened_at=sla.opened_at,
        opened_day=_local_day(sla.opened_at, policy.timezone),
        finished=finished,
        escalated=sla.escalated,
        escalated_by_timer=sla.escalated_by == "timer",
        reopened=sla.reopened_count,
        error="",
    )
    mask = 0
    for name, (seconds, breach, due) in FIGURES.items():
        if from_visit and name in ALERT_ONLY:
            continue  # the columns' defaults: not measured, never breached
        fig: Figure = getattr(sla, name)
        row[seconds] = fig.value.total_seconds() if fig.complete and fig.value is not None else None
        if breach is not None:
            row[breach] = bool(fig.breached)
            if fig.breached:
                mask |= BIT[name]
        if due is not None:
            row[due] = _due(fig, finished, policy, tolerance)
    row["breach_mask"] = mask
    return row


def _local_day(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).date().isoformat()


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass(frozen=True)
class _Plan:
    policy: EffectivePolicy
    rebuild: bool
    max_id: int
    case_ids: list[int]


def _plan(engine: Engine, settings: Settings, full: bool) -> _Plan:
    """Which cases the ledger changed since the last pass (all of them on a rebuild)."""
    with Session(engine) as s:
        policy = effective_policy(s, settings)
        mark = s.get(SlaWatermark, 1)
        max_id = s.execute(select(func.max(A.id))).scalar() or 0
        rebuild = full or mark is None or mark.policy_version != policy.cache_key
        if not rebuild and mark is not None and mark.last_audit_id >= max_id:
            return _Plan(policy, False, max_id, [])
        since = 0 if rebuild or mark is None else max(0, mark.last_audit_id - OVERLAP_IDS)
        case_ids = sorted(
            s.execute(select(A.case_id).where(A.id > since, A.id <= max_id).distinct()).scalars()
        )
    return _Plan(policy, rebuild, max_id, case_ids)


def _apply(engine: Engine, plan: _Plan) -> RefreshStats:
    """Recomputes the planned cases, one transaction per chunk so that a long rebuild never
    holds the database's write lock for long (the intake writes all the time)."""
    now = utcnow()
    if plan.rebuild:
        with session_scope(engine) as s:
            s.execute(delete(SlaCase.__table__))  # type: ignore[arg-type]
            mark = s.get(SlaWatermark, 1) or SlaWatermark(id=1)
            mark.last_audit_id, mark.policy_version = 0, ""  # a crash mid-way rebuilds again
            s.add(mark)
    done = 0
    for chunk in _chunks(plan.case_ids, CHUNK):
        with session_scope(engine) as s:
            done += _refresh_chunk(s, chunk, plan.policy, now, replace=not plan.rebuild)
    with session_scope(engine) as s:
        mark = s.get(SlaWatermark, 1) or SlaWatermark(id=1)
        mark.last_audit_id = plan.max_id
        mark.policy_version = plan.policy.cache_key
        mark.refreshed_at = now
        s.add(mark)
    return RefreshStats(done, plan.rebuild, plan.max_id)


def refresh(engine: Engine, settings: Settings, *, full: bool = False) -> RefreshStats:
    """Brings ``sla_case`` up to the ledger; cheap when nothing changed (one indexed read)."""
    with _refresh_lock:
        plan = _plan(engine, settings, full)
        if not plan.rebuild and not plan.case_ids:
            return RefreshStats(0, False, plan.max_id)
        return _apply(engine, plan)


def refresh_for_view(engine: Engine, settings: Settings, inline_limit: int = INLINE_LIMIT) -> bool:
    """Before showing figures: catch up inline when little changed (the usual case), else
    let a background thread do it and answer at once. True when the cache is current.

    A first view on a year of existing ledger, or a new policy, means recomputing every
    case (about a minute for 200,000): no request should wait for that.
    """
    if not _refresh_lock.acquire(blocking=False):
        return False  # a refresh is running: show what is there
    try:
        plan = _plan(engine, settings, False)
        if len(plan.case_ids) <= inline_limit:
            if plan.rebuild or plan.case_ids:
                _apply(engine, plan)
            return True
    finally:
        _refresh_lock.release()
    threading.Thread(
        target=refresh, args=(engine, settings), name="sla-refresh", daemon=True
    ).start()
    return False


def _refresh_chunk(
    s: Any, chunk: Sequence[int], policy: EffectivePolicy, now: datetime, replace: bool
) -> int:
    cases = {
        r.id: r
        for r in s.execute(
            select(Case.id, Case.client_id, Case.assignee, Case.family).where(Case.id.in_(chunk))  # type: ignore[union-attr,attr-defined]
        )
    }
    ledger: dict[int, list[Any]] = defaultdict(list)
    for r in s.execute(
        select(
            A.case_id,
            A.seq,
            A.at,
            A.action,
            A.from_state,
            A.to_state,
            A.actor,
            A.reason,
            A.data,
            A.policy_version,
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
                     now, from_visit=info.family == VISIT_FAMILY)
        )
    if replace:
        s.execute(delete(SlaCase.__table__).where(T.case_id.in_(chunk)))  # type: ignore[arg-type]
    if rows:
        defaults = {c.name: None for c in SlaCase.__table__.columns}  # type: ignore[attr-defined]
        defaults.update(
            finished=False,
            escalated=False,
            escalated_by_timer=False,
            reopened=0,
            breach_mask=0,
            triage_breach=False,
            contact_breach=False,
            demande_breach=False,
            l1_breach=False,
            technician="",
            error="",
            policy_version=policy.version,
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
            cond.append(
                T.client_id.is_(None) if self.client_id < 0 else T.client_id == self.client_id
            )
        if self.technician is not None:
            cond.append(T.technician == self.technician)
        if self.criticality == "unclassified":
            cond.append(T.criticality.is_(None))
        elif self.criticality:
            cond.append(T.criticality == self.criticality)
        return and_(*cond)


# Major cases whose first contact never happened: nobody was reached by phone (a fallback
# mail does not count, see ``domain.sla``), whether the case is still open or not.
MAJOR_UNREACHED = "major_unreached"


def major_unreached(engine: Engine, sel: Selection) -> int:
    """How many major cases of the selection have nobody reached by phone."""
    with engine.connect() as conn:
        return int(conn.execute(
            select(func.count()).select_from(SlaCase.__table__)  # type: ignore[arg-type]
            .where(and_(sel.where(), metric_condition(MAJOR_UNREACHED, utcnow())))
        ).scalar() or 0)


def metric_condition(metric: str, now: datetime) -> Any:
    """SQL condition of the cases behind one number of the view."""
    if metric in ("", "count"):
        return None
    if metric == "escalated":
        return T.escalated.is_(True)
    if metric == MAJOR_UNREACHED:
        return and_(T.criticality == "major", T.contact_s.is_(None))
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
    return or_(
        getattr(T, breach).is_(True), and_(getattr(T, due).is_not(None), getattr(T, due) < now)
    )


def _median_p90(ordered: list[float]) -> tuple[float | None, float | None]:
    """Median and nearest-rank 90th percentile of sorted values, like ``domain.sla``."""
    if not ordered:
        return None, None
    return statistics.median(ordered), ordered[math.ceil(0.9 * len(ordered)) - 1]


# The figures a summary reports: those with a target (the resolution time has none and is
# only in the per-case export).
SUMMARY_FIGURES = tuple(n for n in FIGURES if FIGURES[n][1] is not None)


@dataclass
class Group:
    """One line of the SLA table: counts, and each figure's measured values (sorted)."""

    key: Any
    label: str
    count: int = 0
    escalated: int = 0
    breached_cases: int = 0
    values: dict[str, list[float]] = field(default_factory=dict)
    breaches: dict[str, int] = field(default_factory=dict)

    @property
    def escalated_pct(self) -> float | None:
        return round(100 * self.escalated / self.count, 1) if self.count else None

    def figure(self, name: str) -> dict[str, Any]:
        median, p90 = _median_p90(self.values[name])
        return {
            "measured": len(self.values[name]),
            "median_seconds": median,
            "p90_seconds": p90,
            "breaches": self.breaches[name],
        }


@dataclass
class Summary:
    """The SLA table of a selection: its total, its groups, and a trend of counts."""

    total: Group
    groups: list[Group]
    trend: list[Group]  # counts only (cases, cases in breach) per week or month


ROW_COLUMNS = (
    T.case_id, T.client_id, T.technician, T.criticality, T.opened_at, T.escalated,
    T.triage_s, T.contact_s, T.demande_s, T.l1_s, T.resolution_s,
    T.triage_breach, T.contact_breach, T.demande_breach, T.l1_breach,
    T.triage_due, T.contact_due, T.demande_due, T.l1_due,
)  # fmt: skip

# The summary reads only columns of the covering index ix_sla_case_summary (a GROUP BY
# in SQLite costs more than reading the columns: it sorts in a temporary B-tree).
_VALUE_COLUMNS = tuple(getattr(T, FIGURES[n][0]) for n in SUMMARY_FIGURES)
_KEY_SOURCE = {  # dimension -> the column its key is made from
    "client": "client_id",
    "technician": "technician",
    "criticality": "criticality",
    "week": "opened_day",
    "month": "opened_day",
}
_DUES = tuple(getattr(T, FIGURES[n][2]) for n in SUMMARY_FIGURES)


class _Keys:
    """Turns a raw column value into a group key (memoised: few distinct values)."""

    def __init__(self, by: str) -> None:
        self.by = by
        self.known: dict[Any, Any] = {}

    def __call__(self, raw: Any) -> Any:
        found = self.known.get(raw, self)
        if found is self:
            found = self.known[raw] = self._key(raw)
        return found

    def _key(self, raw: Any) -> Any:
        if self.by == "client":
            return -1 if raw is None else raw
        if self.by == "criticality":
            return "unclassified" if raw is None else raw
        if self.by in ("week", "month"):
            local = date.fromisoformat(raw)
            return (
                local - timedelta(days=local.weekday())
                if self.by == "week"
                else (local.replace(day=1))
            )
        return raw


def _late_bits(dues: Sequence[datetime | None], now: datetime) -> int:
    bits = 0
    for name, when in zip(SUMMARY_FIGURES, dues, strict=True):
        if when is not None and when < now:
            bits |= BIT[name]
    return bits


def _count(grp: Group, mask: int, escalated: bool, n: int) -> None:
    grp.count += n
    if escalated:
        grp.escalated += n
    if mask:
        grp.breached_cases += n
        for name in SUMMARY_FIGURES:
            if mask & BIT[name]:
                grp.breaches[name] = grp.breaches.get(name, 0) + n


def _late_while_running(grp: Group, mask: int, bits: int) -> None:
    """A running figure now past due: one more breach (and case in breach) for the group."""
    for name in SUMMARY_FIGURES:
        if bits & BIT[name] and not mask & BIT[name]:
            grp.breaches[name] = grp.breaches.get(name, 0) + 1
    if bits and not mask:
        grp.breached_cases += 1


def _values(grp: Group, columns: Sequence[Sequence[Any]], rows: list[int] | None) -> None:
    for name, column in zip(SUMMARY_FIGURES, columns, strict=True):
        if rows is None:
            picked: Sequence[Any] = column
        elif len(rows) == 1:
            picked = (column[rows[0]],)
        else:
            picked = itemgetter(*rows)(column)
        values = [v for v in picked if v is not None]
        values.sort()
        grp.values[name] = values
    for name in SUMMARY_FIGURES:
        grp.breaches.setdefault(name, 0)


def summarize(
    engine: Engine,
    sel: Selection,
    by: str,
    trend_by: str | None = None,
    now: datetime | None = None,
) -> Summary:
    """The selection's total, its groups along ``by`` and a trend (cases, cases in breach).

    One read of the covering index gives each case's group key, final breach bits and
    figure values (medians and percentiles need every value); a second, small read finds
    the cases whose running figures are now past due. Counting is done on whole columns
    (``Counter`` over ``zip``), never row by row in Python.
    """
    for dim in (by, trend_by):
        if dim is not None and dim not in DIMENSIONS:
            raise ValueError(f"regroupement inconnu : {dim}")
    # Hundreds of thousands of floats and small tuples, none of them cyclic: the cyclic
    # collector would only rescan them again and again, so it waits until the end.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _summarize(engine, sel, by, trend_by, now or utcnow())
    finally:
        if collecting:
            gc.enable()


def _summarize(
    engine: Engine, sel: Selection, by: str, trend_by: str | None, now: datetime
) -> Summary:
    where = sel.where()
    key_name = _KEY_SOURCE[by]
    key_of = _Keys(by)
    trend_of = _Keys(trend_by) if trend_by is not None else None
    columns = [key_name, "breach_mask", "escalated"]
    if trend_of is not None and key_name != "opened_day":
        columns.append("opened_day")
    day_at = columns.index("opened_day") if trend_of is not None else -1
    with engine.connect() as conn:
        result = conn.execute(
            select(*(getattr(T, c) for c in columns), *_VALUE_COLUMNS).where(where)
        )
        # Plain DB-API tuples (numbers and text need no conversion): no Row object per case.
        rows = result.cursor.fetchall()
        result.close()
        running = conn.execute(
            select(getattr(T, key_name), T.opened_day, T.breach_mask, *_DUES).where(
                and_(where, T.finished == False, or_(*(d < now for d in _DUES)))  # noqa: E712
            )
        ).all()
    width = len(columns) + len(_VALUE_COLUMNS)
    cols: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * width
    keys, masks, escalated = cols[0], cols[1], cols[2]
    values = cols[len(columns) :]

    total = Group(key=None, label="")
    groups: dict[Any, Group] = {}

    def group(raw: Any) -> Group:
        key = key_of(raw)
        found = groups.get(key)
        if found is None:
            found = groups[key] = Group(key=key, label=str(key))
        return found

    for (raw, mask, esc), n in Counter(zip(keys, masks, escalated, strict=True)).items():
        _count(total, mask, esc, n)
        _count(group(raw), mask, esc, n)
    trend: dict[Any, Group] = {}
    if trend_of is not None:
        for (day, mask), n in Counter(zip(cols[day_at], masks, strict=True)).items():
            key = trend_of(day)
            bucket = trend.setdefault(key, Group(key=key, label=str(key)))
            bucket.count += n
            bucket.breached_cases += n if mask else 0
    for raw, day, mask, *dues in running:
        bits = _late_bits(dues, now)
        _late_while_running(total, mask, bits)
        _late_while_running(group(raw), mask, bits)
        if trend_of is not None and bits and not mask:
            trend[trend_of(day)].breached_cases += 1

    _values(total, values, None)
    members: dict[Any, list[int]] = defaultdict(list)
    for i, raw in enumerate(keys):
        members[key_of(raw)].append(i)
    for key, grp in groups.items():
        _values(grp, values, members.get(key, []))
    return Summary(
        total,
        [groups[k] for k in _sorted(groups)],
        [trend[k] for k in _sorted(trend)],
    )


def _sorted(keys: Iterable[Any]) -> list[Any]:
    return sorted(keys, key=lambda k: (str(type(k)), k))


def distribution(ordered: list[float], edges_min: Sequence[int]) -> list[tuple[str, int]]:
    """Counts of sorted values (seconds) in buckets bounded by ``edges_min`` (minutes)."""
    points = []
    lo = 0
    for hi in edges_min:
        count = bisect_left(ordered, hi * 60) - bisect_left(ordered, lo * 60)
        points.append((f"{_fmt_min(lo)}–{_fmt_min(hi)}", count))
        lo = hi
    points.append((f"> {_fmt_min(lo)}", len(ordered) - bisect_left(ordered, lo * 60)))
    return points


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
        total = (
            conn.execute(select(func.count()).select_from(SlaCase.__table__).where(cond)).scalar()
            or 0
        )  # type: ignore[arg-type]
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
