"""Visits owed per contract year (3.2.4): two, plus one per server beyond the first, counted
from the live inventory with in-scope dates; a server added mid-year counts from the next
year by default (servers at the period's start), or at once when the setting counts the
most servers of the period. The figure is stored with its explanation."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.tables import Client, Server
from models.visits import ServerScope, VisitEntitlement
from planning.entitlement import (
    ScopedServer,
    compute,
    due_windows,
    entitlement_for,
    ideal_day,
    period_of,
    plan_year,
    year_containing,
)

Y = period_of(2027)


def servers(n: int) -> list[ScopedServer]:
    return [ScopedServer(f"SRV-{i:02d}", None, None) for i in range(1, n + 1)]


@pytest.mark.parametrize(("count", "owed"), [(1, 2), (2, 3), (5, 6)])
def test_two_visits_plus_one_per_server_beyond_the_first(count: int, owed: int) -> None:
    for counting in ("start", "max"):
        ent = compute(servers(count), *Y, counting)
        assert (ent.servers, ent.owed) == (count, owed)
        assert ent.explanation.startswith(f"2 + ({count} − 1) = {owed}")


def test_no_server_yet_still_owes_the_two_visits() -> None:
    assert compute([], *Y).owed == 2


def test_a_server_added_mid_year_counts_by_the_setting() -> None:
    inventory = [*servers(2), ScopedServer("SRV-NEW", dt.date(2027, 6, 15), None)]
    at_start = compute(inventory, *Y, "start")
    assert at_start.owed == 3
    assert at_start.explanation == "2 + (2 − 1) = 3, serveurs au 01/01/2027 : SRV-01, SRV-02"
    most = compute(inventory, *Y, "max")
    assert most.owed == 4
    assert most.explanation == ("2 + (3 − 1) = 4, le plus de serveurs sur la période, au "
                                "15/06/2027 : SRV-01, SRV-02, SRV-NEW")
    # the next year, it is in scope from the start under both settings
    assert compute(inventory, *period_of(2028), "start").owed == 4


def test_a_server_leaving_mid_year_still_counts_where_it_was_in_scope() -> None:
    inventory = [*servers(2), ScopedServer("SRV-OLD", None, dt.date(2027, 3, 31))]
    assert compute(inventory, *Y, "start").owed == 4
    assert compute(inventory, *Y, "max").owed == 4
    assert compute(inventory, *period_of(2028), "max").owed == 3


def test_a_contract_year_may_start_on_another_day() -> None:
    assert period_of(2027, "04-01") == (dt.date(2027, 4, 1), dt.date(2028, 3, 31))


def test_a_contract_that_starts_on_29_february_has_its_anniversary_on_the_28th() -> None:
    assert period_of(2028, "02-29") == (dt.date(2028, 2, 29), dt.date(2029, 2, 27))
    assert period_of(2029, "02-29") == (dt.date(2029, 2, 28), dt.date(2030, 2, 27))


def test_a_day_belongs_to_the_contract_year_that_started_last() -> None:
    assert year_containing(dt.date(2027, 3, 1), "07-15") == 2026
    assert year_containing(dt.date(2027, 7, 15), "07-15") == 2027
    assert year_containing(dt.date(2027, 12, 31)) == 2027


def test_each_client_counts_its_year_from_its_own_contract_start(engine: Engine) -> None:
    from contracts.store import create_contract

    with Session(engine) as s:
        signed, older = Client(code="ent-july", name="Juillet SA"), Client(code="ent-old",
                                                                          name="Ancien SA")
        s.add_all([signed, older])
        s.commit()
        ids = signed.id or 0, older.id or 0
    create_contract(engine, ids[0], dt.date(2026, 7, 15), by="manager")
    with Session(engine) as s:
        july = entitlement_for(s, ids[0], 2026, "start", "01-01")
        assert (july.period_start, july.period_end) == (dt.date(2026, 7, 15),
                                                        dt.date(2027, 7, 14))
        assert "serveurs au 15/07/2026" in july.explanation
        # a client with no contract record yet keeps the desk's setting
        old = entitlement_for(s, ids[1], 2026, "start", "04-01")
        assert (old.period_start, old.period_end) == (dt.date(2026, 4, 1), dt.date(2027, 3, 31))
        windows = [(v.due_start, v.due_end) for v in plan_year(s, ids[0], 2026)]
        assert windows == [(dt.date(2026, 7, 15), dt.date(2027, 1, 12)),
                           (dt.date(2027, 1, 13), dt.date(2027, 7, 14))]
        s.commit()


def test_due_windows_cover_the_year_and_two_visits_fall_around_months_3_and_9() -> None:
    windows = due_windows(*Y, 2)
    assert windows[0][0] == dt.date(2027, 1, 1) and windows[-1][1] == dt.date(2027, 12, 31)
    # the middle of each half: the turn of months 3 and 4, and of months 9 and 10
    assert [ideal_day(w) for w in windows] == [dt.date(2027, 4, 1), dt.date(2027, 10, 1)]
    assert all(a[1] + dt.timedelta(days=1) == b[0] for a, b in itertools.pairwise(windows))


def test_the_entitlement_is_stored_with_its_explanation_from_the_live_inventory(
    engine: Engine
) -> None:
    with Session(engine) as s:
        client = Client(code="ent-test", name="Entitlement SA")
        s.add(client)
        s.flush()
        cid = client.id or 0
        for name in ("srv-a", "srv-b"):
            s.add(Server(client_id=cid, hostname=name, display_name=name.upper()))
        late = Server(client_id=cid, hostname="srv-c", display_name="SRV-C")
        s.add(late)
        s.flush()
        s.add(ServerScope(server_id=late.id or 0, in_scope_from=dt.date(2027, 5, 2)))
        s.flush()
        row = entitlement_for(s, cid, 2027, "start")
        assert row.owed == 3 and "SRV-A, SRV-B" in row.explanation
        row = entitlement_for(s, cid, 2027, "max")  # recomputed in place, not duplicated
        assert row.owed == 4 and row.counting == "max"
        assert len(s.exec(select(VisitEntitlement).where(
            VisitEntitlement.client_id == cid)).all()) == 1
        made = plan_year(s, cid, 2027, "max")
        assert len(made) == 4 and [v.due_start.month for v in made] == [1, 4, 7, 10]
        assert plan_year(s, cid, 2027, "max") == []  # planned once
        s.commit()
