"""The console's pages without Temporal: the queue (order, filters, live refresh, counts),
a case page that degrades to the ledger, hostile mail shown inert, the unmatched queue, the
administration (inventory, users, tokens, policies, CSV import), French and English."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from console.i18n import translated
from console.inventory_csv import COLUMNS
from console.sanitize import sanitize_html
from models.auth import ApiToken, Policy
from models.db import session_scope
from models.tables import (
    AlertEventRow,
    Client,
    Contact,
    Outbox,
    RawMessage,
    SenderDomain,
    Server,
    ServerAlias,
)
from models.types import utcnow
from tests.browser.support import MONDAY_9H, Desk, add_case, make_desk

TEMPLATES = Path(__file__).resolve().parents[1] / "console" / "templates"
EVIL_SUBJECT = "<script>window.__xss=1</script> SRV-DC01 PROBLEM"
EVIL_MAIL = (
    "From: vigie-probe@client-a.example\r\n"
    "To: alerts@desk.example\r\n"
    f"Subject: {EVIL_SUBJECT}\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "Host: SRV-DC01\r\nCheck: disk_free\r\nStatus: PROBLEM\r\n"
    'Summary: <img src=x onerror="window.__xss=2"><script>window.__xss=3</script>\r\n'
    "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    '<html><head><script>window.__xss=4</script></head><body><p onclick="x()">Disque '
    '<b>plein</b></p><img src="x" onerror="window.__xss=5"><a href="javascript:alert(6)">'
    'voir</a><a href="https://vendor.example/kb">kb</a><svg><script>alert(7)</script></svg>'
    "<iframe src=https://evil.example></iframe></body></html>\r\n"
    "--b--\r\n"
)
TAG_WITH_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE)
JS_URL = re.compile(r"""(href|src)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script(?![^>]*src=\"/static/console\.js\")", re.IGNORECASE)


@pytest.fixture
def desk(engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(engine, tmp_path)


def queue_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-case="(\d+)"', html)]


# --- queue ---------------------------------------------------------------------------------


def test_the_queue_is_sorted_by_urgency_then_age_and_counts_are_in_the_title(desk: Desk) -> None:
    a, b = desk.clients["client-a"], desk.clients["client-b"]
    at = MONDAY_9H
    from datetime import timedelta

    minor = add_case(desk.engine, a, criticality="minor", opened_at=at - timedelta(hours=5))
    major_new = add_case(desk.engine, a, criticality="major", opened_at=at)
    untriaged = add_case(desk.engine, b, opened_at=at - timedelta(hours=1))
    major_old = add_case(desk.engine, b, criticality="major", opened_at=at - timedelta(hours=2))
    signif = add_case(desk.engine, a, criticality="significant", opened_at=at - timedelta(hours=9))
    quiet = add_case(desk.engine, a, criticality="no_impact", opened_at=at - timedelta(hours=9))
    add_case(desk.engine, a, criticality="major", state="resolved")
    add_case(desk.engine, a, criticality="major", state="closed", closed=True)
    http, _ = desk.signed_in("technician")
    page = http.get("/queue")
    assert queue_ids(page.text) == [major_old, major_new, untriaged, signif, minor, quiet]
    title = re.search(r"<title>(.*?)</title>", page.text).group(1)  # type: ignore[union-attr]
    assert title.startswith("(6 · 2!) Vigie — File d")
    api = http.get("/api/cases").json()
    assert [c["id"] for c in api] == [major_old, major_new, untriaged, signif, minor, quiet]


def test_queue_filters(desk: Desk) -> None:
    a, b = desk.clients["client-a"], desk.clients["client-b"]
    mine = add_case(desk.engine, a, criticality="minor", assignee="tech", family="backup")
    other = add_case(desk.engine, b, criticality="major")
    fresh = add_case(desk.engine, a)
    resolved = add_case(desk.engine, a, criticality="minor", state="resolved")
    http, _ = desk.signed_in("technician")
    assert queue_ids(http.get(f"/queue?client={b}").text) == [other]
    assert queue_ids(http.get("/queue?class=major").text) == [other]
    assert queue_ids(http.get("/queue?class=unclassified").text) == [fresh]
    assert queue_ids(http.get("/queue?family=backup").text) == [mine]
    assert queue_ids(http.get("/queue?mine=1").text) == [mine]
    assert queue_ids(http.get("/queue?state=resolved").text) == [resolved]
    assert queue_ids(http.get("/queue?state=new").text) == [fresh]


def test_the_queue_is_paginated_and_polled_for_live_refresh(desk: Desk) -> None:
    a = desk.clients["client-a"]
    ids = [add_case(desk.engine, a, criticality="minor") for _ in range(53)]
    http, _ = desk.signed_in("technician")
    first = http.get("/queue")
    assert len(queue_ids(first.text)) == 50 and 'data-live-url="/queue/live"' in first.text
    assert queue_ids(http.get("/queue?page=2").text) == ids[50:]
    live = http.get("/queue/live?class=minor").json()
    assert live["total"] == 53 and live["counts"]["minor"] == 53
    assert live["title"].startswith("(53) Vigie")
    newcomer = add_case(desk.engine, a, criticality="major")
    live = http.get("/queue/live").json()
    assert queue_ids(live["rows"])[0] == newcomer
    assert live["title"].startswith("(54 · 1!)")


# --- case page -------------------------------------------------------------------------------


def add_message(engine: Engine, case_id: int | None, data: str, **event: object) -> int:
    """A stored raw message and its event row (linked to ``case_id``); returns the event id."""
    with session_scope(engine) as s:
        raw = RawMessage(
            sha256=f"{time.time_ns():064d}"[:64],
            data=data.encode(),
            mail_from="vigie-probe@client-a.example",
        )
        s.add(raw)
        s.flush()
        s.add(Outbox(raw_message_id=raw.id or 0, done_at=utcnow()))
        row = AlertEventRow(
            raw_message_id=raw.id or 0,
            family=str(event.pop("family", "disk_space")),
            status="problem",
            check="disk_free",
            case_id=case_id,
            **event,  # type: ignore[arg-type]
        )
        s.add(row)
        s.flush()
        return row.id or 0


def test_the_case_page_is_built_from_the_ledger_without_temporal(desk: Desk) -> None:
    """No Temporal configured: the page says so and shows what the ledger holds (how long a
    page waits for a Temporal that is configured but gone is bounded by
    ``VIGIE_CONSOLE_QUERY_TIMEOUT``; speed is for the console bench, not a timed test)."""
    a = desk.clients["client-a"]
    case_id = add_case(
        desk.engine,
        a,
        criticality="minor",
        state="classified",
        ledger=[(10, "classify", {"criticality": "minor"}), (12, "note", {"text": "Vu avec Marc"})],
    )
    http, _ = desk.signed_in("technician")
    page = http.get(f"/cases/{case_id}")
    assert page.status_code == 200
    html = page.text
    assert "Temporal non configuré" in html
    assert "Du signalement n° 1" in html  # the SLA derivation, in the domain's own words
    assert "Vu avec Marc" in html  # the note
    assert 'href="tel:+33472000001"' in html  # click-to-call on the client's contact
    assert "Claire Durand" in html
    derivation = http.get(f"/cases/{case_id}/sla").text
    assert "à la classification n° 2 par tech" in derivation
    api = http.get(f"/api/cases/{case_id}").json()
    assert api["live"] is False and [e["action"] for e in api["timeline"]][:2] == [
        "open",
        "classify",
    ]
    assert api["sla"]["figures"]["time_to_triage"]["value_seconds"] == 600


def test_hostile_alert_mail_is_shown_inert(desk: Desk) -> None:
    a = desk.clients["client-a"]
    case_id = add_case(desk.engine, a, title=f"SRV-DC01 — {EVIL_SUBJECT}")
    event_id = add_message(
        desk.engine,
        case_id,
        EVIL_MAIL,
        summary='<img src=x onerror="window.__xss=2">',
        host="<b>SRV</b>",
    )
    pending = add_message(
        desk.engine,
        None,
        EVIL_MAIL,
        summary="<script>window.__xss=8</script>",
        host="<svg onload=alert(9)>",
        triage="pending",
        family="unknown",
    )
    http, _ = desk.signed_in("technician")
    pages = [
        http.get(p).text
        for p in (
            f"/cases/{case_id}",
            "/queue",
            f"/events/{event_id}",
            f"/events/{pending}",
            "/unmatched",
        )
    ]
    pages.append(http.get("/queue/live").json()["rows"])
    for html in pages:
        assert not SCRIPT_TAG.search(html), html
        assert not TAG_WITH_HANDLER.search(html)
        assert not JS_URL.search(html)
    case_html = pages[0]
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in case_html  # shown, as text
    assert "<b>plein</b>" in case_html  # the HTML part, sanitized, keeps harmless markup
    assert '<a href="https://vendor.example/kb" rel="noopener noreferrer nofollow">' in case_html
    assert "evil.example" not in case_html.split('class="mail-html"')[1].split("</div>")[0]


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<p onclick='x()'>a</p>", "<p>a</p>"),
        ("<SCRIPT>alert(1)</SCRIPT>b", "b"),
        ('<a href="jav&#x61;script:alert(1)">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<a href=" java\nscript:alert(1)">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        (
            '<a href="mailto:a@b.example">m</a>',
            '<a href="mailto:a@b.example" rel="noopener noreferrer nofollow">m</a>',
        ),
        ("<svg><g><script>alert(1)</script></g></svg>ok", "ok"),
        ("<style>body{display:none}</style><b>x", "<b>x</b>"),
        ("<img src=x onerror=alert(1)>", ""),
        ("<!-- <script>alert(1)</script> -->t", "t"),
        # re-balanced the way a browser parses it (HTML5 adoption agency): nothing leaks out
        ("<div><b>a</div>b", "<div><b>a</b></div><b>b</b>"),
        ("</td></table><i>x</i>", "<i>x</i>"),
        (
            "<table><tr><td colspan='2' rowspan='x' style='x'>c</td></tr></table>",
            '<table><tbody><tr><td colspan="2">c</td></tr></tbody></table>',
        ),
        ("<td colspan='2'>c</td>", "c"),  # a cell outside any table is no cell (HTML5)
        ("&lt;script&gt;", "&lt;script&gt;"),
        ('<iframe srcdoc="<script>alert(1)</script>"></iframe>z', "z"),
    ],
)
def test_sanitizer(dirty: str, clean: str) -> None:
    assert sanitize_html(dirty) == clean


# --- unmatched messages ------------------------------------------------------------------------


def test_attach_an_unmatched_event_and_teach_alias_and_sender(desk: Desk) -> None:
    mail = "From: root@nas-01.branch.example\r\nSubject: disk\r\n\r\nHost: NAS-01\r\n"
    with session_scope(desk.engine) as s:
        raw = RawMessage(
            sha256="a" * 64, data=mail.encode(), mail_from="root@nas-01.branch.example"
        )
        s.add(raw)
        s.flush()
        s.add(Outbox(raw_message_id=raw.id or 0, done_at=utcnow()))
        ev = AlertEventRow(
            raw_message_id=raw.id or 0,
            family="disk_space",
            status="problem",
            check="disk_free",
            host="NAS-01",
            triage="pending",
            fingerprint="unmatched|nas-01|disk_space|disk_free|",
        )
        s.add(ev)
        s.flush()
        event_id = ev.id
        server_id = s.exec(
            select(Server.id).where(Server.client_id == desk.clients["client-c"])
        ).first()
    http, token = desk.signed_in("technician")
    page = http.get("/unmatched").text
    assert f"/unmatched/{event_id}/attach" in page and "NAS-01" in page
    r = http.post(
        f"/unmatched/{event_id}/attach",
        data={"server_id": server_id, "teach_alias": "1", "learn_sender": "1", "csrf_token": token},
    )
    assert r.status_code == 303
    assert "rattaché" in http.get("/unmatched").text
    with Session(desk.engine) as s:
        ev = s.get(AlertEventRow, event_id)
        assert ev is not None and ev.triage == "attached" and ev.server_id == server_id
        assert ev.fingerprint.startswith("client-c|")
        assert s.exec(select(ServerAlias).where(ServerAlias.alias == "nas-01")).one()
        assert s.get(SenderDomain, "nas-01.branch.example").client_id == desk.clients["client-c"]
        # the router will route it again (it alone starts cases)
        assert s.exec(select(Outbox)).one().done_at is None
    again = http.post(f"/unmatched/{event_id}/dismiss", data={"csrf_token": token})
    assert again.status_code == 303
    with Session(desk.engine) as s:
        assert s.get(AlertEventRow, event_id).triage == "dismissed"  # type: ignore[union-attr]


def test_the_unmatched_queue_is_for_technicians(desk: Desk) -> None:
    http, token = desk.signed_in("manager")
    assert http.post("/unmatched/1/dismiss", data={"csrf_token": token}).status_code == 403


# --- administration ------------------------------------------------------------------------------


def test_admin_manages_a_client_inventory(desk: Desk) -> None:
    http, token = desk.signed_in("admin")
    assert (
        http.post(
            "/admin/clients",
            data={"code": "client-z", "name": "Zeta SARL", "users": "5", "csrf_token": token},
        ).status_code
        == 303
    )
    with Session(desk.engine) as s:
        cid = s.exec(select(Client.id).where(Client.code == "client-z")).one()
    base = f"/admin/clients/{cid}"
    http.post(
        f"{base}/sites", data={"name": "Colmar", "calendar_subdiv": "Alsace", "csrf_token": token}
    )
    http.post(
        f"{base}/servers",
        data={
            "hostname": "SRV-Z1.corp.local",
            "kind": "virtual",
            "role": "AD",
            "csrf_token": token,
        },
    )
    with Session(desk.engine) as s:
        srv = s.exec(select(Server).where(Server.client_id == cid)).one()
    assert srv.hostname == "srv-z1" and srv.kind == "virtual"
    http.post(
        f"{base}/aliases", data={"server_id": srv.id, "alias": "zeta-dc", "csrf_token": token}
    )
    http.post(
        f"{base}/contacts",
        data={
            "name": "Zoé",
            "phone": "+33 3 89 00 00 00",
            "role": "primary",
            "rank": "1",
            "csrf_token": token,
        },
    )
    http.post(f"{base}/senders", data={"domain": "zeta.example", "csrf_token": token})
    http.post(
        f"{base}/jobs",
        data={"server_id": srv.id, "schedule": "0 23 * * *", "product": "wsb", "csrf_token": token},
    )
    page = http.get(base).text
    for text in (
        "Colmar",
        "6AE",
        "zeta-dc",
        "Zoé",
        "tel:+33389000000",
        "zeta.example",
        "0 23 * * *",
    ):
        assert text in page, text
    # refusals are said plainly and change nothing
    http.post(f"{base}/contacts", data={"name": "X", "email": "not-an-email", "csrf_token": token})
    assert "Adresse e-mail invalide" in http.get(base).text
    http.post(
        f"{base}/jobs", data={"server_id": srv.id, "schedule": "every day", "csrf_token": token}
    )
    assert "cron invalide" in http.get(base).text
    http.post(f"{base}/senders", data={"domain": "client-a.example", "csrf_token": token})
    assert "déjà attribué" in http.get(base).text
    with Session(desk.engine) as s:
        assert len(s.exec(select(Contact).where(Contact.client_id == cid)).all()) == 1
        alias_id = s.exec(select(ServerAlias.id).where(ServerAlias.alias == "zeta-dc")).one()
    http.post(f"{base}/aliases/{alias_id}/delete", data={"csrf_token": token})
    assert "zeta-dc" not in http.get(base).text


def test_admin_creates_users_and_api_tokens_shown_once(desk: Desk) -> None:
    http, token = desk.signed_in("admin")
    r = http.post(
        "/admin/users",
        data={"username": "bob", "role": "technician", "password": "short", "csrf_token": token},
    )
    assert "10 caractères" in http.get("/admin/users").text
    r = http.post(
        "/admin/users",
        data={
            "username": "bob",
            "role": "client",
            "password": "long enough pass",
            "csrf_token": token,
        },
    )
    assert "rattaché à un client" in http.get("/admin/users").text
    r = http.post(
        "/admin/users",
        data={
            "username": "bob",
            "role": "technician",
            "password": "long enough pass",
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    bob = desk.client()
    from tests.browser.support import sign_in

    assert sign_in(bob, "bob", "long enough pass").status_code == 303
    page = http.post(
        "/admin/tokens", data={"username": "bob", "name": "script", "csrf_token": token}
    )
    shown = re.search(r'<pre id="new-token">(vig_[^<]+)</pre>', page.text)
    assert shown
    assert (
        http.get("/api/cases", headers={"Authorization": f"Bearer {shown.group(1)}"}).status_code
        == 200
    )
    assert shown.group(1) not in http.get("/admin/tokens").text
    with Session(desk.engine) as s:
        assert s.exec(select(ApiToken).where(ApiToken.name == "script")).one().created_by == (
            "admin"
        )


def test_a_new_policy_version_takes_effect(desk: Desk) -> None:
    http, token = desk.signed_in("admin")
    assert "version <strong>environnement</strong>" in http.get("/admin/policies").text
    http.post(
        "/admin/policies",
        data={
            "business_start": "08:00",
            "business_end": "17:30",
            "l1_minutes": "45",
            "auto_close_hours": "48",
            "csrf_token": token,
        },
    )
    page = http.get("/admin/policies").text
    assert "version <strong>1</strong>" in page and "08:00–17:30" in page
    http.post(
        "/admin/policies",
        data={"business_start": "18:00", "business_end": "08:00", "csrf_token": token},
    )
    assert "précéder" in http.get("/admin/policies").text
    with Session(desk.engine) as s:
        assert [p.version for p in s.exec(select(Policy)).all()] == [1]


INVENTORY = (
    ";".join(COLUMNS)
    + """
client;client-n;Notaires Nord;;;;;;;;;;;;7;203.0.113.7;
sender;client-n;;;;;;;;;;;;notaires-nord.example;;;
site;client-n;Lille;;;;;;;;;;;;;;
server;client-n;SRV-N1;srv-n1;Lille;physical;Fichiers;nas|files;;;;;;;;;
contact;client-n;Nadia Nord;;;;primary;;nadia@notaires-nord.example;+33320000001;1;;;;;;
backup_job;client-n;Sauvegarde nuit;srv-n1;;;;;;;;arcserve;0 22 * * 1-5;;;;
"""
)
BROKEN = """type;client;name;hostname;kind;email;schedule;subdiv;fixed_ips
client;client-x;X;;;;;;999.1.1.1
server;client-y;;srv-1;;;;;
server;client-a;;srv-new;cloud;;;;
contact;client-a;Someone;;;not-mail;;;
backup_job;client-a;job;srv-nowhere;;;;;
backup_job;client-a;job;srv-dc01;;;61 25 * * *;;
site;client-a;Metz;;;;;Lorraine;
teleport;client-a;;;;;;;
"""


def finished_import(http: Any, page: str, within: float = 60.0) -> str:
    """The import job's page once the job is over (it runs on a thread of the console)."""
    deadline = time.monotonic() + within
    while True:
        r = http.get(page)
        assert r.status_code == 200
        if 'id="import-progress"' not in r.text:
            return r.text
        assert time.monotonic() < deadline, "the import did not end"
        time.sleep(0.05)


def test_csv_import_dry_run_lists_errors_by_line_and_writes_nothing(desk: Desk) -> None:
    http, token = desk.signed_in("admin")

    def upload(text: str, dry: bool) -> str:
        data = {"csrf_token": token} | ({"dry_run": "on"} if dry else {})
        r = http.post(
            "/admin/import",
            data=data,
            files={"file": ("inventaire.csv", text.encode(), "text/csv")},
        )
        assert r.status_code == 303  # the import runs as a job: its page shows the report
        return finished_import(http, r.headers["location"])

    report = upload(BROKEN, dry=True)
    lines = [int(n) for n in re.findall(r"<tr><td>(\d+)</td><td>", report)]
    assert lines == [2, 3, 4, 5, 6, 7, 8, 9]
    for words in (
        "adresse IP invalide",
        "client « client-y » inconnu",
        "type de serveur invalide",
        "adresse e-mail invalide",
        "serveur « srv-nowhere » inconnu",
        "planification cron invalide",
        "Subdivision inconnue",
        "type inconnu",
    ):
        assert words in report, words
    assert upload(BROKEN, dry=False).count("rien n&#39;a été écrit") == 1
    with Session(desk.engine) as s:
        assert s.exec(select(Client).where(Client.code == "client-x")).first() is None
    # a valid file: the dry run says what it would do, the real run does it, a rerun is a no-op
    dry = upload(INVENTORY, dry=True)
    assert "Essai à blanc : aucune erreur" in dry and "server : 1 à créer" in dry
    with Session(desk.engine) as s:
        assert s.exec(select(Client).where(Client.code == "client-n")).first() is None
    applied = upload(INVENTORY, dry=False)
    assert "Import appliqué" in applied
    with Session(desk.engine) as s:
        client = s.exec(select(Client).where(Client.code == "client-n")).one()
        assert client.fixed_ips == "203.0.113.7" and client.users == 7
        srv = s.exec(select(Server).where(Server.client_id == client.id)).one()
        aliases = s.exec(select(ServerAlias.alias).where(ServerAlias.server_id == srv.id)).all()
        assert sorted(aliases) == ["files", "nas"]
        assert s.get(SenderDomain, "notaires-nord.example") is not None
    rerun = upload(INVENTORY, dry=False)
    assert "à créer" not in rerun and " créés" not in rerun and "server : 1 mis à jour" in rerun


# --- languages -----------------------------------------------------------------------------------


def test_french_by_default_english_on_request_and_remembered(desk: Desk) -> None:
    http, _ = desk.signed_in("technician")
    assert "File d&#39;attente" in http.get("/queue").text
    english = http.get("/queue?lang=en")
    assert "<h1>Queue" in english.text and "Assigned to" in english.text
    assert "vigie_lang=en" in english.headers["set-cookie"]
    assert "<h1>Queue" in http.get("/queue").text  # remembered
    assert "<h1>File d" in http.get("/queue?lang=fr").text


def test_every_template_text_has_an_english_translation() -> None:
    """Each ``_("...")`` a template writes has its English in the catalog (not fuzzy)."""
    found: set[str] = set()
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"""_\(\s*(["'])((?:\\.|(?!\1).)*)\1\s*\)""", text):
            found.add(m.group(2).replace("\\'", "'"))
        for m in re.finditer(r"_\(\{(.*?)\}\[", text):  # _({"key": "texte", ...}[k])
            found.update(re.findall(r':\s*"([^"]+)"', m.group(1)))
    missing = sorted(s for s in found if not translated(s))
    assert not missing, missing


def test_admin_manages_expectations_and_silences(desk: Desk) -> None:
    from models.expectations import Expectation, Silence

    http, token = desk.signed_in("admin")
    a = desk.clients["client-a"]
    http.post("/admin/expectations-defaults", data={"client_id": a, "csrf_token": token})
    page = http.get("/admin/expectations").text
    assert "attente(s) créée(s)" in page
    with Session(desk.engine) as s:
        expected = s.exec(select(Expectation).where(Expectation.client_id == a)).all()
        server = s.exec(select(Server).where(Server.client_id == a)).first()
    assert {e.kind for e in expected} == {"heartbeat", "disk_report"}
    http.post(f"/admin/expectations/{expected[0].id}/disable", data={"csrf_token": token})
    with Session(desk.engine) as s:
        assert s.get(Expectation, expected[0].id).state == "disabled"  # type: ignore[union-attr]
    http.post(
        "/admin/silences",
        data={"client_id": a, "server_id": server.id, "check": "backup",  # type: ignore[union-attr]
              "starts": "2026-12-01T20:00", "ends": "2026-12-01T23:00",
              "reason": "Migration du serveur", "csrf_token": token},
    )  # fmt: skip
    http.post(
        "/admin/silences",
        data={"client_id": a, "starts": "2026-12-02T10:00", "ends": "2026-12-02T09:00",
              "reason": "à l'envers", "csrf_token": token},
    )  # fmt: skip
    assert "La fin du silence doit suivre son début" in http.get("/admin/expectations").text
    with Session(desk.engine) as s:
        sil = s.exec(select(Silence)).one()
    assert sil.reason == "Migration du serveur" and sil.check == "backup"
    assert sil.starts_at.hour == 19  # 20:00 in Paris, stored in UTC
    http.post(f"/admin/silences/{sil.id}/end", data={"csrf_token": token})
    with Session(desk.engine) as s:
        assert s.get(Silence, sil.id).revoked_by == "admin"  # type: ignore[union-attr]
    report = http.post(
        "/admin/expectations-import",
        data={"dry_run": "on", "csrf_token": token},
        files={"file": ("a.csv", b"type;client;hostname\nheartbeat;nobody;srv\n", "text/csv")},
    ).text
    assert "client inconnu" in report and "<td>2</td>" in report


def test_a_live_case_reads_its_flags_from_the_same_moment_as_its_state(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case row is written by an activity after the workflow task, so it may lag the
    workflow's view: the API and the page take every field the row projects from the view
    when there is one, never the view's state beside the row's older flags (seen in CI: a
    case shown resolved by its recovery, yet ``recovered`` false)."""
    from datetime import timedelta

    import console.api as api_module
    import console.pages_cases as pages_module
    from messages.cases import CaseView

    case_id = add_case(desk.engine, desk.clients["client-a"])  # row: new, not recovered
    seen = MONDAY_9H + timedelta(minutes=7)
    view = CaseView(case_id=case_id, ref="VIG-000001", state="resolved", criticality=None,
                    repeat_count=2, last_seen=seen, recovered=True, assignee="tech",
                    demande_ref=None, l1_deadline=None, next_steps=[], timeline=[])

    async def live(svc: Any, c: Any) -> CaseView:
        return view

    monkeypatch.setattr(api_module, "case_view", live)
    monkeypatch.setattr(pages_module, "case_view", live)
    http, _ = desk.signed_in("technician")
    api = http.get(f"/api/cases/{case_id}").json()
    assert api["live"] is True
    assert (api["state"], api["recovered"], api["repeat_count"], api["assignee"]) == (
        "resolved", True, 2, "tech")
    assert api["last_seen"] == seen.isoformat()
    page = http.get(f"/cases/{case_id}").text
    assert 'class="badge ok"' in page  # "rétabli", from the view
