"""Visits owed per contract year (3.2.4): two, plus one per server beyond the first.

Counted from the live inventory: a server counts inside its in-scope dates
(``server_scope``; a server without dates has always been in scope). The contract is silent
on a count that changes mid-year, so the rule is a setting (``VIGIE_VISIT_COUNTING``):

* ``start`` (default): the servers in scope on the first day of the contract year;
* ``max``: the most servers in scope on any one day of the year.

The figure is stored with its explanation ("2 + (3 − 1) = 4, serveurs au 01/01/2027 :
SRV-DC01, SRV-FILE01, SRV-APP"), so the planner and the manager read why, and a later change
of the inventory shows as a new computation rather than a silent rewrite.

Due windows are spread over the year: visit *k* of *n* is due in the *k*-th of *n* equal
slices of the year (two visits: the first half and the second half, ideally around months 3
and 9).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from messages.visits import VisitState
from models.tables import Server
from models.types import utcnow
from models.visits import ServerScope, Visit, VisitEntitlement

COUNTINGS = ("start", "max")


@dataclass(frozen=True)
class ScopedServer:
    name: str
    start: dt.date | None  # None: always in scope
    end: dt.date | None  # None: still in scope

    def in_scope(self, day: dt.date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Entitlement:
    period_start: dt.date
    period_end: dt.date
    counting: str
    servers: int
    owed: int
    explanation: str
    names: tuple[str, ...]


def owed_for(servers: int) -> int:
    return 2 + max(0, servers - 1)


def _anniversary(year: int, month: int, day: int) -> dt.date:
    """``MM-DD`` in ``year``; a 29 February start falls on the 28th in the other years."""
    try:
        return dt.date(year, month, day)
    except ValueError:
        return dt.date(year, month, day - 1)


def period_of(year: int, start_mmdd: str = "01-01") -> tuple[dt.date, dt.date]:
    """The contract year ``year`` (it starts in that calendar year on ``MM-DD``)."""
    month, day = (int(x) for x in start_mmdd.split("-"))
    start = _anniversary(year, month, day)
    nxt = _anniversary(year + 1, month, day)
    return start, nxt - dt.timedelta(days=1)


def year_containing(day: dt.date, start_mmdd: str = "01-01") -> int:
    """The contract year (by the calendar year it starts in) that ``day`` falls in."""
    return day.year if day >= period_of(day.year, start_mmdd)[0] else day.year - 1


def year_start_for(s: Session, client_id: int, default: str = "01-01") -> str:
    """Where the client's contract year starts: on its contract's start date (the contract
    is signed for years counted from it); a client without a contract record yet (the demo,
    a client from before the contract module) on ``VIGIE_CONTRACT_YEAR_START``."""
    from models.contracts import Contract

    start = s.exec(select(Contract.start_date).where(Contract.client_id == client_id)).first()
    return default if start is None else f"{start.month:02d}-{start.day:02d}"


def compute(servers: list[ScopedServer], start: dt.date, end: dt.date,
            counting: str = "start") -> Entitlement:
    """The entitlement of one year, pure (the tests feed it directly)."""
    if counting not in COUNTINGS:
        raise ValueError(f"règle de comptage inconnue : {counting} (start ou max)")
    if counting == "start":
        names = tuple(sorted(s.name for s in servers if s.in_scope(start)))
        where = f"serveurs au {start:%d/%m/%Y}"
    else:
        # the count only changes on a server's first or last day: check those days
        days = {start} | {s.start for s in servers if s.start and start <= s.start <= end} \
            | {s.end + dt.timedelta(days=1) for s in servers
               if s.end and start <= s.end + dt.timedelta(days=1) <= end}
        best_day, names = start, ()
        for day in sorted(days):
            present = tuple(sorted(s.name for s in servers if s.in_scope(day)))
            if len(present) > len(names):
                best_day, names = day, present
        where = f"le plus de serveurs sur la période, au {best_day:%d/%m/%Y}"
    n = len(names)
    owed = owed_for(n)
    explanation = f"2 + ({n} − 1) = {owed}" if n >= 1 else f"2 + 0 = {owed}"
    explanation += f", {where} : " + (", ".join(names) if names else "aucun")
    return Entitlement(start, end, counting, n, owed, explanation, names)


def scoped_servers(s: Session, client_id: int) -> list[ScopedServer]:
    rows = s.exec(select(Server, ServerScope)
                  .join(ServerScope, col(ServerScope.server_id) == Server.id, isouter=True)
                  .where(Server.client_id == client_id)).all()
    return [ScopedServer(srv.display_name or srv.hostname.upper(),
                         scope.in_scope_from if scope else None,
                         scope.in_scope_to if scope else None) for srv, scope in rows]


def entitlement_for(s: Session, client_id: int, year: int, counting: str = "start",
                    start_mmdd: str = "01-01") -> VisitEntitlement:
    """Compute and store (insert or update) the client's entitlement for its contract year
    ``year`` (starting on its contract's anniversary; ``start_mmdd`` without a contract)."""
    start, end = period_of(year, year_start_for(s, client_id, start_mmdd))
    ent = compute(scoped_servers(s, client_id), start, end, counting)
    row = s.exec(select(VisitEntitlement).where(VisitEntitlement.client_id == client_id,
                                                VisitEntitlement.contract_year == year)).first()
    row = row or VisitEntitlement(client_id=client_id, contract_year=year, period_start=start,
                                  period_end=end)
    row.period_start, row.period_end = start, end
    row.counting, row.servers, row.owed = counting, ent.servers, ent.owed
    row.explanation, row.computed_at = ent.explanation, utcnow()
    s.add(row)
    s.flush()
    return row


def due_windows(start: dt.date, end: dt.date, n: int) -> list[tuple[dt.date, dt.date]]:
    """``n`` consecutive windows covering the year, in order."""
    total = (end - start).days + 1
    out = []
    for k in range(n):
        a = start + dt.timedelta(days=total * k // n)
        b = start + dt.timedelta(days=total * (k + 1) // n - 1)
        out.append((min(a, end), max(min(a, end), b)))  # never backwards, even n > total
    return out


def ideal_day(window: tuple[dt.date, dt.date]) -> dt.date:
    """The middle of a window: months 3 and 9 for two visits a year."""
    a, b = window
    return a + (b - a) // 2


@dataclass(frozen=True)
class Counts:
    owed: int
    planned: int  # visit rows created (any state but cancelled)
    proposed: int
    confirmed: int
    done: int
    cancelled: int
    late: int

    @property
    def unplanned(self) -> int:
        return max(0, self.owed - self.planned)


def counts(s: Session, client_id: int, year: int, owed: int, today: dt.date) -> Counts:
    visits = s.exec(select(Visit).where(Visit.client_id == client_id,
                                        Visit.contract_year == year,
                                        Visit.kind == "preventive")).all()
    states = [v.state for v in visits]
    done_states = (VisitState.REPORT_WRITTEN, VisitState.REPORT_SENT)
    return Counts(
        owed=owed,
        planned=sum(1 for st in states if st != VisitState.CANCELLED),
        proposed=sum(1 for st in states if st in (VisitState.PROPOSED,
                                                   VisitState.AWAITING_CLIENT)),
        confirmed=sum(1 for st in states if st in (VisitState.CONFIRMED,
                                                    VisitState.IN_PROGRESS)),
        done=sum(1 for st in states if st in done_states),
        cancelled=sum(1 for st in states if st == VisitState.CANCELLED),
        late=sum(1 for v in visits if _late(v, today)),
    )


def _late(v: Visit, today: dt.date) -> bool:
    """Late: done or booked after its window, or still owed with its window past."""
    if v.state == VisitState.CANCELLED:
        return False
    booked = (VisitState.CONFIRMED, VisitState.IN_PROGRESS, VisitState.REPORT_WRITTEN,
              VisitState.REPORT_SENT)
    day = v.date if v.state in booked and v.date is not None else today
    return day > v.due_end


# A visit in these states has no date and no open proposal: its window may be re-cut.
RECUTTABLE = frozenset({VisitState.PLANNED, VisitState.RESCHEDULED, VisitState.MISSED,
                        VisitState.NO_ACCESS})


@dataclass
class YearPlan:
    """What :func:`plan_year` did: the new rows, and the rows whose window was re-cut (their
    workflows learn it with the next proposal: ``planning.rules.visit_rules``)."""

    created: list[Visit]
    recut: list[Visit]


def _held_day(v: Visit) -> dt.date | None:
    """The day a visit holds: its date, else the first day of its open proposal."""
    if v.date is not None:
        return v.date
    return min((dt.date.fromisoformat(d) for d in v.proposed_dates), default=None)


def recut_windows(start: dt.date, end: dt.date, today: dt.date, movable: list[Visit],
                  held: list[dt.date], new: int) -> tuple[list[tuple[dt.date, dt.date]],
                                                          list[tuple[dt.date, dt.date]]]:
    """Windows for the re-cut visits and the new ones, from tomorrow to the year's end.

    The rest of the year is cut into one equal window per visit still to come (re-cut, new,
    and those already holding a day ahead); a visit holding a day keeps it and takes the
    window around that day, the others take the free windows in order. Returns (windows of
    ``movable`` in their order, windows of the new visits). Never backwards: a year with
    fewer days left than visits gives several the same last days.
    """
    span_start = min(max(start, today + dt.timedelta(days=1)), end)
    ahead = sorted(d for d in held if d >= span_start)
    windows = due_windows(span_start, end, len(movable) + new + len(ahead))
    claimed: set[int] = set()
    for day in ahead:
        free = [i for i in range(len(windows)) if i not in claimed]
        claimed.add(min(free, key=lambda i: (0 if windows[i][0] <= day <= windows[i][1]
                                             else 1, abs((windows[i][0] - day).days))))
    free_windows = [w for i, w in enumerate(windows) if i not in claimed]
    return free_windows[:len(movable)], free_windows[len(movable):]


def plan_year(s: Session, client_id: int, year: int, counting: str = "start",
              start_mmdd: str = "01-01", today: dt.date | None = None) -> list[Visit]:
    """Creates the visits still owed for ``year``, each with its spread due window; returns
    the new rows (their workflows are started by the caller after the commit). See
    :func:`plan_year_recut` for the windows re-cut mid-year."""
    return plan_year_recut(s, client_id, year, counting, start_mmdd, today).created


def plan_year_recut(s: Session, client_id: int, year: int, counting: str = "start",
                    start_mmdd: str = "01-01", today: dt.date | None = None) -> YearPlan:
    """Creates the visits still owed for ``year`` and re-cuts the windows left if needed.

    The first time, the whole year is cut into equal windows. When the entitlement grows
    later (a server added mid-year under ``max`` counting), the rest of the year from
    ``today`` is cut again: the new visits get windows in the future, shared with the
    visits not yet booked whose window has not passed; confirmed, proposed and done visits
    keep their dates and windows, and late visits stay late (visible as such)."""
    from models.tables import Site
    from planning.visits import create_visit

    row = entitlement_for(s, client_id, year, counting, start_mmdd)
    existing = [v for v in s.exec(select(Visit).where(
        Visit.client_id == client_id, Visit.contract_year == year,
        Visit.kind == "preventive").order_by(col(Visit.due_start), col(Visit.id))).all()
        if v.state != VisitState.CANCELLED]
    missing = row.owed - len(existing)
    if missing <= 0:
        return YearPlan([], [])
    site = s.exec(select(Site).where(Site.client_id == client_id).order_by(col(Site.id))).first()
    today = today or row.period_start - dt.timedelta(days=1)
    if existing:
        movable = [v for v in existing if v.state in RECUTTABLE and v.due_end > today]
        held = [d for v in existing if v.state not in RECUTTABLE
                and (d := _held_day(v)) is not None]
        moved, fresh = recut_windows(row.period_start, row.period_end, today, movable, held,
                                     missing)
    else:
        movable, moved = [], []
        fresh = due_windows(row.period_start, row.period_end, row.owed)
    recut = []
    for visit, window in zip(movable, moved, strict=True):
        if (visit.due_start, visit.due_end) != window:
            visit.due_start, visit.due_end = window
            s.add(visit)
            recut.append(visit)
    created = [create_visit(s, client_id, "preventive", a, b,
                            site_id=site.id if site else None, contract_year=year)
               for a, b in fresh]
    s.flush()
    return YearPlan(created, recut)
