"""The manager's SLA view: figures per client, technician, class and period from the ledger,
numbers that link to their cases, each case's derivation, CSV and PDF exports, and the cache
kept equal to what ``domain.sla`` computes from the ledger."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from console.sla import effective_policy, to_entries
from console.slacache import SUMMARY_FIGURES, Period, Selection, refresh, summarize
from domain.sla import aggregate, compute
from models.auth import Policy, SlaCase
from models.db import session_scope
from models.tables import AuditEvent
from models.types import utcnow
from tests.browser.support import MONDAY_9H, Desk, add_case, make_desk

NOVEMBER = "from=2026-11-01&to=2026-11-30"


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(engine, tmp_path)


@pytest.fixture
def cases(desk: Desk) -> dict[str, int]:
    """Five November cases with known figures, and one in October."""
    a, b, c = (desk.clients[k] for k in ("client-a", "client-b", "client-c"))
    return {
        # major: triage 10 min, contact 20, demande 15, L1 65 min (> 1 h: breach), escalated
        "major": add_case(desk.engine, a, criticality="major", ledger=[
            (10, "classify", {"criticality": "major"}),
            (15, "register_demande", {"demande_ref": "DEM-000001"}),
            (20, "record_contact", {"channel": "phone", "outcome": "reached"}),
            (25, "start_l1", {}),
            (90, "escalate_l2", {"by": "timer", "actor": "system"}),
            (200, "resolve", {}),
        ]),
        # minor, triaged by n2 after 2 h (breach), mail sent 30 min later
        "minor": add_case(desk.engine, a, criticality="minor", ledger=[
            (120, "classify", {"criticality": "minor", "actor": "n2"}),
            (150, "record_contact", {"channel": "email", "outcome": "sent", "actor": "n2"}),
            (300, "resolve", {"actor": "n2"}),
        ]),
        # nobody triaged it since a Friday morning: a running breach
        "untriaged": add_case(desk.engine, b, opened_at=MONDAY_9H - timedelta(days=3)),
        # significant: Demande after 3 h 20 (breach), delivery receipt counts as the contact
        "significant": add_case(desk.engine, b, criticality="significant", state="closed",
                                closed=True, ledger=[
            (30, "classify", {"criticality": "significant"}),
            (200, "register_demande", {"demande_ref": "DEM-000002"}),
            (210, "communication", {"channel": "email", "status": "delivered"}),
            (400, "resolve", {}),
            (500, "close", {}),
        ]),
        "no_impact": add_case(desk.engine, c, criticality="no_impact", ledger=[
            (5, "classify", {"criticality": "no_impact"}),
            (6, "resolve", {}),
        ]),
        "october": add_case(desk.engine, a, criticality="minor",
                            opened_at=MONDAY_9H - timedelta(days=49), ledger=[
            (5, "classify", {"criticality": "minor"}),
        ]),
    }  # fmt: skip


def ref(case_id: int) -> str:
    return f"VIG-{case_id:06d}"


def refs_in(html: str) -> set[str]:
    return set(re.findall(r">(VIG-\d{6})<", html))


def row_cells(html: str, label: str) -> str:
    """The HTML of one row of the SLA table, by its group label."""
    match = re.search(rf'<th scope="row">{re.escape(label)}</th>(.*?)</tr>', html, re.S)
    assert match, label
    return match.group(1)


def test_sla_view_per_client_with_numbers_linking_to_their_cases(
    desk: Desk, cases: dict[str, int]
) -> None:
    http, _ = desk.signed_in("manager")
    page = http.get(f"/sla?{NOVEMBER}&by=client")
    assert page.status_code == 200
    html = page.text
    durand = row_cells(html, "Cabinet Durand &amp; Associés")
    assert "metric=count" in durand and ">2</a>" in durand
    assert "1 h 05 / 2 h 00" in durand  # triage: median of 10 min and 2 h, p90 2 h
    assert "1 (50,0\u00a0%)" in durand  # escalated to level 2 (French decimals)
    total = row_cells(html, "Total")
    assert ">5</a>" in total and "1 (20,0\u00a0%)" in total
    # follow the total's "cases in breach" link
    link = re.search(r'href="(/sla/cases\?[^"]*metric=breached[^"]*)"', total)
    assert link
    behind = http.get(link.group(1).replace("&amp;", "&")).text
    assert refs_in(behind) == {
        ref(cases[k]) for k in ("major", "minor", "untriaged", "significant")
    }
    # and from a case, its derivation from the ledger
    assert f'href="/cases/{cases["major"]}/sla"' in behind
    derivation = http.get(f"/cases/{cases['major']}/sla").text
    assert "Du début du diagnostic N1 n° 5" in derivation and "dépassé de 0 h 05" in derivation
    assert "escalade en niveau 2 n° 6 par la minuterie" in derivation


def test_numbers_behind_a_figure_and_a_group(desk: Desk, cases: dict[str, int]) -> None:
    http, _ = desk.signed_in("manager")

    def behind(query: str) -> set[str]:
        r = http.get(f"/sla/cases?{NOVEMBER}&{query}")
        assert r.status_code == 200
        return refs_in(r.text)

    assert behind("metric=time_to_triage:breach") == {ref(cases["minor"]), ref(cases["untriaged"])}
    assert behind("metric=l1_duration:breach") == {ref(cases["major"])}
    assert behind("metric=time_to_demande:breach") == {ref(cases["significant"])}
    assert behind("metric=escalated") == {ref(cases["major"])}
    assert behind("metric=time_to_triage:measured&tech=n2") == {ref(cases["minor"])}
    assert behind(f"client={desk.clients['client-c']}") == {ref(cases["no_impact"])}
    assert behind("class=unclassified") == {ref(cases["untriaged"])}
    assert http.get(f"/sla/cases?{NOVEMBER}&metric=bogus").status_code == 422


@pytest.mark.parametrize("by", ["technician", "criticality", "week", "month"])
def test_other_groupings(desk: Desk, cases: dict[str, int], by: str) -> None:
    http, _ = desk.signed_in("manager")
    html = http.get(f"/sla?{NOVEMBER}&by={by}").text
    expected = {
        "technician": ["tech", "n2"],
        "criticality": [
            "majeur/étendu",
            "mineur/modéré",
            "significatif",
            "sans impact",
            "non classé",
        ],
        "week": ["sem. 16/11/2026", "sem. 23/11/2026"],
        "month": ["11/2026"],
    }[by]
    for label in expected:
        assert f'<th scope="row">{label}</th>' in html, label
    assert '<svg class="chart"' in html  # distribution and trend, drawn on the server


def test_csv_and_pdf_exports(desk: Desk, cases: dict[str, int]) -> None:
    http, _ = desk.signed_in("manager")
    r = http.get(f"/sla/export.csv?{NOVEMBER}&by=client")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:2] == ["Groupe", "Cas"]
    by_group = {row[0]: row for row in rows[1:]}
    assert by_group["Total"][1] == "5" and by_group["Total"][-1] == "4"
    assert by_group["Cabinet Durand & Associés"][2] == "65.0"  # triage median, minutes
    detail = http.get(f"/sla/export.csv?{NOVEMBER}&detail=cases")
    lines = list(csv.reader(io.StringIO(detail.content.decode("utf-8-sig")), delimiter=";"))
    assert {line[0] for line in lines[1:]} == {ref(cases[k]) for k in cases if k != "october"}
    # a manager's spreadsheet reads the figures' names, in the page's language
    assert lines[0][:2] == ["cas", "client"] and "Délai de classification (min)" in lines[0]
    english = http.get(f"/sla/export.csv?{NOVEMBER}&detail=cases&lang=en")
    header = next(csv.reader(io.StringIO(english.content.decode("utf-8-sig")), delimiter=";"))
    assert header[:2] == ["case", "client"] and "Time to triage (min)" in header
    assert not [h for h in header if "_" in h], header  # no internal name
    pdf = http.get(f"/sla/export.pdf?{NOVEMBER}&by=client")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")  # its content: tests/test_sla_pdf.py


def test_bad_parameters_are_refused(desk: Desk) -> None:
    http, _ = desk.signed_in("manager")
    assert http.get("/sla?by=planet").status_code == 422
    assert http.get("/sla?from=yesterday").status_code == 422
    assert http.get("/sla?from=2020-01-01&to=2026-01-01").status_code == 422


def test_the_cache_agrees_with_the_domain_aggregate(desk: Desk, cases: dict[str, int]) -> None:
    now = utcnow()
    refresh(desk.engine, desk.settings)
    sel = Selection(
        Period(MONDAY_9H.date().replace(day=1), MONDAY_9H.date().replace(day=30), "Europe/Paris")
    )
    total = summarize(desk.engine, sel, "client", now=now).total
    with Session(desk.engine) as s:
        policy = effective_policy(s, desk.settings)
        slas = []
        for key, case_id in cases.items():
            if key == "october":
                continue
            rows = list(s.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)).all())
            slas.append(compute(to_entries(rows), policy.calendar, policy.targets, now=now))
    expected = aggregate(slas)
    assert total.count == expected["count"] == 5
    assert total.escalated == expected["escalated"]
    for name in SUMMARY_FIGURES:  # the figures with a target (resolution has none)
        figure, mine = expected["figures"][name], total.figure(name)
        assert mine["measured"] == figure["measured"], name
        assert mine["median_seconds"] == figure["median_seconds"], name
        assert mine["p90_seconds"] == figure["p90_seconds"], name
        assert mine["breaches"] == figure["breaches"], name


def test_the_cache_follows_the_ledger_and_the_policy(desk: Desk, cases: dict[str, int]) -> None:
    first = refresh(desk.engine, desk.settings)
    assert first.rebuilt and first.cases == len(cases)
    assert refresh(desk.engine, desk.settings).cases == 0  # nothing new: one indexed read
    with session_scope(desk.engine) as s:
        s.add(
            AuditEvent(
                case_id=cases["untriaged"],
                seq=2,
                at=MONDAY_9H - timedelta(days=3) + timedelta(minutes=30),
                action="classify",
                actor="tech",
                data={"criticality": "minor"},
            )
        )
    again = refresh(desk.engine, desk.settings)
    assert not again.rebuilt and again.cases >= 1
    with Session(desk.engine) as s:
        row = s.get(SlaCase, cases["untriaged"])
        assert row is not None and row.triage_s == 1800 and row.technician == "tech"
        assert row.triage_due is None and not row.triage_breach
        assert s.get(SlaCase, cases["major"]).l1_breach  # type: ignore[union-attr]
    # a longer L1 in a new policy version: everything is recomputed with it
    with session_scope(desk.engine) as s:
        s.add(Policy(version=1, l1_minutes=90, created_by="admin"))
    rebuilt = refresh(desk.engine, desk.settings)
    assert rebuilt.rebuilt
    with Session(desk.engine) as s:
        row = s.get(SlaCase, cases["major"])
        assert row is not None and not row.l1_breach and row.policy_version == "1"


def test_the_sla_view_is_for_managers(desk: Desk, cases: dict[str, int]) -> None:
    for role in ("technician", "level2", "planner", "client"):
        http, _ = desk.signed_in(role)
        assert http.get("/sla").status_code == 403
        assert http.get("/sla/cases").status_code == 403
        assert http.get("/sla/export.pdf").status_code == 403


def test_a_large_catch_up_runs_in_the_background_and_the_view_says_so(
    desk: Desk, cases: dict[str, int]
) -> None:
    import time

    from console.slacache import refresh_for_view

    # more cases to recompute than a page view may do itself: it answers at once
    assert refresh_for_view(desk.engine, desk.settings, inline_limit=2) is False
    deadline = time.monotonic() + 30
    while not refresh_for_view(desk.engine, desk.settings, inline_limit=2):
        assert time.monotonic() < deadline, "the background refresh never finished"
        time.sleep(0.1)
    with Session(desk.engine) as s:
        assert len(s.exec(select(SlaCase)).all()) == len(cases)
    http, _ = desk.signed_in("manager")
    assert "en cours de recalcul" not in http.get(f"/sla?{NOVEMBER}").text


def test_the_view_counts_major_cases_where_nobody_was_reached_by_phone(
    desk: Desk, cases: dict[str, int]
) -> None:
    a = desk.clients["client-a"]
    # calls unanswered, then the fallback mail: sent and shown, but no first contact
    fallback = add_case(desk.engine, a, criticality="major", ledger=[
        (5, "classify", {"criticality": "major"}),
        (6, "register_demande", {"demande_ref": "DEM-000009"}),
        (8, "communication", {"channel": "phone", "status": "no_answer", "actor": "system"}),
        (20, "communication", {"channel": "email", "status": "sent", "outcome": "sent",
                               "step": "l1_call_fallback", "actor": "system"}),
    ])  # fmt: skip
    http, _ = desk.signed_in("manager")
    html = http.get(f"/sla?{NOVEMBER}").text
    line = re.search(r'<p class="sla-major-unreached"[^>]*>(.*?)</p>', html, re.S)
    assert line and "sans personne jointe par téléphone" in line.group(1)
    link = re.search(r'href="(/sla/cases\?[^"]*)">1</a>', line.group(1))
    assert link, line.group(1)  # the fallback case; the other major case was reached
    behind = http.get(link.group(1).replace("&amp;", "&")).text
    assert refs_in(behind) == {ref(fallback)}
    assert ref(cases["major"]) not in behind


def test_a_demande_opened_from_a_visit_is_kept_apart_from_alert_triage(desk: Desk) -> None:
    """Issue 19, finding 9: a case a consultant opens from a "ko" item is classified on site
    at once; it must not read as an alert triaged and its client contacted in 0 h 00."""
    a = desk.clients["client-a"]
    alert = add_case(desk.engine, a, criticality="significant", ledger=[
        (30, "classify", {"criticality": "significant"}),
        (45, "record_contact", {"channel": "email", "outcome": "sent"})])
    visit = add_case(desk.engine, a, criticality="significant", family="visit", ledger=[
        (0, "classify", {"criticality": "significant", "actor": "conseil"}),
        (0, "register_demande", {"demande_ref": "DEM-9", "actor": "conseil"}),
        (0, "record_contact", {"channel": "email", "outcome": "sent"})])
    refresh(desk.engine, desk.settings)
    with Session(desk.engine) as s:
        rows = {r.case_id: r for r in s.exec(select(SlaCase)).all()}
    assert rows[alert].triage_s == 30 * 60 and rows[alert].contact_s == 45 * 60
    assert rows[visit].triage_s is None and rows[visit].contact_s is None
    assert rows[visit].demande_s == 0  # its Demande still counts, as a Demande
    sel = Selection(Period(MONDAY_9H.date(), MONDAY_9H.date(), "Europe/Paris"))
    total = summarize(desk.engine, sel, "client", now=utcnow()).total
    assert total.count == 2 and total.figure("time_to_triage")["measured"] == 1
    assert total.figure("time_to_triage")["median_seconds"] == 30 * 60
