"""Visit dates follow the client site's calendar and the consultant's days: never on a French
public holiday, nor on Good Friday or 26 December for an Alsace-Moselle site; never two
visits the same day for one consultant; none on a leave day. The planner's check (database
side) and the workflow's own validator (its pure core) agree."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from domain.calendar import site_business_days, site_calendar
from messages.visits import VisitInput
from models.tables import Client, Site, User
from models.visits import ConsultantLeave, Visit
from planning.rules import check_dates
from planning.visits import VisitError, create_visit
from workflows.visit_machine import Act, VisitCore

GOOD_FRIDAY_2028 = dt.date(2028, 4, 14)
ST_STEPHEN_2028 = dt.date(2028, 12, 26)  # a Tuesday
VE_DAY_2028 = dt.date(2028, 5, 8)  # Victoire 1945, a Monday
TODAY = dt.date(2028, 1, 3)
NOW = dt.datetime(2028, 1, 3, 9, 0, tzinfo=dt.UTC)


def test_alsace_moselle_sites_close_on_good_friday_and_26_december() -> None:
    for subdiv in ("57", "6AE"):
        cal = site_calendar(subdiv)
        assert not cal.is_business_day(GOOD_FRIDAY_2028)
        assert not cal.is_business_day(ST_STEPHEN_2028)
    lyon = site_calendar(None)
    assert lyon.is_business_day(GOOD_FRIDAY_2028) and lyon.is_business_day(ST_STEPHEN_2028)
    assert not lyon.is_business_day(VE_DAY_2028)
    week = site_business_days("57", dt.date(2028, 12, 25), dt.date(2028, 12, 31))
    assert week == [dt.date(2028, 12, 27), dt.date(2028, 12, 28), dt.date(2028, 12, 29)]


@pytest.fixture
def setup(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        client = Client(code="cal-test", name="Calendrier SA")
        s.add(client)
        s.flush()
        metz = Site(client_id=client.id or 0, name="Metz", calendar_subdiv="57")
        lyon = Site(client_id=client.id or 0, name="Lyon")
        user = User(username="cal-consultant", role="consultant")
        s.add_all([metz, lyon, user])
        s.commit()
        return {"client": client.id or 0, "metz": metz.id or 0, "lyon": lyon.id or 0,
                "user": user.id or 0}


def visit_at(s: Session, ids: dict[str, int], site: str) -> Visit:
    return create_visit(s, ids["client"], "preventive", dt.date(2028, 1, 10),
                        dt.date(2028, 12, 31), site_id=ids[site])


def test_no_proposal_on_a_holiday_of_the_site(engine: Engine, setup: dict[str, int]) -> None:
    with Session(engine) as s:
        metz, lyon = visit_at(s, setup, "metz"), visit_at(s, setup, "lyon")
        ok = [dt.date(2028, 4, 12), dt.date(2028, 4, 13)]
        assert check_dates(s, metz, ok, None, TODAY) is None
        refused = check_dates(s, metz, [ok[0], GOOD_FRIDAY_2028], None, TODAY)
        assert refused and "n'est pas un jour ouvré du site" in refused
        assert "Vendredi saint" in refused
        assert check_dates(s, metz, [ok[0], ST_STEPHEN_2028], None, TODAY)
        assert check_dates(s, lyon, [ok[0], GOOD_FRIDAY_2028], None, TODAY) is None
        assert check_dates(s, lyon, [ok[0], ST_STEPHEN_2028], None, TODAY) is None
        assert check_dates(s, lyon, [ok[0], VE_DAY_2028], None, TODAY)  # France-wide
        assert check_dates(s, lyon, [ok[0], dt.date(2028, 4, 15)], None, TODAY)  # Saturday
        assert "hors de la fenêtre" in (check_dates(s, lyon, [ok[0], dt.date(2029, 1, 3)],
                                                    None, TODAY) or "")
        assert "au plus" not in (check_dates(s, lyon, ok, None, TODAY) or "")
        assert check_dates(s, lyon, ok[:1], None, TODAY) == "Proposer deux ou trois dates"


def test_the_workflow_validator_uses_the_same_site_calendar() -> None:
    inp = VisitInput(visit_id=1, client_id=1, due_start="2028-01-10", due_end="2028-12-31",
                     site_subdiv="57")
    core, _ = VisitCore.open(inp, site_calendar("57"), NOW)
    act = Act(actor="planner", dates=("2028-04-12", GOOD_FRIDAY_2028.isoformat()))
    assert "jour ouvré" in (core.check("propose", act, NOW) or "")
    act = Act(actor="planner", dates=("2028-04-12", "2028-04-13"))
    assert core.check("propose", act, NOW) is None
    longer = VisitInput(visit_id=2, client_id=1, due_start="2028-01-10", due_end="2028-12-31",
                        days=2)
    core, _ = VisitCore.open(longer, site_calendar(None), NOW)
    assert "une journée au plus" in (core.check("propose", act, NOW) or "")


def test_one_visit_a_day_per_consultant_and_none_on_leave(
    engine: Engine, setup: dict[str, int]
) -> None:
    with Session(engine) as s:
        booked, other = visit_at(s, setup, "lyon"), visit_at(s, setup, "metz")
        booked.consultant_id, booked.state = setup["user"], "confirmed"
        booked.date = dt.date(2028, 3, 7)
        s.add(booked)
        s.add(ConsultantLeave(user_id=setup["user"], day=dt.date(2028, 3, 9)))
        s.flush()
        same_day = check_dates(s, other, [dt.date(2028, 3, 6), dt.date(2028, 3, 7)],
                               setup["user"], TODAY)
        assert same_day and "une visite par jour au plus" in same_day
        on_leave = check_dates(s, other, [dt.date(2028, 3, 8), dt.date(2028, 3, 9)],
                               setup["user"], TODAY)
        assert on_leave and "congé" in on_leave
        assert check_dates(s, other, [dt.date(2028, 3, 8), dt.date(2028, 3, 10)],
                           setup["user"], TODAY) is None
        # dates offered to another client and still awaiting its answer hold the day too
        other.consultant_id, other.state = setup["user"], "awaiting_client"
        other.proposed_dates = ["2028-03-14", "2028-03-15"]
        s.add(other)
        third = visit_at(s, setup, "lyon")
        assert check_dates(s, third, [dt.date(2028, 3, 14), dt.date(2028, 3, 16)],
                           setup["user"], TODAY)


def test_a_preventive_visit_lasts_one_day_at_most(engine: Engine, setup: dict[str, int]) -> None:
    with Session(engine) as s, pytest.raises(VisitError, match="une journée au plus"):
        create_visit(s, setup["client"], "preventive", dt.date(2028, 1, 10),
                     dt.date(2028, 3, 31), days=2)
    with Session(engine) as s:
        assert create_visit(s, setup["client"], "onboarding", dt.date(2028, 1, 10),
                            dt.date(2028, 3, 31), days=2).days == 2
