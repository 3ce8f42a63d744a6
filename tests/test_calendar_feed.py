"""The consultant's iCalendar feed link is per user and can be taken back (issue 21, finding
4: the links never expired and kept working after the consultant was deactivated).

Each scenario goes through the console over HTTP as its users would: the consultant rotates
or revokes the link from "Mes visites", an administrator revokes it or deactivates the user,
and the calendar program (no session) fetches the link."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from itsdangerous import Signer
from sqlalchemy.engine import Engine

from console.feed_links import ics_url
from planning.links import link_secret
from tests.browser.support import Desk, make_desk
from tests.test_visit_console import a_visit, consultant_id

LINK_RE = re.compile(r'id="ics-link">(/calendar/\d+/[^<]+\.ics)<')


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    desk = make_desk(engine, tmp_path)
    a_visit(desk, consultant_id=consultant_id(desk), state="confirmed",
            date=dt.date(2027, 3, 16))
    return desk


def fetch(desk: Desk, url: str) -> int:
    """What the calendar program gets: no cookie, no token, only the link."""
    return desk.client().get(url).status_code


def my_link(http: object) -> str | None:
    found = LINK_RE.search(http.get("/visits/mine").text)  # type: ignore[attr-defined]
    return found.group(1) if found else None


def test_rotating_kills_the_old_link_and_the_new_one_works(desk: Desk) -> None:
    http, token = desk.signed_in("consultant")
    old = my_link(http)
    assert old is not None and fetch(desk, old) == 200
    assert old == my_link(http)  # stable until rotated
    assert http.post("/calendar/rotate", data={"csrf_token": token}).status_code == 303
    page = http.get("/visits/mine").text
    assert "l&#39;ancien ne fonctionne plus" in page  # the flash says what happened
    found = LINK_RE.search(page)
    new = found.group(1) if found else None
    assert new is not None and new != old
    assert fetch(desk, old) == 404
    assert fetch(desk, new) == 200


def test_a_revoked_link_is_dead_until_the_user_makes_a_new_one(desk: Desk) -> None:
    http, token = desk.signed_in("consultant")
    old = my_link(http)
    assert old is not None
    http.post("/calendar/revoke", data={"csrf_token": token})
    assert fetch(desk, old) == 404
    page = http.get("/visits/mine").text
    assert 'id="ics-revoked"' in page and my_link(http) is None  # not remade by a page view
    assert ics_url(desk.app.state.services, consultant_id(desk)) is None
    planner, _ = desk.signed_in("planner")
    assert old not in planner.get("/planning").text
    http.post("/calendar/rotate", data={"csrf_token": token})
    fresh = my_link(http)
    assert fresh is not None and fresh != old and fetch(desk, fresh) == 200


def test_a_deactivated_user_s_link_is_dead_and_stays_dead_after_reactivation(
    desk: Desk,
) -> None:
    cid = consultant_id(desk)
    url = ics_url(desk.app.state.services, cid)
    assert url is not None and fetch(desk, url) == 200
    admin, token = desk.signed_in("admin")
    assert admin.post(f"/admin/users/{cid}", data={"role": "consultant", "full_name": "C",
                                                   "csrf_token": token}).status_code == 303
    assert fetch(desk, url) == 404
    admin.post(f"/admin/users/{cid}", data={"role": "consultant", "active": "on",
                                            "full_name": "C", "csrf_token": token})
    assert fetch(desk, url) == 404  # a link handed out before stays dead
    again = ics_url(desk.app.state.services, cid)
    assert again is None  # revoked: the consultant makes a new one from "Mes visites"


def test_an_administrator_revokes_a_consultant_s_link(desk: Desk) -> None:
    cid = consultant_id(desk)
    url = ics_url(desk.app.state.services, cid)
    assert url is not None
    admin, token = desk.signed_in("admin")
    assert f'id="ics-revoke-{cid}"' in admin.get("/admin/users").text
    admin.post(f"/admin/users/{cid}/calendar-revoke", data={"csrf_token": token})
    assert "conseil&#39;s calendar revoked." in admin.get("/admin/users?lang=en").text
    assert fetch(desk, url) == 404


def test_a_link_signed_the_old_way_opens_nothing(desk: Desk) -> None:
    """Before this change the link signed the user id alone: such links die at upgrade."""
    cid = consultant_id(desk)
    signer = Signer(link_secret(desk.settings), salt="vigie-visit-ics")
    old_style = f"/calendar/{cid}/{signer.get_signature(str(cid)).decode()}.ics"
    assert ics_url(desk.app.state.services, cid) is not None  # a live key exists
    assert fetch(desk, old_style) == 404


def test_another_user_cannot_rotate_or_revoke_someone_else_s_feed(desk: Desk) -> None:
    cid = consultant_id(desk)
    url = ics_url(desk.app.state.services, cid)
    assert url is not None
    tech, token = desk.signed_in("technician")
    assert tech.post("/calendar/revoke", data={"csrf_token": token}).status_code == 403
    assert fetch(desk, url) == 200
