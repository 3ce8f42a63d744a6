"""Benchmark of the year's visit planning: the exact minimum, the greedy baseline and the
exact planner, on the same synthetic years.

    python -m bench.planner [--clients 300] [--seeds 1-8] [--big 600] [--consultants 6]

A synthetic year: 300 clients with 1 to 9 servers (about 1,500 visits owed, each with its
due window spread over the year), sites in 15 postcode areas, one in ten in Alsace-Moselle
(its own holidays), 6 consultants with about 25 leave days each, planned the day before the
year starts. For each seed the bench computes, **by itself**, the fewest visits that must be
outside their window (a plain max-flow: visits to the business days of their window, each
day taking as many visits as consultants are free, ``n - max flow``), then runs each planner
(wall time includes building its model) and checks its plan with its own checker (leave,
one visit a day per consultant, closed days of the site, past dates, unknown visits). It
then measures the suggestion's rows: sendable (2-3 dates), pairwise disjoint per consultant.
The last line is the summary:

    planner: visits=<n> hard_violations=0 seeds_at_minimum=<k>/8 wall_s_600=<s>
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import time
from collections import Counter
from functools import cache

from domain.calendar import site_calendar
from planning.entitlement import due_windows, ideal_day, owed_for, period_of
from planning.optimal import optimal
from planning.suggest import (
    Consultant,
    Plan,
    Problem,
    VisitNeed,
    greedy,
    load_spread,
    mean_days_from_ideal,
    offers,
    out_of_window,
    trips,
)

AREAS = ("01", "07", "26", "38", "42", "69", "73", "74", "21", "71", "39", "25", "57", "67", "68")
ALSACE_MOSELLE = {"57": "57", "67": "6AE", "68": "6AE"}


def synthetic(clients: int, consultants: int, seed: int, year: int = 2027) -> Problem:
    rng = random.Random(seed)
    start, end = period_of(year)
    visits: list[VisitNeed] = []
    key = 0
    for cid in range(1, clients + 1):
        servers = rng.choice([1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9])
        # one site in ten is in Alsace-Moselle, with the local holidays
        area = rng.choice(AREAS[-3:]) if rng.random() < 0.1 else rng.choice(AREAS[:-3])
        for window in due_windows(start, end, owed_for(servers)):
            key += 1
            visits.append(VisitNeed(key=key, client_id=cid, start=window[0], end=window[1],
                                    ideal=ideal_day(window), subdiv=ALSACE_MOSELLE.get(area),
                                    area=area))
    people = []
    for c in range(1, consultants + 1):
        leave: set[dt.date] = set()
        while len(leave) < 25:  # a few weeks of holidays and odd days
            first = start + dt.timedelta(days=rng.randrange(0, 360))
            for i in range(rng.choice([1, 1, 2, 5])):
                leave.add(first + dt.timedelta(days=i))
        people.append(Consultant(id=c, leave=frozenset(leave)))
    return Problem(tuple(visits), tuple(people), horizon_end=end + dt.timedelta(days=120))


def exact_minimum(problem: Problem, anywhere: bool = False) -> int:
    """The fewest visits outside their window, by a max-flow of its own (not the planner's
    code path): source -> visit (1) -> open day of its window (1) -> sink (free consultants
    that day). Every consultant can do every visit, so a day's count is all that matters.
    ``anywhere``: days up to the horizon instead, so the fewest visits left unplaced."""
    from ortools.graph.python import max_flow

    cal = {}
    days: dict[dt.date, int] = {}
    tails: list[int] = []
    heads: list[int] = []
    n = len(problem.visits)
    for i, v in enumerate(problem.visits, start=1):
        cal.setdefault(v.subdiv, site_calendar(v.subdiv))
        d, last = v.start, problem.horizon_end if anywhere else v.end
        while d <= last:
            if cal[v.subdiv].is_business_day(d):
                node = days.setdefault(d, n + 1 + len(days))
                tails.append(i)
                heads.append(node)
            d += dt.timedelta(days=1)
    sink = n + 1 + len(days)
    flow = max_flow.SimpleMaxFlow()
    for i in range(1, n + 1):
        flow.add_arc_with_capacity(0, i, 1)
    for t, h in zip(tails, heads, strict=True):
        flow.add_arc_with_capacity(t, h, 1)
    for d, node in days.items():
        free = sum(1 for c in problem.consultants if d not in c.leave and d not in c.busy)
        flow.add_arc_with_capacity(node, sink, free)
    assert flow.solve(0, sink) == flow.OPTIMAL
    return n - flow.optimal_flow()


@cache
def _open(subdiv: str | None, day: dt.date) -> bool:
    """Is the site open that day (its own calendar, straight from ``domain.calendar``)."""
    return site_calendar(subdiv).is_business_day(day)


def hard_violations(problem: Problem, plan: Plan, today: dt.date) -> list[str]:
    """The bench's own checker of a plan's hard rules."""
    needs = {v.key: v for v in problem.visits}
    cons = {c.id: c for c in problem.consultants}
    bad: list[str] = []
    per_day = Counter((b.consultant, b.day) for b in plan.bookings.values())
    bad += [f"{c} x{k} on {d}" for (c, d), k in per_day.items() if k > 1]
    for b in plan.bookings.values():
        v, c = needs.get(b.visit), cons.get(b.consultant)
        if v is None or c is None:
            bad.append(f"unknown visit or consultant {b}")
            continue
        if b.day in c.leave or b.day in c.busy:
            bad.append(f"{b.visit}: consultant {c.id} not free on {b.day}")
        if not _open(v.subdiv, b.day):
            bad.append(f"{b.visit}: site closed on {b.day}")
        if b.day <= today or b.day < v.start:
            bad.append(f"{b.visit}: {b.day} in the past or before its window")
    return bad


def offer_faults(problem: Problem, plan: Plan, rows: dict[int, tuple[dt.date, ...]]) -> int:
    """Offered days a consultant would be asked twice, or that are held, closed or booked."""
    needs = {v.key: v for v in problem.visits}
    cons = {c.id: c for c in problem.consultants}
    seen: Counter[tuple[int, dt.date]] = Counter()
    faults = 0
    for key, days in rows.items():
        if not days:
            continue
        c, v = cons[plan.bookings[key].consultant], needs[key]
        faults += not 2 <= len(days) <= 3
        for d in days:
            seen[(c.id, d)] += 1
            faults += d in c.leave or d in c.busy or d < v.start
            faults += not _open(v.subdiv, d)
    return faults + sum(k - 1 for k in seen.values())


def lateness(problem: Problem, plan: Plan) -> int:
    needs = {v.key: v for v in problem.visits}
    return sum(max(0, (b.day - needs[b.visit].end).days) for b in plan.bookings.values())


def run(clients: int, consultants: int, seed: int, seconds: float) -> dict[str, float]:
    problem = synthetic(clients, consultants, seed)
    today = min(v.start for v in problem.visits) - dt.timedelta(days=1)
    minimum = exact_minimum(problem)
    least_unplaced = exact_minimum(problem, anywhere=True)
    out: dict[str, float] = {"visits": len(problem.visits), "minimum": minimum, "hard": 0}
    for name, solve in (("greedy", greedy),
                        ("optimal", lambda p: optimal(p, time_limit_s=seconds))):
        t0 = time.perf_counter()
        plan = solve(problem)
        wall = time.perf_counter() - t0
        bad = hard_violations(problem, plan, today)
        out["hard"] += len(bad)
        out[name] = out_of_window(problem, plan)
        out[f"{name}_s"] = wall
        print(f"  {name:7s} out_of_window={out[name]} (minimum {minimum}) "
              f"unplaced={len(plan.unplaced)} (least {least_unplaced}) "
              f"lateness_days={lateness(problem, plan)} "
              f"days_from_ideal={mean_days_from_ideal(problem, plan):.1f} "
              f"trips={trips(problem, plan)} load_spread={load_spread(problem, plan)} "
              f"hard_violations={len(bad)} wall_s={wall:.2f}")
        for line in bad[:5]:
            print("     ", line)
    t0 = time.perf_counter()
    rows = offers(problem, plan)
    sendable = sum(1 for d in rows.values() if d)
    soon = [k for k, b in plan.bookings.items() if b.day <= today + dt.timedelta(days=42)]
    faults = offer_faults(problem, plan, rows)
    out["hard"] += faults
    print(f"  rows    sendable={sendable}/{len(rows)} "
          f"three_dates={sum(1 for d in rows.values() if len(d) == 3)} "
          f"sendable_first_6_weeks={sum(1 for k in soon if rows[k])}/{len(soon)} "
          f"faults={faults} wall_s={time.perf_counter() - t0:.2f}")
    return out


def console_suggestion(clients: int, consultants: int, seed: int) -> float:
    """Wall time of the console's suggestion page (``/planning/suggest``, the exact planner)
    over the synthetic year stored in a fresh SQLite database: reading the visits, leave and
    held days, planning, the rows' dates and the page, as a planner's browser asks for it."""
    import re
    import tempfile
    from pathlib import Path

    from fastapi.testclient import TestClient
    from sqlmodel import Session, select

    from base.settings import Settings
    from console.app import create_app
    from console.auth import hash_password
    from models.db import make_engine, migrate
    from models.tables import Client, Site, User
    from models.visits import ConsultantLeave, SitePlace, Visit

    problem = synthetic(clients, consultants, seed)
    password = "bench password, not secret"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'planner.db'}"
        migrate(url)
        engine = make_engine(url)
        with Session(engine) as s:
            site_of: dict[int, int] = {}
            for v in problem.visits:
                if v.client_id in site_of:
                    continue
                client = Client(code=f"C{v.client_id:04d}", name=f"Client {v.client_id}")
                s.add(client)
                s.flush()
                site = Site(client_id=client.id or 0, name="Siège", calendar_subdiv=v.subdiv)
                s.add(site)
                s.flush()
                s.add(SitePlace(site_id=site.id or 0, postcode=f"{v.area}000"))
                site_of[v.client_id] = site.id or 0
            ids = {}
            for c in problem.consultants:
                user = User(username=f"consultant{c.id}", role="consultant")
                s.add(user)
                s.flush()
                ids[c.id] = user.id or 0
                s.add_all(ConsultantLeave(user_id=user.id or 0, day=d) for d in c.leave)
            s.add(User(username="planner", role="planner", password_hash=hash_password(password)))
            clients_by_code = {f"C{k:04d}": k for k in site_of}
            client_ids = {clients_by_code[c.code]: c.id for c in s.exec(select(Client)).all()}
            s.add_all(Visit(client_id=client_ids[v.client_id] or 0, site_id=site_of[v.client_id],
                            contract_year=v.start.year, due_start=v.start, due_end=v.end)
                      for v in problem.visits)
            s.commit()
        app = create_app(Settings(var_dir=Path(tmp), temporal_address="",
                                  secret_key="bench-secret"), engine)
        http = TestClient(app, follow_redirects=False)
        token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/login").text)
        assert token
        http.post("/login", data={"username": "planner", "password": password,
                                  "csrf_token": token[1]})
        year = min(v.start for v in problem.visits).year
        t0 = time.perf_counter()
        page = http.get(f"/planning/suggest?year={year}")
        wall = time.perf_counter() - t0
        assert page.status_code == 200, page.status_code
        sent = page.text.count("Proposer ces dates")
        print(f"  console /planning/suggest rows={page.text.count('<tr data-visit=')} "
              f"sendable={sent} wall_s={wall:.2f}")
        engine.dispose()
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--seeds", default="1-8", help="a range a-b or one seed")
    ap.add_argument("--big", type=int, default=600, help="clients of the last run (0: none)")
    ap.add_argument("--consultants", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=55.0, help="the planner's time limit")
    ap.add_argument("--console", type=int, default=300,
                    help="clients of the console's suggestion page run (0: none)")
    args = ap.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    at_min, hard, visits = 0, 0, 0
    for seed in seeds:
        print(f"seed={seed} clients={args.clients}")
        r = run(args.clients, args.consultants, seed, args.seconds)
        at_min += r["optimal"] == r["minimum"]
        hard += int(r["hard"])
        visits = visits or int(r["visits"])
    wall_big = 0.0
    if args.big:
        print(f"seed=1 clients={args.big}")
        r = run(args.big, args.consultants, 1, args.seconds)
        hard += int(r["hard"])
        wall_big = r["optimal_s"]
    if args.console:
        print(f"console clients={args.console}")
        console_suggestion(args.console, args.consultants, 1)
    print(f"planner: visits={visits} hard_violations={hard} "
          f"seeds_at_minimum={at_min}/{len(seeds)} wall_s_{args.big}={wall_big:.1f}")


if __name__ == "__main__":
    main()
