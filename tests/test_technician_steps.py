"""A technician's day on the console without Temporal (issue 10): the queue's tabs count what
they list, a finished case shows no running clock, the call report is on the timeline, the
case links to its workflow in the Temporal UI, and the portal shows clients only their
triaged cases. The same steps with the workflow behind them are in tests/browser/."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from models.db import session_scope
from models.tables import Case
from tests.browser.support import MONDAY_9H, Desk, add_case, make_desk


@pytest.fixture
def desk(sqlite_engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(sqlite_engine, tmp_path, temporal_ui_url="http://ui.test:8233/")


def ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-case="(\d+)"', html)]


def tab_counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="(\w+)">(\d+)<', html)}


def test_the_queue_tabs_count_the_rows_they_list_under_the_other_filters(desk: Desk) -> None:
    a, b = desk.clients["client-a"], desk.clients["client-b"]
    mine = [add_case(desk.engine, a, criticality="minor") for _ in range(2)]
    add_case(desk.engine, a, criticality="major")
    add_case(desk.engine, b, criticality="minor")
    add_case(desk.engine, b)
    http, _ = desk.signed_in("technician")
    for query in ("", f"client={a}", f"client={b}", "state=classified"):
        page = http.get(f"/queue?{query}").text
        counts = tab_counts(page)
        assert counts["total"] == len(ids(page)), query
        for cls in ("major", "minor", "significant", "no_impact", "unclassified"):
            listed = ids(http.get(f"/queue?{query}&class={cls}").text)
            assert counts[cls] == len(listed), (query, cls)
        live = http.get(f"/queue/live?{query}").json()
        assert live["counts"]["total"] == len(ids(live["rows"])) == live["total"]
    assert tab_counts(http.get(f"/queue?client={a}").text)["minor"] == len(mine)
    # the title still counts the whole desk
    assert http.get(f"/queue/live?client={b}").json()["title"].startswith("(5 · 1!)")


def set_deadline(engine: Engine, case_id: int, state: str) -> None:
    with session_scope(engine) as s:
        c = s.get(Case, case_id)
        assert c is not None
        c.l1_deadline, c.state = MONDAY_9H + timedelta(minutes=90), state
        s.add(c)


def test_a_resolved_case_shows_no_running_clock_only_how_its_diagnosis_ended(
    desk: Desk,
) -> None:
    a = desk.clients["client-a"]
    ledger = [
        (5, "classify", {"criticality": "major"}),
        (10, "register_demande", {"demande_ref": "DEM-000001"}),
        (20, "record_contact", {"channel": "phone", "outcome": "reached"}),
        (30, "start_l1", {}),
    ]
    running = add_case(desk.engine, a, criticality="major", ledger=ledger)
    set_deadline(desk.engine, running, "l1_diagnosis")
    done = add_case(desk.engine, a, criticality="major",
                    ledger=[*ledger, (72, "resolve", {})])
    set_deadline(desk.engine, done, "resolved")
    http, _ = desk.signed_in("technician")
    assert "data-deadline=" in http.get(f"/cases/{running}").text
    page = http.get(f"/cases/{done}").text  # the same page after a restart: from the ledger
    assert "data-deadline=" not in page and 'class="countdown"' not in page
    ended = re.search(r'<dd class="l1-ended">(.*?)</dd>', page, re.S)
    assert ended and "diagnostic N1 terminé en 0 h 42" in ended.group(1)


def test_the_call_report_is_on_the_timeline_and_the_case_links_its_workflow(
    desk: Desk,
) -> None:
    a = desk.clients["client-a"]
    case_id = add_case(desk.engine, a, criticality="minor", ledger=[
        (5, "classify", {"criticality": "minor"}),
        (9, "record_contact", {"channel": "phone", "outcome": "reached",
                               "text": "Mme Durand <purge> le spool ce soir"}),
    ])  # fmt: skip
    http, _ = desk.signed_in("technician")
    page = http.get(f"/cases/{case_id}").text
    report = re.search(r'<blockquote class="report">(.*?)</blockquote>', page, re.S)
    assert report and report.group(1) == "Mme Durand &lt;purge&gt; le spool ce soir"
    with session_scope(desk.engine) as s:
        c = s.get(Case, case_id)
        assert c is not None
        wid, run, ref = c.workflow_id, c.run_id, c.ref
    link = re.search(r'id="workflow-link"', page)
    assert link and f"<code>{wid}</code>" in page
    assert f'href="http://ui.test:8233/namespaces/default/workflows/{wid}/{run}/history"' in page
    assert f"workflows?query=CaseRef%3D%22{ref}%22" in page


def test_the_portal_shows_clients_their_triaged_cases_only(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    desk = make_desk(sqlite_engine, tmp_path)
    a = desk.clients["client-a"]
    shown = add_case(desk.engine, a, criticality="minor", title="disque presque plein")
    raw = add_case(desk.engine, a, title="antivirus : menace détectée")
    quiet = add_case(desk.engine, a, criticality="no_impact", title="sans impact ici")
    http, _ = desk.signed_in("client")
    portal = http.get("/portal").text
    assert "disque presque plein" in portal
    assert "antivirus" not in portal and "sans impact ici" not in portal
    assert http.get(f"/portal/cases/{shown}").status_code == 200
    for hidden in (raw, quiet):
        assert http.get(f"/portal/cases/{hidden}").status_code == 404
        assert http.get(f"/api/cases/{hidden}").status_code == 404
    assert [c["id"] for c in http.get("/api/cases?all=true").json()] == [shown]


def test_a_policy_can_show_clients_every_case(sqlite_engine: Engine, tmp_path: Path) -> None:
    desk = make_desk(sqlite_engine, tmp_path, portal_cases="all")
    a = desk.clients["client-a"]
    raw = add_case(desk.engine, a, title="antivirus : menace détectée")
    http, _ = desk.signed_in("client")
    assert "antivirus" in http.get("/portal").text
    assert http.get(f"/portal/cases/{raw}").status_code == 200
    desk2 = make_desk(sqlite_engine, tmp_path, portal_cases="triaged_with_no_impact")
    quiet = add_case(desk2.engine, a, criticality="no_impact", title="sans impact ici")
    http2, _ = desk2.signed_in("client")
    page = http2.get("/portal").text
    assert "sans impact ici" in page and "antivirus" not in page
    assert http2.get(f"/portal/cases/{quiet}").status_code == 200


def test_the_api_shows_a_client_user_no_more_than_the_portal_page(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    desk = make_desk(sqlite_engine, tmp_path)
    case_id = add_case(desk.engine, desk.clients["client-a"], criticality="minor",
                       assignee="tech", ledger=[
        (5, "classify", {"criticality": "minor"}),
        (6, "note", {"text": "client pénible, rappeler tard"}),
        (9, "record_contact", {"channel": "phone", "outcome": "reached",
                               "text": "compte rendu interne"}),
    ])  # fmt: skip
    http, _ = desk.signed_in("client")
    api = http.get(f"/api/cases/{case_id}").json()
    assert [line["action"] for line in api["history"]] == ["open", "classify", "record_contact"]
    body = str(api)
    for secret in ("pénible", "compte rendu interne", "tech", "sla", "ledger"):
        assert secret not in body, secret
    staff, _ = desk.signed_in("technician")
    assert "compte rendu interne" in str(staff.get(f"/api/cases/{case_id}").json())
