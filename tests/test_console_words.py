"""Every page of the console speaks to people: signed in as each role, every GET page of the
app (enumerated from its routes, path parameters filled from test data) is read in French
and in English, and fails on:

- a text the page asked to translate that has no English (the catalogue in console.i18n),
  and a state, class, channel... key that no label table knows (shown raw);
- an internal token left in the visible text: ``key=value`` pairs, snake_case names,
  enum values (``primary``, ``after_hours``, ``count``, ``env`` ...), ``\\uXXXX`` escapes;
- French words left in an English page (accented words and common French words).

What the data says (a client's name, an alert's summary, a host name, a mail's body in a
``<pre>``) is the data's business, not the console's: the values stored in the test
database are removed from the text before the checks, and preformatted blocks are skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from console import i18n
from messages.cases import CRITICALITY_LABELS, STATE_LABELS
from models.db import session_scope
from models.tables import (
    AlertEventRow,
    AuditEvent,
    BackupJob,
    BackupRun,
    Case,
    Client,
    Communication,
    Contact,
    RawMessage,
    Server,
    User,
)
from models.types import utcnow
from tests.browser.support import MONDAY_9H, ROLE_USERS, Desk, add_case, make_desk

SKIPPED_PREFIXES = ("/api/", "/static", "/twilio", "/webhook", "/intake")
BINARY_PAGES = ("/sla/export.csv", "/sla/export.pdf", "/visits/report.css",
                "/visits/{visit_id:int}/report.pdf", "/calendar/{user_id:int}/{sig}.ics",
                "/contracts/{contract_id}/export.zip", "/clients/{client_id:int}/techdoc/diagram",
                "/privacy/clients/{client_id}/export.zip")
REDIRECTS = ("/",)  # sends each role to its home page
EXTRA_QUERIES = {  # the same page in its other shapes
    "/sla": ["?by=technician", "?by=criticality", "?by=week", "?by=month"],
    "/sla/cases": ["?metric=time_to_triage:breach", "?metric=escalated", "?metric=count"],
    "/queue": ["?class=unclassified", "?state=new", "?mine=1"],
    "/backups": ["?days=14"],
    "/planning": ["?month=2027-03"],
    "/planning/suggest": ["?method=greedy"],
}
ESCAPE = re.compile(r"\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|&amp;#|&amp;lt;")
KEY_VALUE = re.compile(r"\b[a-z][a-z_]*=")
SNAKE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")
FRENCH_WORDS = frozenset(
    "le la les des du une est pour avec sur aux et dans par pas sans cas jour jours heure "
    "heures semaine mois reçue reçu envoyé envoyée prévue non oui aucun aucune ou être "
    "été cette ces votre vos nous vous depuis après avant encore au serveurs serveur aucune "
    "lundi mardi mercredi jeudi vendredi samedi dimanche janvier février avril juin juillet "
    "août septembre octobre novembre décembre".split()
)
ACCENTED = re.compile(r"\b\w*[éèêëàâùûîïôçœÉÈÀÇ]\w*\b")
ENGLISH_WITH_ACCENTS = frozenset({"résumé", "français"})  # the language switch


def catalog_words(lang: str) -> set[str]:
    """Every word the catalog writes in ``lang`` (the msgstrs in English, the msgids in
    French): a word a label also uses is a word, not a leaked key."""
    words: set[str] = set()
    for message in i18n.po_catalog("en"):
        if not message.id:
            continue
        texts = message.string if lang == "en" else message.id
        for text in texts if isinstance(texts, tuple) else (texts,):
            words |= set(re.findall(r"\w+", text))
    return words


def internal_tokens(lang: str) -> set[str]:
    """Keys of the label tables whose label differs from the key: seen raw, they leak."""
    tokens: set[str] = set(STATE_LABELS) | set(CRITICALITY_LABELS)
    for pairs in i18n.LABEL_TABLES.values():
        for key, value in pairs.items():
            label = i18n.label_text(lang, value)
            if key != label and key.lower() != label.lower():
                tokens.add(key)
    label_words = {
        w
        for pairs in i18n.LABEL_TABLES.values()
        for value in pairs.values()
        for w in re.findall(r"\w+", i18n.label_text(lang, value))
    }
    label_words |= catalog_words(lang)
    tokens = {t for t in tokens if t not in label_words or "_" in t}
    # the leaks the issue saw, always denied
    tokens |= {"env", "primary", "after_hours", "dry_run"}
    return tokens | ({"count", "measured"} if lang == "fr" else set())


class VisibleText(HTMLParser):
    """The words a reader sees: text nodes and the attributes shown to people, without
    scripts, styles and preformatted blocks (mail bodies, raw messages: data)."""

    SKIP = frozenset({"script", "style", "pre", "textarea", "code"})
    SHOWN_ATTRS = frozenset({"title", "placeholder", "aria-label", "alt", "data-confirm"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        for name, value in attrs:
            if name in self.SHOWN_ATTRS and value:
                self.parts.append(value)
            if tag == "input" and name == "value" and dict(attrs).get("type") == "submit":
                self.parts.append(value or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = VisibleText()
    parser.feed(html)
    return " \n ".join(parser.parts)


def routes_of(app: FastAPI) -> Iterator[APIRoute]:
    """Every route of the app, also inside included routers (FastAPI may keep them lazy)."""

    def walk(routes: list[Any], prefix: str = "") -> Iterator[APIRoute]:
        for r in routes:
            if isinstance(r, APIRoute):
                yield r if not prefix else APIRoute(prefix + r.path, r.endpoint,
                                                    methods=r.methods)  # fmt: skip
            elif hasattr(r, "original_router"):
                ctx = getattr(r, "include_context", None)
                yield from walk(r.original_router.routes, prefix + getattr(ctx, "prefix", ""))

    yield from walk(list(app.routes))


# --- the data every page shows ---------------------------------------------------------------


def populate(desk: Desk) -> dict[str, int]:
    """A case through every step (ledger data of every kind, a mail sent, a call), an
    unmatched message, backup runs, for every page to have something to say."""
    engine = desk.engine
    a = desk.clients["client-a"]
    at = MONDAY_9H
    full = add_case(
        engine, a, criticality="major", state="l2_escalated", assignee="tech",
        title="SRV-DC01 — disque C: 4 %", ledger=[
            (5, "classify", {"criticality": "major", "previous": ""}),
            (6, "assign", {"assignee": "tech"}),
            (8, "register_demande", {"demande_ref": "DEM-000001"}),
            (9, "communication", {"status": "sent", "channel": "email", "step": "l1_call_fallback",
                                  "communication_id": "1", "recipient": "dsi@client-a.example",
                                  "outcome": "sent", "actor": "system"}),
            (10, "record_contact", {"channel": "phone", "outcome": "reached"}),
            (12, "note", {"text": "Disque <C:> plein à 96 % & \"urgent\""}),
            (13, "send_instructions", {"channel": "email", "text": "Videz la corbeille"}),
            (14, "client_reply", {"channel": "email", "sender": "dsi@client-a.example"}),
            (15, "start_l1", {}),
            (80, "escalate_l2", {"by": "timer", "actor": "system"}),
            (81, "notify_level2", {"channel": "email"}),
            (82, "repeat", {"event_id": "1", "severity": "major", "actor": "system"}),
            (83, "recovery", {"event_id": "1", "actor": "system"}),
        ],
    )  # fmt: skip
    minor = add_case(engine, a, criticality="minor", state="resolved", ledger=[
        (5, "classify", {"criticality": "minor", "previous": "significant"}),
        (30, "resolve", {}),
    ])  # fmt: skip
    add_case(engine, desk.clients["client-b"], opened_at=at - timedelta(days=2))
    contract_in_service(desk)  # before the expectations: the contract's pause is over
    from records.absence import expect_defaults, set_expectation_enabled

    expect_defaults(engine, a, "admin")
    from models.expectations import Expectation

    with Session(engine) as s:
        first = s.exec(select(Expectation)).first()
    assert first is not None
    set_expectation_enabled(engine, first.id or 0, False, "admin")
    with session_scope(engine) as s:
        server = s.exec(select(Server).where(Server.client_id == a)).first()
        assert server is not None
        raw = RawMessage(
            message_id="<u1@unknown.example>", sha256="0" * 64, mail_from="probe@unknown.example",
            rcpt_to="alerts@desk.example", channel="smtp", received_at=at,
            data=b"From: probe@unknown.example\r\nSubject: SRV-X PROBLEM\r\n\r\nHost: SRV-X\r\n",
        )  # fmt: skip
        s.add(raw)
        s.flush()
        unmatched = AlertEventRow(raw_message_id=raw.id or 0, family="unknown", status="problem",
                                  host="srv-x", check="unknown", summary="SRV-X PROBLEM",
                                  received_at=at, triage="pending")  # fmt: skip
        linked = AlertEventRow(raw_message_id=raw.id or 0, idx=1, family="disk_space",
                               status="problem", host=server.hostname, check="disk_free",
                               severity="major", summary="Disque plein", received_at=at,
                               client_id=a, server_id=server.id, case_id=full)  # fmt: skip
        s.add(unmatched)
        s.add(linked)
        s.add(Communication(
            key=f"case-{full}:l1_call_fallback:1", case_id=full, channel="email",
            recipient="dsi@client-a.example", subject="[VIG] Votre incident", status="sent",
            step="l1_call_fallback", attempt="1", transport="capture", created_at=at,
            body="Bonjour,\nNous n'avons pas pu vous joindre.",
            raw="From: Vigie <desk@vigie.example>\r\nTo: dsi@client-a.example\r\n"
                "Subject: [VIG] Votre incident\r\nContent-Type: text/plain; charset=utf-8\r\n"
                "\r\nBonjour,\r\nNous n'avons pas pu vous joindre.\r\n",
        ))  # fmt: skip
        s.add(Communication(
            key=f"case-{full}:l1_call:1", case_id=full, channel="phone",
            recipient="+33 4 72 00 00 01", status="dry_run", step="l1_call", attempt="1",
            transport="dry-run", created_at=at, body="Message vocal",
        ))  # fmt: skip
        s.flush()
        jobs = s.exec(select(BackupJob).where(BackupJob.client_id == a)).all()
        for day, result in ((0, "success"), (1, "failed"), (2, "warning")):
            ev = AlertEventRow(raw_message_id=raw.id or 0, idx=2 + day, family="backup",
                               status="problem" if result == "failed" else "info",
                               host=server.hostname, check="backup", backup_result=result,
                               received_at=utcnow() - timedelta(days=day), client_id=a,
                               server_id=jobs[0].server_id if jobs else server.id)  # fmt: skip
            s.add(ev)
            s.flush()
            if jobs:
                s.add(BackupRun(event_id=ev.id or 0, client_id=a, server_id=jobs[0].server_id,
                                job_name=jobs[0].name, product=jobs[0].product, result=result,
                                received_at=ev.received_at))  # fmt: skip
    ids = {"case_id": full, "minor_id": minor, "event_id": linked.id or 0, "client_id": a}
    ids.update(populate_visits(desk))
    ids.update(populate_contracts(desk))
    return ids


def populate_visits(desk: Desk) -> dict[str, Any]:
    """A visit through its whole life (proposal, confirmation, consultant, checklist answers,
    advice, the report sent) and one waiting for the client's answer, with its signed link;
    a consultant's leave; the consultant's signed calendar feed."""
    import datetime as dt

    from console.feed_links import ics_url
    from messages.visits import VisitEventInput
    from models.visits import ConsultantLeave, ConsultantProfile, Visit
    from planning import checklist, techdoc
    from planning.links import link_secret, sign_answer
    from planning.report import build_visit_report
    from planning.visits import append_event, create_visit

    engine, a = desk.engine, desk.clients["client-a"]
    with session_scope(engine) as s:
        consultant = s.exec(select(User).where(User.username == "conseil")).one()
        cid = consultant.id or 0
        if s.get(ConsultantProfile, cid) is None:
            s.add(ConsultantProfile(user_id=cid, email="camille@desk.example",
                                    postcode="69003"))
        s.add(ConsultantLeave(user_id=cid, day=dt.date(2027, 3, 19), note="RTT"))
        from models.tables import Site
        from planning.site_days import add_range

        site = s.exec(select(Site).where(Site.client_id == a)).first()
        assert site is not None
        add_range(s, site.id or 0, dt.date(2027, 8, 2), dt.date(2027, 8, 27), False, "été")
        add_range(s, site.id or 0, dt.date(2027, 5, 17), None, True, "solidarité")
        done = create_visit(s, a, "preventive", dt.date(2027, 3, 1), dt.date(2027, 4, 30))
        vid = done.id or 0
        done.consultant_id, done.date, done.proposal = cid, dt.date(2027, 3, 16), 1
        done.proposed_dates = ["2027-03-16", "2027-03-17"]
        done.state, done.advice = "report_sent", "Remplacer la batterie de l'onduleur."
        done.questions = "Sauvegarde du NAS ? Oui, chaque nuit."
        done.started_at = MONDAY_9H + timedelta(days=113)
        done.finished_at = done.started_at + timedelta(hours=6)
        s.add(done)
        checklist.save_answer(s, vid, "ups", "ko", "batterie HS", "conseil")
        checklist.save_answer(s, vid, "backups", "ok", "", "conseil")
        checklist.save_answer(s, vid, "antivirus", "na", "", "conseil")
        before = techdoc.save_version(s, a, {"network": "Box fibre"}, "conseil", None)
        after = techdoc.save_version(s, a, {"network": "Box fibre, VLAN 10\nPare-feu"},
                                     "conseil", vid)
        done.techdoc_before, done.techdoc_after = before.version, after.version
        s.add(done)
        at = MONDAY_9H + timedelta(days=100)
        steps = [("plan", "system", None, "planned", "", {}),
                 ("propose", "planner", "planned", "proposed", "", {}),
                 ("mail_outcome", "system", None, None, "",
                  {"step": "visit_proposal", "status": "sent",
                   "recipient": "dsi@client-a.example"}),
                 ("proposal_sent", "system", "proposed", "awaiting_client", "", {}),
                 ("client_answer_refused", "client", None, None, "proposition périmée",
                  {"proposal": "0", "date": "aucune", "via": "portal"}),
                 ("client_answer", "client", "awaiting_client", "confirmed", "",
                  {"proposal": "1", "date": "2027-03-16", "via": "link"}),
                 ("assign", "planner", None, None, "", {}),
                 ("start", "conseil", "confirmed", "in_progress", "", {}),
                 ("write_report", "conseil", "in_progress", "report_written", "",
                  {"advice": "Remplacer la batterie", "questions": "NAS ? Oui"}),
                 ("report_built", "system", None, None, "",
                  {"anomalies": "2", "techdoc_before": "1", "techdoc_after": "2"}),
                 ("send_report", "conseil", "report_written", "report_sent", "", {})]
        for seq, (action, actor, before, after, reason, data) in enumerate(steps, start=1):
            append_event(s, VisitEventInput(vid, seq, at + timedelta(hours=seq), action, actor,
                                            before, after, reason, data))
        waiting = create_visit(s, a, "preventive", dt.date(2027, 9, 1), dt.date(2027, 10, 31))
        wid = waiting.id or 0
        waiting.state, waiting.proposal, waiting.consultant_id = "awaiting_client", 1, cid
        waiting.proposed_dates = ["2027-09-14", "2027-09-15"]
        waiting.answer_deadline = utcnow() + timedelta(days=5)
        s.add(waiting)
        deadline = waiting.answer_deadline
        # one visit in each other state, for each state's forms and labels
        others = []
        for state, day, reason in (("planned", None, ""), ("proposed", None, ""),
                                   ("confirmed", dt.date(2027, 5, 11), ""),
                                   ("in_progress", dt.date(2027, 5, 12), ""),
                                   ("report_written", dt.date(2027, 5, 13), ""),
                                   ("no_access", dt.date(2027, 5, 14), "portail fermé"),
                                   ("missed", dt.date(2027, 5, 18), ""),
                                   ("rescheduled", None, "client absent"),
                                   ("cancelled", None, "fin de contrat")):
            other = create_visit(s, a, "preventive", dt.date(2027, 5, 1), dt.date(2027, 6, 30))
            other.state, other.date, other.reason, other.consultant_id = state, day, reason, cid
            if state == "proposed":
                other.proposed_dates, other.proposal = ["2027-05-20", "2027-05-21"], 1
            s.add(other)
            s.flush()
            if state == "in_progress":
                checklist.save_answer(s, other.id or 0, "ups", "ko", "batterie HS", "conseil")
            others.append(other.id or 0)
    build_visit_report(engine, vid, "conseil", MONDAY_9H + timedelta(days=113, hours=6))
    with session_scope(engine) as s:
        row = s.get(Visit, vid)
        assert row is not None
        row.state = "report_sent"
        s.add(row)
    token = sign_answer(link_secret(desk.settings), wid, 1, "2027-09-14", deadline)
    url = ics_url(desk.app.state.services, cid)
    assert url is not None
    sig = url.rsplit("/", 1)[1].removesuffix(".ics")
    build_visit_report(engine, others[4], "conseil", MONDAY_9H + timedelta(days=170))
    return {"visit_id": vid, "token": token, "user_id": cid, "sig": sig, "other_visits": others,
            "job_id": finished_import_job(desk)}


def finished_import_job(desk: Desk) -> str:
    """A CSV import job over, with errors, so its page shows a whole report."""
    import time

    from console.inventory_csv import COLUMNS

    upload = desk.settings.var_dir / "walk-import.csv"
    upload.write_text(";".join(COLUMNS) + "\n" + "contact;client-a;Zoé;;;;primary;;nope;;;;;;;;\n"
                      + "site;client-a;Colmar;;;;;;;;;;;;;;\n")
    job = desk.app.state.imports.start(upload, by="admin", dry_run=True, filename="inv.csv")
    deadline = time.monotonic() + 60
    while job.running:
        assert time.monotonic() < deadline, "the import job did not end"
        time.sleep(0.05)
    return job.id


def contract_in_service(desk: Desk) -> None:
    """Client A's contract, its checklist done (met, waived, not applicable), in service:
    the portal's contract page has something to show."""
    import datetime as dt

    from contracts import store

    a = desk.clients["client-a"]
    contract = store.create_contract(desk.engine, a, dt.date(2026, 1, 5), by="admin")
    cid = contract.id or 0
    with Session(desk.engine) as s:
        items = [p.code for p in store.prerequisites(s, cid) if p.status == "open"]
    for code in items:
        if code == "server_room_phone":
            store.waive_prerequisite(desk.engine, cid, code, reason="GSM de secours",
                                     by="manager", role="manager")
        else:
            store.record_prerequisite(desk.engine, cid, code, status="met",
                                      evidence="vu sur site", by="admin")
    store.set_status(desk.engine, cid, "active", key=f"contract:{cid}:active",
                     at=MONDAY_9H, actor="manager", activated_at=MONDAY_9H)


def populate_contracts(desk: Desk) -> dict[str, Any]:
    """Client B's contract in onboarding: a prerequisite met with its evidence, one waived,
    the sensors planned and one installed (client A stays without a contract: monitored)."""
    import datetime as dt

    from contracts import store

    b = desk.clients["client-b"]
    contract = store.create_contract(desk.engine, b, dt.date(2026, 12, 1), by="admin",
                                     options=["antivirus"])
    cid = contract.id or 0
    store.record_prerequisite(desk.engine, cid, "fixed_ip", status="met",
                              evidence="contrat FAI n°42", value="203.0.113.9", by="admin")
    store.waive_prerequisite(desk.engine, cid, "server_room_phone", reason="GSM de secours",
                             by="manager", role="manager")
    store.plan_sensors(desk.engine, cid)
    with Session(desk.engine) as s:
        first = store.sensors(s, cid)[0]
    store.record_sensor(desk.engine, first.id or 0, "installed", by="planner",
                        note="HP Event Notifier 7.2")
    return {"contract_id": cid}


def data_strings(engine: Engine) -> list[str]:
    """What the test data says: removed from the text before the checks."""
    found: set[str] = set()
    with Session(engine) as s:
        for model, fields in (
            (Client, ("name", "code")),
            (Server, ("hostname", "display_name", "role")),
            (Contact, ("name", "email", "phone")),
            (Case, ("title", "ref", "host", "check", "target", "assignee", "demande_ref")),
            (AlertEventRow, ("summary", "host", "check", "target", "product")),
            (BackupJob, ("name", "product", "schedule")),
            (User, ("username", "full_name")),
            (Communication, ("recipient", "subject", "body")),
            (RawMessage, ("mail_from", "message_id")),
            (AuditEvent, ("actor",)),
        ):
            for row in s.exec(select(model)).all():
                for f in fields:
                    value = getattr(row, f, None)
                    if isinstance(value, str) and value.strip():
                        found.add(value.strip())
                        found.update(line.strip() for line in value.splitlines() if line.strip())
            if model is AuditEvent:
                for row in s.exec(select(AuditEvent)).all():
                    for v in row.data.values():
                        if isinstance(v, str) and v and v not in i18n_keys():
                            found.add(v)
        from models.tables import Site

        found.update(n for n in s.exec(select(Site.name)).all() if n)
        found.update(visit_and_contract_data(s))
    return sorted(found, key=len, reverse=True)


def visit_and_contract_data(s: Session) -> set[str]:
    """What people typed on visits and contracts (advice, notes, evidence, reasons), and the
    report as it was sent to the client (a French document, kept as is: data)."""
    from models.contracts import Prerequisite, SensorDeployment
    from models.visits import (
        ChecklistAnswer,
        ConsultantLeave,
        SiteDays,
        TechDocVersion,
        Visit,
        VisitEvent,
        VisitReport,
    )

    found: set[str] = set()
    for model, fields in (
        (Visit, ("advice", "questions", "reason")),
        (VisitEvent, ("reason",)),
        (ChecklistAnswer, ("notes",)),
        (ConsultantLeave, ("note",)),
        (SiteDays, ("note",)),
        (Prerequisite, ("evidence", "value", "waiver_reason")),
        (SensorDeployment, ("note",)),
    ):
        for row in s.exec(select(model)).all():
            for f in fields:
                value = getattr(row, f, None)
                if isinstance(value, str) and value.strip():
                    found.add(value.strip())
                    found.update(line.strip() for line in value.splitlines() if line.strip())
    for doc in s.exec(select(TechDocVersion)).all():
        for text in doc.sections.values():
            found.update(line.strip() for line in text.splitlines() if line.strip())
    for event in s.exec(select(VisitEvent)).all():
        found.update(v for k, v in event.data.items() if k in ("advice", "questions") and v)
    for report in s.exec(select(VisitReport)).all():
        found.update(p.strip() for p in visible_text(report.html).split(" \n ") if p.strip())
    return found


def i18n_keys() -> set[str]:
    keys: set[str] = set(STATE_LABELS) | set(CRITICALITY_LABELS)
    for table in i18n.LABEL_TABLES.values():
        keys |= set(table)
    return keys


def problems_in(text: str, lang: str, data: list[str], tokens: set[str]) -> list[str]:
    for value in data:
        if len(value) >= 3:
            text = text.replace(value, " ")
    found = []
    found += [f"escape {m}" for m in ESCAPE.findall(text)]
    found += [f"key=value {m}" for m in KEY_VALUE.findall(text)]
    found += [f"snake_case {m}" for m in SNAKE.findall(text)]
    words = set(re.findall(r"[\w']+", text))
    found += [f"internal token {w}" for w in sorted(words & tokens)]
    if lang == "en":
        lowered = {w.lower() for w in re.findall(r"\w+", text)}
        found += [f"French word {w}" for w in sorted(lowered & FRENCH_WORDS)]
        found += [
            f"French word {w}"
            for w in sorted(set(ACCENTED.findall(text)))
            if w.lower() not in ENGLISH_WITH_ACCENTS
        ]
    return found


@pytest.fixture
def desk(sqlite_engine: Engine, tmp_path: Path) -> Desk:
    return make_desk(sqlite_engine, tmp_path)


def test_every_page_speaks_french_and_english_without_internal_names(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = populate(desk)
    params = {k: ids[k] for k in ("case_id", "event_id", "client_id", "visit_id", "token",
                                  "user_id", "sig", "contract_id", "job_id")}
    untranslated: set[str] = set()
    unlabelled: set[str] = set()
    gettext, pair_label = i18n.gettext, i18n.pair_label

    def spy_gettext(lang: str, text: str) -> str:
        if lang == "en" and text and not i18n.translated(text):
            untranslated.add(text)
        return gettext(lang, text)

    def spy_pair_label(table: dict[str, str], lang: str, key: str | None) -> str:
        if key and key not in table:
            unlabelled.add(key)
        return pair_label(table, lang, key)

    monkeypatch.setattr(i18n, "gettext", spy_gettext)
    monkeypatch.setattr(i18n, "pair_label", spy_pair_label)

    pages: list[str] = []
    for route in routes_of(desk.app):
        path = route.path
        if "GET" not in route.methods or path.startswith(SKIPPED_PREFIXES):
            continue
        if path in BINARY_PAGES:
            continue
        names = re.findall(r"{(\w+)(?::\w+)?}", path)
        missing = [n for n in names if n not in params]
        assert not missing, f"no test value for {missing} of {path}: add one to the walk"
        url = re.sub(r"{(\w+)(?::\w+)?}", lambda m: str(params[m.group(1)]), path)
        pages += [url, *(url + q for q in EXTRA_QUERIES.get(path, []))]
    pages += [f"/visits/{v}" for v in ids["other_visits"]]  # the visit page in each state
    assert len(pages) > 25, pages

    data = data_strings(desk.engine)
    reached: dict[str, int] = dict.fromkeys(pages, 0)
    failures: list[str] = []
    sessions = {role: desk.signed_in(role)[0] for role in ROLE_USERS}
    sessions["anonymous"] = desk.client()  # the sign-in page
    for lang in ("fr", "en"):
        tokens = internal_tokens(lang)
        for role, http in sessions.items():
            for url in pages:
                sep = "&" if "?" in url else "?"
                # the client's portal case page needs a case of its own company
                r = http.get(f"{url}{sep}lang={lang}")
                if r.status_code in (401, 403, 404, 303, 307):
                    continue
                assert r.status_code == 200, (role, url, r.status_code, r.text[:500])
                reached[url] += 1
                if r.headers["content-type"].startswith("application/json"):
                    body = r.json()
                    html = " ".join(str(v) for v in body.values() if isinstance(v, str))
                else:
                    html = r.text
                for problem in problems_in(visible_text(html), lang, data, tokens):
                    failures.append(f"[{lang}] {url.split('?')[0]}: {problem}")
    never = [u for u, n in reached.items() if n == 0 and u not in REDIRECTS]
    assert not never, f"pages no role could open: {never}"
    failures += [f"no English for: {t}" for t in sorted(untranslated)]
    failures += [f"no label for key: {k}" for k in sorted(unlabelled)]
    assert not failures, "\n".join(sorted(set(failures))[:300])


def test_the_walk_catches_what_it_is_meant_to_catch() -> None:
    """The heuristics themselves: each leak of the issue is caught, plain words are not."""
    en, fr = internal_tokens("en"), internal_tokens("fr")
    assert problems_in("criticality=major, previous=", "fr", [], fr)
    assert problems_in("politique env", "fr", [], fr)
    assert problems_in("mesure : count", "fr", [], fr)
    assert problems_in("Jean (after_hours)", "fr", [], fr)
    assert problems_in("Jean (primary)", "fr", [], fr)
    assert problems_in('{"text": "\\u003c"}', "fr", [], fr)
    assert problems_in("Next steps: Enregistrer la demande", "en", [], en)
    assert problems_in("Délai de classification", "en", [], en)
    assert not problems_in("Time to triage: 0 h 10 (met)", "en", [], en)
    assert not problems_in("Délai de classification : 0 h 10 (respecté)", "fr", [], fr)
    assert not problems_in("Cabinet Durand & Associés", "en", ["Cabinet Durand & Associés"], en)
    assert json.dumps("<")  # the escape the ledger used to show is JSON's


def test_every_next_step_of_the_case_workflow_reads_in_english() -> None:
    """The guided steps come from the workflow (French): each one has its English, so
    ``?lang=en`` never leaves a next step in French (the walk above runs without Temporal)."""
    from workflows.case_machine import CONFIRM_RECOVERY, NEXT_STEPS

    labels = {step.label for steps in NEXT_STEPS.values() for step in steps}
    labels.add(CONFIRM_RECOVERY.label)
    missing = sorted(label for label in labels if not i18n.translated(label))
    assert not missing, missing


def test_every_sla_derivation_reads_in_english() -> None:
    """Each figure's explanation (``domain.sla``, French) comes out without a French word."""
    from domain.calendar import default_calendar
    from domain.sla import LedgerEntry, compute

    tokens = internal_tokens("en")
    ledgers = [
        [(0, "open", {}), (10, "classify", {"criticality": "major"}),
         (15, "register_demande", {"demande_ref": "DEM-1"}),
         (20, "record_contact", {"channel": "phone", "outcome": "reached"}),
         (25, "start_l1", {}), (90, "escalate_l2", {"by": "timer"}), (200, "resolve", {}),
         (300, "close", {})],
        [(0, "open", {}), (30, "classify", {"criticality": "minor"}),
         (45, "communication", {"channel": "email", "status": "sent"})],
        [(0, "open", {})],
        [(0, "open", {}), (5, "classify", {"criticality": "significant"}), (9, "resolve", {})],
        [(0, "open", {}), (5, "classify", {"criticality": "no_impact"})],
    ]  # fmt: skip
    for ledger in ledgers:
        entries = [
            LedgerEntry(seq=i, at=MONDAY_9H + timedelta(minutes=m, days=3 * (i > 6)),
                        action=a, from_state=None, to_state=None, actor="alice",
                        data=d)
            for i, (m, a, d) in enumerate(ledger, start=1)
        ]
        sla = compute(entries, default_calendar(), now=MONDAY_9H + timedelta(days=5))
        for figure in sla.figures():
            english = i18n.explain("en", figure.explanation)
            assert not problems_in(english, "en", ["alice", "DEM-1"], tokens), (
                figure.explanation,
                english,
            )


# --- the page shown after each POST on the visit and contract pages (issue 19) --------------

POST_PREFIXES = ("/visits/", "/contracts", "/clients/", "/planning/")
POST_SKIPPED = ("/api/", "/visits/answer/")  # JSON; the client's link page has its own test
VISIT_ACTIONS = ("propose", "confirm", "assign", "reschedule", "cancel", "start",
                 "write_report", "no_access", "send_report", "unknown")
POST_FORMS: dict[str, list[dict[str, str]]] = {  # what a person may send: good, then empty
    "/visits/{visit_id:int}/act/{action}": [
        {"date1": "2027-05-20", "date2": "2027-05-21", "reason": "client absent"}, {}],
    "/visits/{visit_id:int}/checklist/{key}/open": [{"kind": "demande"}, {}],
    "/visits/{visit_id:int}/checklist": [{"answer-ups": "ok"}],
    "/clients/{client_id:int}/techdoc": [{"network": "LAN 10.0.0.0/24"}, {}],
    "/contracts": [{"client_id": "0", "start_date": "2027-01-04"}, {}],
    "/contracts/{contract_id}/prerequisites/{code}": [
        {"status": "met", "evidence": "vu sur site"}, {"status": "???"}],
    "/contracts/{contract_id}/prerequisites/{code}/waive": [{"reason": ""}],
    "/contracts/{contract_id}/decide": [{"days": "x"}, {}],
    "/contracts/{contract_id}/sensors/{deployment_id}": [{"status": "???"}],
    "/contracts/{contract_id}/notice": [{"received_on": "pas une date"}, {}],
    "/contracts/{contract_id}/remedied": [{"reason": ""}],
    "/contracts/{contract_id}/erase": [{}],
    "/planning/plan-year": [{"year": "2027"}],
    "/planning/leave": [{"user_id": "x", "start": "bad"}, {}],
}


def test_the_page_after_each_post_on_visit_and_contract_pages_speaks_english(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each POST of the visit, technical-document, planning and contract pages, sent good
    and bad by the roles that may, lands on a page (its flash included) without French on
    the English page and without an internal name on either (issue 19, finding 9)."""
    from console.web import LANG_COOKIE

    ids = populate(desk)
    params: dict[str, Any] = {**ids, "key": "ups", "code": "fixed_ip"}
    with Session(desk.engine) as s:
        from contracts import store

        params["deployment_id"] = store.sensors(s, ids["contract_id"])[0].id
    untranslated: set[str] = set()
    gettext = i18n.gettext

    def spy_gettext(lang: str, text: str) -> str:
        if lang == "en" and text and not i18n.translated(text):
            untranslated.add(text)
        return gettext(lang, text)

    monkeypatch.setattr(i18n, "gettext", spy_gettext)
    posts: list[tuple[str, str]] = []
    for route in routes_of(desk.app):
        path = route.path
        if "POST" not in route.methods or not path.startswith(POST_PREFIXES) \
                or any(p in path for p in POST_SKIPPED):
            continue
        actions = VISIT_ACTIONS if "{action}" in path else ("",)
        for action in actions:
            values = {**params, "action": action}
            url = re.sub(r"{(\w+)(?::\w+)?}", lambda m, v=values: str(v[m.group(1)]), path)
            posts += [(path, url)]
    assert len(posts) > 20, posts
    data = data_strings(desk.engine)
    failures: list[str] = []
    for lang in ("fr", "en"):
        tokens = internal_tokens(lang)
        for role in ("planner", "consultant", "admin", "manager"):
            http, token = desk.signed_in(role)
            http.cookies.set(LANG_COOKIE, lang)  # as a page viewed with ?lang= leaves it
            for path, url in posts:
                for form in POST_FORMS.get(path, [{}]):
                    r = http.post(url, data={**form, "csrf_token": token},
                                  follow_redirects=True)
                    if r.status_code in (401, 403, 404, 405):
                        continue
                    assert r.status_code < 500, (role, url, form, r.text[:500])
                    if not r.headers.get("content-type", "").startswith("text/html"):
                        continue
                    flash = re.search(r'<div class="flash[^>]*>(.*?)</div>', r.text, re.S)
                    said = f" — flash: {flash.group(1).strip()}" if flash else ""
                    for problem in problems_in(visible_text(r.text), lang, data, tokens):
                        failures.append(f"[{lang}] POST {path}: {problem}{said}")
    failures += [f"no English for: {t}" for t in sorted(untranslated)]
    assert not failures, "\n".join(sorted(set(failures))[:300])
