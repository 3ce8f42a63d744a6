"""Contract scenarios on the data layer and the pure rules: the 3.1 gate, the onboarding
length, the notice dates, the router's respect of the contract status, and the personal data
(export of one client only, erasure that keeps the SLA figures)."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from base.settings import Settings
from console.sla import case_sla, env_policy
from contracts import privacy, store
from domain.contract import (
    PREREQUISITES,
    notice_day,
    notice_effective_at,
    notice_effective_date,
    onboarding_sizing,
)
from intake.router import OUT_OF_CONTRACT, materialize, route_for
from intake.store import accept
from models.contracts import Contract, DataAccess
from models.db import session_scope
from models.tables import (
    AlertEventRow,
    AuditEvent,
    Case,
    Client,
    Communication,
    Contact,
    RawMessage,
)
from planning import techdoc
from planning.visits import create_visit
from records.matching import Matcher
from tests.browser.support import add_case, load_demo_clients
from workflows.onboarding_machine import OnboardingCore

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def make_contract(engine: Engine, code: str = "client-a", **kw: object) -> Contract:
    ids = load_demo_clients(engine)
    return store.create_contract(engine, ids[code], date(2026, 12, 1), by="admin",
                                 at=T0, **kw)  # type: ignore[arg-type]


def meet_all(engine: Engine, contract_id: int, but: tuple[str, ...] = ()) -> None:
    with Session(engine) as s:
        items = store.prerequisites(s, contract_id)
    for p in items:
        if p.code in but or p.status != "open":
            continue
        store.record_prerequisite(engine, contract_id, p.code, status="met",
                                  evidence=f"constat sur site : {p.code}", by="admin",
                                  value="203.0.113.7" if p.code == "fixed_ip" else "")


# --- the 3.1 gate ---------------------------------------------------------------------------


def test_activation_is_refused_with_an_open_mandatory_prerequisite_and_allowed_with_a_waiver(
    engine: Engine,
) -> None:
    contract = make_contract(engine)
    cid = contract.id or 0
    meet_all(engine, cid, but=("server_room_phone",))
    core = OnboardingCore()
    core.model.state = "installing"
    with Session(engine) as s:
        open_items = [p.label for p in store.activation_blockers(s, cid)]
    assert open_items == ["Ligne téléphonique dans la salle serveur"]
    refusal = core.activation_refusal("admin", open_items)
    assert refusal is not None and "Ligne téléphonique dans la salle serveur" in refusal
    with pytest.raises(ValueError, match="prérequis obligatoire"):
        core.activate("admin", open_items, T0)
    assert core.state == "installing"

    with pytest.raises(store.ContractError, match="responsable"):
        store.waive_prerequisite(engine, cid, "server_room_phone", reason="ligne GSM",
                                 by="tech", role="technician")
    with pytest.raises(store.ContractError, match="raison"):
        store.waive_prerequisite(engine, cid, "server_room_phone", reason=" ",
                                 by="manager", role="manager")
    store.waive_prerequisite(engine, cid, "server_room_phone",
                             reason="ligne posée le 15/12, GSM de secours d'ici là",
                             by="manager", role="manager")
    with Session(engine) as s:
        assert store.activation_blockers(s, cid) == []
        waived = next(p for p in store.prerequisites(s, cid) if p.status == "waived")
        assert waived.waived_by == "manager" and "GSM" in waived.waiver_reason
        assert any(e.action == "prerequisite_waived" for e in store.timeline(s, cid))
    intents = core.activate("admin", [], T0)
    assert core.state == "active"
    assert {type(i).__name__ for i in intents} >= {"CreateDocument", "SetUpExpectations",
                                                   "SetStatus"}


def test_a_met_prerequisite_needs_evidence_and_the_fixed_ip_is_the_intakes(
    engine: Engine,
) -> None:
    contract = make_contract(engine, "client-b")
    cid = contract.id or 0
    with pytest.raises(store.ContractError, match="preuve"):
        store.record_prerequisite(engine, cid, "remote_assistance", status="met", evidence="",
                                  by="admin")
    with pytest.raises(store.ContractError, match="invalide"):
        store.record_prerequisite(engine, cid, "fixed_ip", status="met", evidence="contrat FAI",
                                  by="admin", value="not-an-ip")
    store.record_prerequisite(engine, cid, "fixed_ip", status="met", evidence="contrat FAI",
                              by="admin", value="198.51.100.20")
    with Session(engine) as s:
        client = s.get(Client, contract.client_id)
        assert client is not None and client.fixed_ips == "198.51.100.20"
        matcher = Matcher.load(s)
    assert matcher.ips[contract.client_id] == frozenset({"198.51.100.20"})


def test_options_not_bought_are_not_applicable_and_bought_ones_are_mandatory(
    engine: Engine,
) -> None:
    contract = make_contract(engine, options=["antivirus"])
    with Session(engine) as s:
        by_code = {p.code: p for p in store.prerequisites(s, contract.id or 0)}
    assert len(by_code) == len(PREREQUISITES)
    assert by_code["antivirus_service"].status == "open"
    assert by_code["security_box_service"].status == "not_applicable"


# --- onboarding length (3.2.1) ----------------------------------------------------------------


@pytest.mark.parametrize(("users", "servers", "contracted", "days"), [
    (5, 1, None, 1),
    (20, 4, None, 2),
    (60, 0, 3, 3),
    (60, 7, 4, 4),
])
def test_onboarding_duration_follows_the_contract_table(
    users: int, servers: int, contracted: int | None, days: int
) -> None:
    sizing = onboarding_sizing(users, servers, contracted)
    assert (sizing.days, sizing.flagged) == (days, False)


@pytest.mark.parametrize(("users", "servers", "contracted"), [
    (5, 3, None),  # few users, many servers: neither row
    (20, 1, None),  # the "10 à 49 utilisateurs. 3 serveurs et plus" row needs both
    (60, 2, None),  # from 50 users, but the contract record names no figure
])
def test_sizes_the_contract_does_not_cover_are_flagged_for_a_planner(
    users: int, servers: int, contracted: int | None
) -> None:
    sizing = onboarding_sizing(users, servers, contracted)
    assert sizing.days is None and sizing.flagged and sizing.needs_decision


def test_a_flagged_size_waits_for_the_planners_decision_recorded_with_its_author() -> None:
    from messages.contracts import ContractFacts

    core = OnboardingCore()
    intents = core.start(ContractFacts(1, 1, 5, 3, None, "onboarding"), T0, "admin")
    assert core.state == "awaiting_decision"
    assert not any(type(i).__name__ == "ScheduleVisit" for i in intents)
    assert core.check("decide", "planner", 0) is not None
    intents = core.decide("planner", 2, "3 serveurs à installer, 2 jours", T0)
    assert core.state == "scheduling"
    saved = next(i for i in intents if type(i).__name__ == "SaveSizing")
    assert saved.days == 2 and saved.decided_by == "planner"  # type: ignore[union-attr]
    assert "planificateur (planner)" in saved.rule  # type: ignore[union-attr]
    assert [i.days for i in intents if type(i).__name__ == "ScheduleVisit"] == [2]  # type: ignore[union-attr]


# --- notice dates ------------------------------------------------------------------------------


def test_the_notice_takes_effect_on_day_20_with_either_convention() -> None:
    received = date(2026, 3, 2)
    assert notice_effective_date(received) == date(2026, 3, 22)
    assert notice_effective_date(received, receipt_day_counts=True) == date(2026, 3, 21)
    assert notice_day(received, date(2026, 3, 22)) == 20
    assert notice_day(received, date(2026, 3, 21), receipt_day_counts=True) == 20
    at = notice_effective_at(received, "Europe/Paris")
    assert at.utcoffset() == timedelta(hours=1) and (at.hour, at.minute) == (0, 0)


# --- the router and the contract status -------------------------------------------------------

PROBE = (b"From: vigie-probe@client-a.example\r\nTo: alerts@desk.example\r\n"
         b"Message-ID: <%s@client-a.example>\r\n"
         b"Subject: [VIGIE] SRV-DC01 PROBLEM disk_free: C: 3%% free\r\n\r\n"
         b"Host: SRV-DC01\r\nCheck: disk_free\r\nTarget: C:\r\nStatus: PROBLEM\r\n")


def _route(engine: Engine, n: str) -> AlertEventRow:
    rid = accept(engine, PROBE % n.encode(), mail_from="vigie-probe@client-a.example",
                 rcpt_to="alerts@desk.example", peer_ip="127.0.0.1").raw_message_id
    with session_scope(engine) as s:
        raw = s.get(RawMessage, rid)
        assert raw is not None
        materialize(s, raw, Matcher.load(s), False,
                    unmonitored=store.unmonitored_client_ids(s))
        s.flush()
        row = s.exec(select(AlertEventRow).where(AlertEventRow.raw_message_id == rid)).one()
        s.expunge(row)
        return row


def test_a_client_without_contract_is_monitored_and_one_in_onboarding_is_only_recorded(
    engine: Engine,
) -> None:
    ids = load_demo_clients(engine)
    before = _route(engine, "m1")
    assert before.client_id == ids["client-a"] and route_for(before) is not None
    store.create_contract(engine, ids["client-a"], date(2026, 12, 1), by="admin")
    during = _route(engine, "m2")
    assert during.triage == OUT_OF_CONTRACT and route_for(during) is None
    with session_scope(engine) as s:
        c = store.contract_of_client(s, ids["client-a"])
        assert c is not None
        c.status = "active"
        s.add(c)
    after = _route(engine, "m3")
    assert after.triage == "none" and route_for(after) is not None


# --- personal data ------------------------------------------------------------------------------


def _comm(engine: Engine, case_id: int, recipient: str) -> None:
    with session_scope(engine) as s:
        s.add(Communication(key=f"c-{case_id}-{recipient}", case_id=case_id, recipient=recipient,
                            subject="Demande enregistrée", body=f"Bonjour {recipient}"))


def test_the_export_holds_the_clients_contacts_and_nothing_of_another_client(
    engine: Engine,
) -> None:
    ids = load_demo_clients(engine)
    a, b = ids["client-a"], ids["client-b"]
    case_a = add_case(engine, a, criticality="significant")
    case_b = add_case(engine, b, criticality="significant", host="srv-app")
    _comm(engine, case_a, "paul@client-a.example")
    _comm(engine, case_b, "secret@client-b.example")
    _route(engine, "mine")
    privacy.record_access(engine, username="tech", role="technician", client_id=a,
                          subject="case", subject_id=case_a)
    privacy.record_access(engine, username="tech", role="technician", client_id=b,
                          subject="case", subject_id=case_b)
    blob = privacy.export_client(engine, a, by="manager", role="manager")
    z = zipfile.ZipFile(io.BytesIO(blob))
    contacts = json.loads(z.read("contacts.json"))
    with Session(engine) as s:
        own = {c.email for c in s.exec(select(Contact).where(Contact.client_id == a))}
        others = {c.email for c in s.exec(select(Contact).where(Contact.client_id != a))}
        b_client = s.get(Client, b)
    assert {c["email"] for c in contacts} == own and own
    assert "contacts.csv" in z.namelist()
    assert [m["mail_from"] for m in json.loads(z.read("messages.json"))] == [
        "vigie-probe@client-a.example"]
    assert [c["recipient"] for c in json.loads(z.read("communications.json"))] == [
        "paul@client-a.example"]
    log = json.loads(z.read("access_log.json"))
    assert {r["client_id"] for r in log} == {a} and {r["subject"] for r in log} >= {"case",
                                                                                   "export"}
    everything = b"".join(z.read(n) for n in z.namelist()).decode()
    assert b_client is not None and b_client.name not in everything
    for email in others:
        assert email not in everything
    assert "secret@client-b.example" not in everything


def test_erasure_after_termination_keeps_the_sla_figures(engine: Engine) -> None:
    contract = make_contract(engine)
    a = contract.client_id
    case_id = add_case(engine, a, criticality="major", ledger=[
        (10, "classify", {"criticality": "major", "reason": "Serveur de fichiers arrêté"}),
        (25, "record_contact", {"channel": "phone", "outcome": "reached",
                                "text": "Parlé à Paul Petit, 06 12 34 56 78"}),
        (40, "resolve", {}),
    ])
    _comm(engine, case_id, "paul@client-a.example")
    _route(engine, "erase-me")
    with session_scope(engine) as s:  # a visit mail and a technical document name Paul too
        visit = create_visit(s, a, "preventive", date(2027, 1, 4), date(2027, 6, 30))
        s.add(Communication(key=f"VIS-{visit.id:05d}:visit_proposal:1", case_id=None,
                            workflow_id=visit.workflow_id, recipient="paul@client-a.example",
                            body="Bonjour Paul Petit, voici les dates proposées"))
        techdoc.save_version(s, a, {"network": "IP fixe 203.0.113.7"}, "admin")
    policy = env_policy(Settings(var_dir="/tmp"))

    def figures() -> dict[str, object]:
        with Session(engine) as s:
            rows = list(s.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)))
        sla = case_sla(rows, policy, T0 + timedelta(days=2))
        assert sla is not None
        return sla.to_dict()

    before = figures()
    with pytest.raises(privacy.PrivacyError, match="résiliation"):
        privacy.erase_client(engine, a, by="admin", retention_days=30)
    store.set_status(engine, contract.id or 0, "terminated", key="t", at=T0, actor="system",
                     terminated_at=T0)
    with pytest.raises(privacy.PrivacyError, match="conservation"):
        privacy.erase_client(engine, a, by="admin", retention_days=30, at=T0 + timedelta(days=3))
    summary = privacy.erase_client(engine, a, by="admin", retention_days=30,
                                   at=T0 + timedelta(days=31))
    assert summary.contacts >= 1 and summary.messages == 1 and summary.communications == 2
    assert figures() == before
    with Session(engine) as s:
        assert s.exec(select(Contact).where(Contact.client_id == a)).all() == []
        raw = s.exec(select(RawMessage).where(RawMessage.mail_from != "")).all()
        assert all(b"Host: SRV-DC01" not in r.data for r in raw)
        texts = " ".join(f"{x.reason} {x.data}" for x in s.exec(
            select(AuditEvent).where(AuditEvent.case_id == case_id)))
        assert "Paul" not in texts and "06 12" not in texts
        mails = " ".join(f"{c.recipient} {c.body}" for c in s.exec(select(Communication)))
        assert "Paul" not in mails and "paul@" not in mails
        doc = techdoc.latest(s, a)
        assert doc is not None and "Paul" not in str(doc.sections)
        # every section goes (issue 20: the servers section named the client's machines)
        assert not any(doc.sections.values()) and "203.0.113.7" not in str(doc.sections)
        assert s.get(Client, a).name.startswith("Client effacé")  # type: ignore[union-attr]
        assert s.exec(select(DataAccess).where(DataAccess.subject == "erasure")).one()
        # the alert's words (an event log may name its user) are gone; the machine's stay
        events = s.exec(select(AlertEventRow).where(AlertEventRow.client_id == a)).all()
        assert events and all(e.summary == "" and e.extra == {} for e in events)
        assert all(e.host and e.check for e in events)
        title = s.get(Case, case_id).title  # type: ignore[union-attr]
        assert "disque" not in title and title.startswith("srv-dc01")
    again = privacy.erase_client(engine, a, by="admin", retention_days=30,
                                 at=T0 + timedelta(days=40))
    assert again.already
