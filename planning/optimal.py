"""The exact planner: the fewest visits outside their window, then the least lateness, then
dates close to the ideal day, then fewer trips; every booking with the reason for its day.

Days are chosen by **one min-cost flow** (``ortools.graph.python.min_cost_flow``), a
transportation problem: each visit sends one unit to a business day of its site (from its
window's start, never in the past, up to the problem's horizon), each day takes at most as
many visits as consultants free that day (not on leave, no visit or open proposal already
holding it). A visit given to someone goes through that consultant's own day (capacity 1),
so they stay theirs and still do one visit a day. The cost is lexicographic by its weights:
an out-of-window visit costs more than every secondary cost of the whole plan put together,
so the number outside is the exact minimum; a late day weighs ``W_LATE`` days of distance to
the ideal day (late visits first as little late as can be, then close dates). A visit no day
can take is left unplaced (the worst cost; counted outside its window).

Trips then come from a bounded local improvement that never changes the flow's cost (so never
adds an out-of-window visit, nor lateness, nor distance): two visits swap days when that
leaves fewer (postcode area, week) pairs (:func:`group_areas`), then consultants are given
day by day, a visit going to a free consultant whose previous visit that week was in the
same area (the same trip), else to the least loaded (:func:`assign_by_trips`).

The time limit covers the whole run: if building the model uses it up, the greedy plan is
returned instead (status says so); the flow itself is solved in one call (about a second at
1,500 visits on a loaded 2-core machine); the swaps stop at the deadline.
"""

from __future__ import annotations

import datetime as dt
import time
from bisect import bisect_left
from collections import defaultdict

import numpy as np

from planning.suggest import (
    Booking,
    Plan,
    Problem,
    VisitNeed,
    _open_days,
    greedy,
    site_is_open,
    trip_key,
)

W_DIST = 1  # per day between the booked day and the ideal day (inside the window)
W_LATE = 1_000  # per day past the window's end


def _horizon_days(problem: Problem, v: VisitNeed, first: dt.date) -> tuple[dt.date, ...]:
    """The business days of ``v``'s site (its subdivision and own days) up to the horizon."""
    return _open_days(v.subdiv, first, problem.horizon_end, v.closed, v.opened)


def day_options(problem: Problem, v: VisitNeed, first: dt.date) -> tuple[dt.date, ...]:
    """The days the visit may take: its site's business days from its start to the horizon."""
    days = _horizon_days(problem, v, first)
    return days[bisect_left(days, v.start):]


def optimal(problem: Problem, time_limit_s: float = 30.0) -> Plan:
    """The exact plan (see the module's docstring)."""
    from ortools.graph.python import min_cost_flow

    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    visits = sorted(problem.visits, key=lambda v: v.key)
    if not visits:
        return Plan(status="optimal")
    first = min(v.start for v in visits)
    n_days = (problem.horizon_end - first).days + 1
    cons = {c.id: c for c in problem.consultants}

    free = np.zeros(max(n_days, 1), dtype=np.int64)
    for c in problem.consultants:
        for k in range(n_days):
            d = first + dt.timedelta(days=k)
            if d not in c.leave and d not in c.busy:
                free[k] += 1
    span = max(n_days, 1)
    max_secondary = W_LATE * span + W_DIST * span
    w_out = len(visits) * max_secondary + 1
    w_unplaced = 2 * w_out

    n = len(visits)
    sink = n + n_days
    own_nodes: dict[tuple[int, int], int] = {}  # (consultant, day index) -> node
    tails: list[np.ndarray] = []
    heads: list[np.ndarray] = []
    caps: list[np.ndarray] = []
    costs: list[np.ndarray] = []
    calendar_ords: dict[tuple[str | None, frozenset[dt.date], frozenset[dt.date]],
                        np.ndarray] = {}
    for i, v in enumerate(visits):
        cal_key = (v.subdiv, v.closed, v.opened)  # a site with its own days: its own key
        if cal_key not in calendar_ords:
            calendar_ords[cal_key] = np.fromiter(
                (d.toordinal() for d in _horizon_days(problem, v, first)), dtype=np.int64)
        ords = calendar_ords[cal_key]
        ords = ords[np.searchsorted(ords, v.start.toordinal()):]
        if v.consultant is not None:
            c = cons.get(v.consultant)
            ords = np.array([o for o in ords.tolist() if c is not None
                             and dt.date.fromordinal(o) not in c.leave
                             and dt.date.fromordinal(o) not in c.busy], dtype=np.int64)
        if len(ords):
            idx = ords - first.toordinal()
            late = np.maximum(ords - v.end.toordinal(), 0)
            cost = np.where(late > 0, w_out + W_LATE * late,
                            W_DIST * np.abs(ords - v.ideal.toordinal()))
            if v.consultant is None:
                head = n + idx
            else:
                head = np.empty(len(idx), dtype=np.int64)
                for j, k in enumerate(idx.tolist()):
                    node = own_nodes.setdefault((v.consultant, k), sink + 1 + len(own_nodes))
                    head[j] = node
            tails.append(np.full(len(idx), i, dtype=np.int64))
            heads.append(head)
            caps.append(np.ones(len(idx), dtype=np.int64))
            costs.append(cost.astype(np.int64))
        # the way out: unplaced
        tails.append(np.array([i], dtype=np.int64))
        heads.append(np.array([sink], dtype=np.int64))
        caps.append(np.array([1], dtype=np.int64))
        costs.append(np.array([w_unplaced], dtype=np.int64))
    for (_, k), node in own_nodes.items():
        tails.append(np.array([node], dtype=np.int64))
        heads.append(np.array([n + k], dtype=np.int64))
        caps.append(np.array([1], dtype=np.int64))
        costs.append(np.array([0], dtype=np.int64))
    day_idx = np.nonzero(free)[0]
    tails.append(n + day_idx)
    heads.append(np.full(len(day_idx), sink, dtype=np.int64))
    caps.append(free[day_idx])
    costs.append(np.zeros(len(day_idx), dtype=np.int64))

    if time.perf_counter() > deadline:
        plan = greedy(problem)
        plan.status = "greedy (délai dépassé pendant la construction du modèle)"
        plan.solve_s = time.perf_counter() - t0
        return plan

    flow = min_cost_flow.SimpleMinCostFlow()
    all_tails, all_heads = np.concatenate(tails), np.concatenate(heads)
    arcs = flow.add_arcs_with_capacity_and_unit_cost(
        all_tails, all_heads, np.concatenate(caps), np.concatenate(costs))
    supplies = np.zeros(sink + 1 + len(own_nodes), dtype=np.int64)
    supplies[:n] = 1
    supplies[sink] = -n
    flow.set_nodes_supplies(np.arange(len(supplies), dtype=np.int64), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:  # cannot happen: the unplaced arcs keep it feasible
        plan = greedy(problem)
        plan.status = f"greedy (flot : {status})"
        plan.solve_s = time.perf_counter() - t0
        return plan
    used = flow.flows(arcs) > 0
    day_of: dict[int, dt.date] = {}
    unplaced: list[int] = []
    node_day = {node: k for (_, k), node in own_nodes.items()}
    for tail, head in zip(all_tails[used].tolist(), all_heads[used].tolist(), strict=True):
        if tail >= n:
            continue
        v = visits[tail]
        if head == sink:
            unplaced.append(v.key)
        elif head > sink:
            day_of[v.key] = first + dt.timedelta(days=node_day[head])
        else:
            day_of[v.key] = first + dt.timedelta(days=head - n)
    plan = Plan(status="optimal", unplaced=sorted(unplaced))
    group_areas(problem, day_of, deadline)
    continued = assign_by_trips(problem, day_of, plan)
    needs = {v.key: v for v in visits}
    plan.bookings = {k: Booking(b.visit, b.day, b.consultant,
                                reason_for(problem, needs[k], b, first, k in continued))
                     for k, b in plan.bookings.items()}
    plan.solve_s = time.perf_counter() - t0
    return plan


def group_areas(problem: Problem, day_of: dict[int, dt.date], deadline: float) -> int:
    """The bounded local improvement of trips: swap the days of two visits when the flow's
    cost stays the same (both inside their windows, the same total distance to their ideal
    days, both sites open on their new day) and fewer (area, week) pairs remain, so that a
    visit alone in its area that week joins others. Day counts do not change (consultants
    still suffice), nor the out-of-window count, lateness or distance. Stops at the
    deadline or when no swap helps. Returns the number of swaps."""
    needs = {v.key: v for v in problem.visits}
    movable = {k for k in day_of if needs[k].consultant is None and day_of[k] <= needs[k].end}
    week_of = {k: day_of[k].isocalendar()[:2] for k in movable}
    group: dict[tuple[str, tuple[int, int]], set[int]] = defaultdict(set)
    by_week: dict[tuple[int, int], set[int]] = defaultdict(set)
    for k in movable:
        group[(needs[k].area, week_of[k])].add(k)
        by_week[week_of[k]].add(k)

    def dist(k: int, d: dt.date) -> int:
        return abs((d - needs[k].ideal).days)

    def size(area: str, week: tuple[int, int]) -> int:
        return len(group.get((area, week), ()))

    swaps, improved = 0, True
    while improved and time.perf_counter() < deadline:
        improved = False
        for u in sorted(movable, key=lambda k: (day_of[k], k)):
            a, w1, d1 = needs[u].area, week_of[u], day_of[u]
            if not a or size(a, w1) != 1:
                continue
            if time.perf_counter() > deadline:
                break
            targets = {wk for (ar, wk), keys in group.items() if ar == a and keys} - {w1}
            best = None
            for w2 in targets:
                for w in by_week[w2]:
                    vu, vw, d2 = needs[u], needs[w], day_of[w]
                    b = vw.area
                    if b == a or not (vu.start <= d2 <= vu.end and vw.start <= d1 <= vw.end):
                        continue
                    if dist(u, d2) + dist(w, d1) != dist(u, d1) + dist(w, d2):
                        continue
                    if not (site_is_open(vu, d2) and site_is_open(vw, d1)):
                        continue
                    delta = -1 - (size(b, w2) == 1) + (size(b, w1) == 0)
                    if delta < 0 and (best is None or delta < best[0]):
                        best = (delta, w)
            if best is None:
                continue
            w = best[1]
            for k, old, new in ((u, w1, week_of[w]), (w, week_of[w], w1)):
                group[(needs[k].area, old)].discard(k)
                group[(needs[k].area, new)].add(k)
                by_week[old].discard(k)
                by_week[new].add(k)
                week_of[k] = new
            day_of[u], day_of[w] = day_of[w], day_of[u]
            swaps += 1
            improved = True
    return swaps


def assign_by_trips(problem: Problem, day_of: dict[int, dt.date], plan: Plan) -> set[int]:
    """Consultants for the chosen days, in date order: a visit given to someone keeps them;
    the others first go to a free consultant whose last visit is in the same area that week
    (continuing the trip), then to the least loaded. Days never move. Returns the visits
    that continue their consultant's trip."""
    needs = {v.key: v for v in problem.visits}
    last: dict[int, tuple[str, tuple[int, int]]] = {}
    load: dict[int, int] = defaultdict(int)
    per_day: dict[dt.date, list[int]] = defaultdict(list)
    for vk, day in day_of.items():
        per_day[day].append(vk)
    continued: set[int] = set()
    for day in sorted(per_day):
        free = [c.id for c in problem.consultants if day not in c.leave and day not in c.busy]
        todo = sorted(per_day[day], key=lambda k: (needs[k].consultant is None,
                                                   needs[k].area, k))
        chosen: dict[int, int] = {}
        for vk in todo:  # given to someone, then continuing a trip
            v = needs[vk]
            if v.consultant is not None:
                chosen[vk] = v.consultant
            else:
                same = [c for c in free if c not in chosen.values()
                        and last.get(c) == trip_key(v, day)]
                if same:
                    chosen[vk] = min(same, key=lambda c: (load[c], c))
        for vk in todo:  # the rest: the least loaded, keeping continuable consultants last
            if vk in chosen:
                continue
            left = [c for c in free if c not in chosen.values()]
            wanted = {trip_key(needs[k], day) for k in todo if k not in chosen}
            chosen[vk] = min(left, key=lambda c: (last.get(c) in wanted, load[c], c))
        for vk, c in chosen.items():
            if last.get(c) == trip_key(needs[vk], day):
                continued.add(vk)
            last[c] = trip_key(needs[vk], day)
            load[c] += 1
            plan.bookings[vk] = Booking(vk, day, c)
    return continued


def reason_for(problem: Problem, v: VisitNeed, b: Booking, first: dt.date,
               continued: bool) -> str:
    """Why this day, in a few words (shown beside the booking)."""
    if v.start > v.end:
        why = (f"fenêtre passée (fin le {v.end:%d/%m/%Y}) : "
               f"{(b.day - v.end).days} j de retard, le moins possible")
    elif b.day > v.end:
        why = (f"hors fenêtre de {(b.day - v.end).days} j : fenêtre pleine "
               "(le minimum exact de visites hors fenêtre)")
    elif b.day == v.ideal:
        why = "jour idéal (milieu de la fenêtre)"
    else:
        gap = abs((b.day - v.ideal).days)
        closer = [d for d in day_options(problem, v, first)
                  if d <= v.end and abs((d - v.ideal).days) < gap]
        why = (f"à {gap} j du jour idéal : "
               + ("les jours plus proches sont pris ou en congé" if closer
                  else "le jour ouvré le plus proche"))
    if v.consultant is not None:
        why += " ; consultant déjà désigné"
    if continued:
        why += f" ; même tournée que sa visite précédente (secteur {v.area})"
    return why

