"""Issue 20: a client erased is gone from every store, not only from the rows a page shows.

One client with two contacts, a client user who signed in, a case whose workflow ran on the
time-skipping Temporal server through the desk's codec (with a client reply, a memo and the
contact run), replies attached to the case and one left in triage, a visit answered by a
contact with its report and checklist, a technical document, communications. After the
erasure every identifier is searched for as raw bytes: the SQLite file and its WAL (a
``pg_dump`` on PostgreSQL), every file of the desk's var/ folder, and every workflow history
as fetched from Temporal, not decoded. The SLA figures are the same before and after.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

from base.settings import Settings, get_settings
from console.sla import case_sla, env_policy
from contracts import keys, privacy
from contracts.codec import KeyDestroyed, with_codec
from messages.cases import ActionResult, ClientReplySignal, Criticality
from messages.comms import ContactInfo
from models.auth import SignInAttempt
from models.db import session_scope
from models.tables import (
    AlertEventRow,
    AuditEvent,
    Communication,
    Contact,
    RawMessage,
    Server,
    Site,
    User,
)
from models.tables import (
    Client as ClientRow,
)
from models.visits import ChecklistAnswer, SitePlace, Visit, VisitEvent, VisitReport
from planning import techdoc
from planning.visits import create_visit
from tests.browser.support import add_case
from tests.conftest import TEMPORAL_TEST_SERVER
from tests.workflow_fixtures import Desk, RecordingActivities
from vigie.temporal import register_search_attributes

JULIEN = "Julien Martin"
JULIEN_MAIL = "julien.martin@client-b.example"
JULIEN_PHONE = "+33611223344"
SOPHIE = "Sophie Durand"
SOPHIE_MAIL = "sophie.durand@client-b.example"
SOPHIE_PHONE = "+33655667788"
PORTAL_USER = "jmartin-portail"
PORTAL_NAME = "Julien Martin-Portail"
COMPANY = "Plomberie Martin Frères"
SITE = "Atelier des Glières"
SIGN_IN_IP = "198.51.100.23"
IDENTIFIERS = (JULIEN, JULIEN_MAIL, JULIEN_PHONE, SOPHIE, SOPHIE_MAIL, SOPHIE_PHONE,
               PORTAL_USER, PORTAL_NAME, COMPANY, SITE, SIGN_IN_IP)


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The desk's var/ is the test's folder: the database file and the codec's master key."""
    monkeypatch.setenv("VIGIE_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("VIGIE_CODEC_MASTER_KEY", raising=False)
    get_settings.cache_clear()
    keys.forget_cached()
    yield tmp_path
    get_settings.cache_clear()
    keys.forget_cached()


@pytest.fixture
async def temporal() -> AsyncIterator[Any]:
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=TEMPORAL_TEST_SERVER)
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


class CodecDesk(Desk):
    """The case fixtures' desk, speaking to Temporal through the desk's codec."""

    codec_client: Client | None = None

    @property
    def client(self) -> Client:
        assert self.codec_client is not None
        return self.codec_client


def build_client(engine: Engine) -> dict[str, Any]:
    """Everything a client's people leave in the desk's tables."""
    with session_scope(engine) as s:
        client = ClientRow(code=f"plm-{uuid.uuid4().hex[:6]}", name=COMPANY)
        s.add(client)
        s.flush()
        cid = client.id or 0
        site = Site(client_id=cid, name=SITE)
        s.add(site)
        s.flush()
        s.add(SitePlace(site_id=site.id or 0, postcode="74000"))
        s.add(Server(client_id=cid, site_id=site.id, hostname="srv-plm01",
                     display_name=f"PC de {JULIEN}"))
        julien = Contact(client_id=cid, name=JULIEN, email=JULIEN_MAIL, phone=JULIEN_PHONE)
        sophie = Contact(client_id=cid, name=SOPHIE, email=SOPHIE_MAIL, phone=SOPHIE_PHONE,
                         role="backup")
        s.add(julien)
        s.add(sophie)
        user = User(username=PORTAL_USER, full_name=PORTAL_NAME, password_hash="x",
                    role="client", client_id=cid)
        s.add(user)
        s.flush()
        s.add(SignInAttempt(username=PORTAL_USER, ip=SIGN_IN_IP, user_agent="Firefox",
                            outcome="ok"))
        s.add(SignInAttempt(username=PORTAL_USER, ip=SIGN_IN_IP, outcome="bad_password"))
        ids = {"client": cid, "julien": julien.id, "sophie": sophie.id}
    case_id = add_case(engine, cid, criticality="significant", host="srv-plm01",
                       title=f"srv-plm01 — session de {JULIEN}", ledger=[
                           (10, "classify", {"criticality": "significant"}),
                           (15, "register_demande", {}),
                           (20, "client_reply", {"summary": f"{JULIEN} rappelle au "
                                                            f"{JULIEN_PHONE}"}),
                           (45, "resolve", {}),
                       ])
    with session_scope(engine) as s:
        for line in s.exec(select(AuditEvent).where(AuditEvent.case_id == case_id,
                                                    AuditEvent.action == "client_reply")):
            line.actor = f"{JULIEN} <{JULIEN_MAIL}>"
            s.add(line)
        attached = RawMessage(sha256=uuid.uuid4().hex, message_id="<r1@client-b.example>",
                              mail_from=JULIEN_MAIL, rcpt_to="desk@vigie.example",
                              data=f"From: {JULIEN} <{JULIEN_MAIL}>\r\n\r\nMerci".encode())
        triage = RawMessage(sha256=uuid.uuid4().hex, message_id="<r2@client-b.example>",
                            mail_from=SOPHIE_MAIL, rcpt_to="desk@vigie.example",
                            data=f"From: {SOPHIE} <{SOPHIE_MAIL}>\r\n\r\nTel {SOPHIE_PHONE}"
                            .encode())
        s.add(attached)
        s.add(triage)
        s.flush()
        reply = {"family": "reply", "status": "info", "host": "", "check": ""}
        s.add(AlertEventRow(raw_message_id=attached.id or 0, client_id=cid, case_id=case_id,
                            summary=f"Réponse de {JULIEN}", **reply))
        s.add(AlertEventRow(raw_message_id=triage.id or 0, client_id=None, triage="unmatched",
                            summary=f"Réponse de {SOPHIE_MAIL}", **reply))
        s.add(Communication(key=f"c-{case_id}", case_id=case_id, recipient=JULIEN_MAIL,
                            subject="Demande enregistrée", body=f"Bonjour {JULIEN}",
                            contact_id=ids["julien"]))
        visit = create_visit(s, cid, "preventive", date(2027, 1, 4), date(2027, 6, 30))
        s.add(VisitEvent(visit_id=visit.id or 0, seq=1, at=visit.created_at,
                         action="client_answer", actor=JULIEN_MAIL,
                         reason=f"{JULIEN} préfère le mardi", data={"via": "mail"}))
        s.add(VisitEvent(visit_id=visit.id or 0, seq=2, at=visit.created_at,
                         action="client_answer_refused", actor=SOPHIE_MAIL))
        visit.questions = f"{SOPHIE} demande un devis"
        s.add(visit)
        s.add(VisitReport(visit_id=visit.id or 0, html=f"<p>Reçu par {JULIEN}</p>",
                          pdf=f"%PDF {JULIEN}".encode()))
        s.add(ChecklistAnswer(visit_id=visit.id or 0, template_version=1, item_key="ups",
                              answer="ko", notes=f"{SOPHIE} a l'onduleur chez elle"))
        techdoc.save_version(s, cid, {"servers": f"srv-plm01 ({SITE}), PC de {JULIEN}"},
                             "admin")
        ids["visit"], ids["case"] = visit.id, case_id
    return ids


async def run_case(desk: CodecDesk, client_id: int) -> list[str]:
    """A case of the client through the codec: a reply, a memo, the contact run."""
    desk.acts.contacts = [ContactInfo(1, JULIEN, "primary", 1, JULIEN_MAIL, JULIEN_PHONE)]
    handle = await desk.open(client_id=client_id, title=f"srv-plm01 — session de {JULIEN}")
    await desk.signal(handle, "client_reply", ClientReplySignal(
        event_id=None, received_at=await desk.now(), sender=f"{JULIEN} <{JULIEN_MAIL}>",
        summary=f"Rappelez {SOPHIE} au {SOPHIE_PHONE}"))
    await desk.act(handle, "classify", criticality=Criticality.SIGNIFICANT)
    await desk.act(handle, "register_demande")
    view = await desk.until(handle, lambda v: v.state == "client_notified")
    # decoded through the codec, the console reads what was said
    assert any(JULIEN_MAIL in f"{e.actor} {e.data}" for e in view.timeline)
    result = await desk.act(handle, "resolve", reason=f"vu avec {JULIEN}")
    assert isinstance(result, ActionResult)
    await desk.act(handle, "close")
    await handle.result()
    return [handle.id, *desk.runs]


async def raw_histories(client: Client, workflow_ids: list[str]) -> bytes:
    """Every history as the server stores it: protobuf bytes, not decoded."""
    out = b""
    for wid in dict.fromkeys(workflow_ids):
        token = b""
        while True:
            page = await client.workflow_service.get_workflow_execution_history(
                GetWorkflowExecutionHistoryRequest(
                    namespace=client.namespace, execution=WorkflowExecution(workflow_id=wid),
                    next_page_token=token))
            out += page.history.SerializeToString()
            token = page.next_page_token
            if not token:
                break
    return out


def stored_bytes(engine: Engine, db_url: str, var_dir: Path) -> dict[str, bytes]:
    """The database as raw bytes (file and WAL, or a pg_dump), and every file under var/."""
    found: dict[str, bytes] = {}
    if engine.dialect.name == "postgresql":
        dump = subprocess.run(["pg_dump", "--data-only", db_url.replace("+psycopg", "")],
                              capture_output=True, check=True, timeout=120)
        found["pg_dump"] = dump.stdout
    for path in sorted(var_dir.rglob("*")):
        if path.is_file():
            found[str(path.relative_to(var_dir))] = path.read_bytes()
    return found


def sla_figures(engine: Engine, case_id: int) -> dict[str, object]:
    with Session(engine) as s:
        rows = list(s.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)))
    from datetime import UTC, datetime

    sla = case_sla(rows, env_policy(Settings(var_dir="/tmp")), datetime(2027, 1, 1, tzinfo=UTC))
    assert sla is not None
    return sla.to_dict()


async def test_an_erased_client_is_found_in_no_store(
        engine: Engine, db_url: str, var_dir: Path, temporal: Any) -> None:
    ids = build_client(engine)
    client = with_codec(temporal.client, engine)
    desk = CodecDesk(temporal, RecordingActivities(case_ref=f"VIG-{uuid.uuid4().hex[:6]}"))
    desk.codec_client = client
    async with desk.worker():
        workflow_ids = await run_case(desk, ids["client"])
        workflow_ids += [f"contact-{desk.acts.case_ref}-{n}" for n in (1,)]
        workflow_ids = [w for w in workflow_ids if await _exists(client, w)]
    before = sla_figures(engine, ids["case"])
    histories = await raw_histories(temporal.client, workflow_ids)
    assert len(histories) > 2000 and b"binary/encrypted" in histories
    for ident in IDENTIFIERS:  # encrypted at rest, even before the erasure
        assert ident.encode() not in histories, ident

    summary = privacy.erase_client(engine, ids["client"], by="admin", retention_days=0,
                                   reason="instruction du client (courrier du 02/12)",
                                   on_request=True)
    assert summary.contacts == 2 and not summary.already

    assert sla_figures(engine, ids["case"]) == before
    stores = stored_bytes(engine, db_url, var_dir)
    stores["temporal histories"] = await raw_histories(temporal.client, workflow_ids)
    leaks = [(ident, where) for ident in IDENTIFIERS for where, blob in stores.items()
             if ident.encode() in blob or ident.lower().encode() in blob.lower()]
    assert leaks == [], leaks
    if engine.dialect.name == "sqlite":
        assert "vigie.sqlite3" in stores
    # crypto-shredding: the histories can no longer be read, even by the desk
    keys.forget_cached()
    handle = client.get_workflow_handle(workflow_ids[0])
    with pytest.raises(Exception) as failed:
        await handle.result()
    assert isinstance(failed.value, KeyDestroyed) or "détruite" in str(failed.value)


async def _exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
        return True
    except Exception:
        return False


def test_the_ledger_keeps_one_pseudonym_per_person(engine: Engine, var_dir: Path) -> None:
    """One pseudonym per person; and nothing of another client is touched, though its mail
    went to the same mailbox and its user signs in from the same office network."""
    ids = build_client(engine)
    other_mail = b"From: Anne Roy <anne@autre.example>\r\nTo: desk@vigie.example\r\n\r\nok"
    with session_scope(engine) as s:
        other = RawMessage(sha256=uuid.uuid4().hex, message_id="<o1@autre.example>",
                           mail_from="anne@autre.example", rcpt_to="desk@vigie.example",
                           data=other_mail)
        s.add(other)
        s.add(SignInAttempt(username="anne-portail", ip=SIGN_IN_IP, outcome="ok"))
        s.flush()
        other_id = other.id
    privacy.erase_client(engine, ids["client"], by="admin", retention_days=0, on_request=True)
    with Session(engine) as s:
        kept = s.get(RawMessage, other_id)
        assert kept is not None and kept.data == other_mail and kept.mail_from
        assert s.exec(select(SignInAttempt).where(
            SignInAttempt.username == "anne-portail")).one().ip == SIGN_IN_IP
    with Session(engine) as s:
        actors = [e.actor for e in s.exec(select(VisitEvent).where(
            VisitEvent.visit_id == ids["visit"]).order_by(VisitEvent.seq))]
        assert actors == [f"contact-{ids['julien']}", f"contact-{ids['sophie']}"]
        assert s.exec(select(Contact).where(Contact.client_id == ids["client"])).all() == []
        user_id = s.exec(select(User.id).where(User.client_id == ids["client"])).one()
        attempts = s.exec(select(SignInAttempt).where(
            SignInAttempt.username != "anne-portail")).all()
        assert [(a.username, a.ip) for a in attempts] == [(f"utilisateur-{user_id}", "")] * 2
        assert s.get(Visit, ids["visit"]).questions == ""  # type: ignore[union-attr]
