"""The console and site incidents, without Temporal: the queue folds an incident's children
under it, the incident's page lists them with what became of each, and a child promoted to a
case of its own links back to its incident."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from models.db import session_scope
from models.incidents import IncidentChild
from models.tables import Case
from tests.browser.support import MONDAY_9H, Desk, add_case, make_desk
from tests.test_console_pages import queue_ids


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(engine, tmp_path)


def site_outage(desk: Desk) -> tuple[int, int, int]:
    """An incident of client A's site with three children, one promoted to a case."""
    a = desk.clients["client-a"]
    incident = add_case(desk.engine, a, title="Site Siège injoignable — incident de site",
                        criticality="major", family="site", host="")
    promoted = add_case(desk.engine, a, title="SRV-APP01 — CPU 99 %", family="performance",
                        host="srv-app01", opened_at=MONDAY_9H + timedelta(hours=1))
    with Session(desk.engine) as s:
        wid = s.get(Case, promoted).workflow_id  # type: ignore[union-attr]
    with session_scope(desk.engine) as s:
        for n, (host, state, origin) in enumerate((("srv-dc01", "rewatched", "absence"),
                                                   ("srv-app01", "promoted", "event"),
                                                   ("srv-fs01", "recovered", "event"))):
            s.add(IncidentChild(incident_case_id=incident, fingerprint=f"fp-{n}", host=host,
                                title=f"{host.upper()} — alerte {n}", state=state,
                                origin=origin, events=n + 1, first_at=MONDAY_9H,
                                last_at=MONDAY_9H,
                                case_workflow_id=wid if state == "promoted" else None))
    other = add_case(desk.engine, desk.clients["client-b"], criticality="minor")
    return incident, promoted, other


def test_the_queue_folds_an_incidents_children_under_it(desk: Desk) -> None:
    incident, promoted, other = site_outage(desk)
    http, _ = desk.signed_in("technician")
    html = http.get("/queue").text
    assert set(queue_ids(html)) == {incident, promoted, other}  # children are no rows
    assert html.count('data-children="3"') == 1
    assert "3 alertes rattachées" in html and "SRV-FS01 — alerte 2" in html
    live = http.get("/queue/live").json()["rows"]
    assert 'data-children="3"' in live
    english = http.get("/queue?lang=en").text
    assert "3 attached alerts" in english


def test_the_incident_page_lists_its_children_and_a_promoted_case_links_back(
        desk: Desk) -> None:
    incident, promoted, _ = site_outage(desk)
    http, _ = desk.signed_in("technician")
    page = http.get(f"/cases/{incident}").text
    assert 'id="incident-children"' in page
    assert page.count("data-child-state=") == 3
    assert f'href="/cases/{promoted}"' in page  # the child that became a case
    assert "toujours en défaut au retour du lien" in page
    child_page = http.get(f"/cases/{promoted}").text
    assert 'id="incident-parent"' in child_page and f'href="/cases/{incident}"' in child_page
    english = http.get(f"/cases/{incident}?lang=en").text
    assert "Alerts attached to the site incident" in english
    assert "still failing when the link came back" in english


def storm_of(desk: Desk, clients: list[str], spread: timedelta = timedelta(minutes=3)
             ) -> list[int]:
    return [add_case(desk.engine, desk.clients[code], title="Agent de sauvegarde arrêté",
                     family="backup", opened_at=MONDAY_9H + n * spread)
            for n, code in enumerate(clients)]


def test_the_same_check_failing_at_three_clients_is_one_storm_banner(desk: Desk) -> None:
    storm_of(desk, ["client-a", "client-b", "client-c"])
    add_case(desk.engine, desk.clients["client-a"], family="backup",  # hours before: not in it
             opened_at=MONDAY_9H - timedelta(hours=3))
    http, _ = desk.signed_in("technician")
    html = http.get("/queue").text
    assert html.count('class="storm-banner"') == 1
    assert '<span class="storm-count">3</span>' in html
    assert "Storm" in http.get("/queue?lang=en").text


def test_two_clients_or_a_slow_drift_are_no_storm(desk: Desk) -> None:
    storm_of(desk, ["client-a", "client-b"])
    storm_of(desk, ["client-a", "client-b", "client-c"], spread=timedelta(hours=1))
    http, _ = desk.signed_in("technician")
    assert "storm-banner" not in http.get("/queue").text


def test_a_bulk_action_refused_or_unknown_is_never_a_500(desk: Desk) -> None:
    storm_of(desk, ["client-a", "client-b", "client-c"])
    http, csrf = desk.signed_in("technician")
    bad = http.post("/queue/storm", data={"csrf_token": csrf, "storm": "backup:disk_free",
                                          "action": "close"})
    assert bad.status_code == 422
    no_class = http.post("/queue/storm", data={"csrf_token": csrf, "storm": "backup:disk_free",
                                               "action": "classify"})
    assert no_class.status_code == 422
    # no Temporal here: every case refuses, each counted, none changed
    done = http.post("/queue/storm", data={"csrf_token": csrf, "storm": "backup:disk_free",
                                           "action": "assign"})
    assert done.status_code == 303
    assert "0 cas, 3 refusés" in http.get("/queue").text
    gone = http.post("/queue/storm", data={"csrf_token": csrf, "storm": "nothing:here",
                                           "action": "assign"})
    assert gone.status_code == 303
    assert "0 cas, 0 refusés" in http.get("/queue").text
    readonly, csrf_m = desk.signed_in("manager")
    assert readonly.post("/queue/storm", data={"csrf_token": csrf_m, "storm": "backup:disk_free",
                                               "action": "assign"}).status_code == 403
