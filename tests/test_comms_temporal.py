"""Client communication end to end on a real Temporal dev server, with the real activities,
the real SMTP relay (aiosmtpd), the real Twilio SDK against its loopback fake and the console's
signed webhooks:

* escalation through the contacts: the primary does not answer, the backup is called and does
  not answer either, then the client is mailed; the client's reply lands on the case;
* the crash test: ``python -m vigie worker`` is killed right after the send and before the
  record is marked; once restarted, nothing is sent a second time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities.cases import CaseActivities
from activities.comms import CommsActivities
from activities.mail import MailActivities, MailConfig
from activities.phone import PhoneActivities, PhoneConfig
from base.refkey import reference_key
from base.settings import Settings
from console import twilio_hooks
from console.deps import Services
from contracts import keys
from contracts.codec import with_codec
from domain.refs import client_ref
from intake.router import Router
from intake.store import accept
from messages.cases import ActionInput, CaseInput, CaseView, Criticality
from messages.comms import Channel
from models.db import make_engine, migrate
from models.tables import AuditEvent, Communication
from records.communications import CRASH_ENV
from tests.comms_fixtures import CONTACTS, Relay, relay_server, seed_client
from tests.conftest import fresh_id
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio, signed
from workflows.case import CaseWorkflow
from workflows.contact import ContactWorkflow

pytestmark = pytest.mark.slow
BASE = "https://desk.example.com"
ROOT = Path(__file__).resolve().parents[1]


def case_input(client_id: int, **changes: object) -> CaseInput:
    fields: dict[str, object] = {
        "fingerprint": fresh_id("fp"), "client_id": client_id, "server_id": None,
        "host": "SRV-DC01", "family": "hardware", "check": "raid", "target": "array0",
        "title": "SRV-DC01 — grappe RAID dégradée", "opened_at": datetime.now(UTC),
        "comms_timeout_seconds": 5,
    }
    fields.update(changes)
    return CaseInput(**fields)  # type: ignore[arg-type]


async def act(handle: WorkflowHandle, action: str, **fields: object) -> None:
    await handle.execute_update(action, ActionInput(actor="alice", **fields))  # type: ignore[arg-type]


async def eventually(check: Callable[[], object], what: str, within: float = 40) -> object:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(check)
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"jamais arrivé : {what}")


def comm_lines(view: CaseView) -> list[tuple[str, str, str]]:
    return [(e.data.get("step", ""), e.data["status"], e.data.get("recipient", ""))
            for e in view.timeline if e.action == "communication"]


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as f:
        yield f


async def test_no_answer_from_the_primary_then_the_backup_then_email(
    dev_env, sqlite_engine: Engine, fake: FakeTwilio
) -> None:
    client: Client = with_codec(dev_env.client, sqlite_engine)  # as the console's own client
    client_id, contact_ids = seed_client(sqlite_engine, CONTACTS[:2])  # any hour of the week
    queue = fresh_id("comms")
    relay = Relay()
    with relay_server(relay) as server, concurrent.futures.ThreadPoolExecutor(4) as pool:
        mail = MailConfig(transport="smtp", relay_host="127.0.0.1", relay_port=server.port,
                          tls="none", reply_to="alerts@desk.example")
        phone = PhoneConfig(transport="twilio", account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN,
                            from_number=FROM_NUMBER, callback_base=BASE, api_base=fake.base,
                            call_attempts=1, call_retry_seconds=0)
        worker = Worker(
            client, task_queue=queue, workflows=[CaseWorkflow, ContactWorkflow],
            activities=[*CaseActivities(sqlite_engine).all(),
                        *CommsActivities(sqlite_engine).all(),
                        *MailActivities(sqlite_engine, mail).all(),
                        *PhoneActivities(sqlite_engine, phone).all()],
            activity_executor=pool)
        settings = Settings(twilio_auth_token=AUTH_TOKEN, twilio_callback_base=BASE,
                            temporal_address=client.service_client.config.target_host)
        app = FastAPI()
        app.state.services = Services(settings=settings, engine=sqlite_engine, secret="s")
        app.include_router(twilio_hooks.router)  # signals through the console's own client
        async with worker, httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                             base_url=BASE) as http:
            handle = await client.start_workflow(
                CaseWorkflow.run, case_input(client_id), id=fresh_id("case"), task_queue=queue)
            await act(handle, "classify", criticality=Criticality.MAJOR)
            await act(handle, "register_demande")
            for number, expected in ((1, "+33450000011"), (2, "+33450000012")):
                await eventually(lambda n=number: len(fake.calls) >= n, f"appel {number}")
                call = fake.calls[number - 1]
                assert call["to"] == expected
                comm_id = int(fake.creates("Calls")[number - 1].one("Url").rsplit("/", 1)[1])
                path = f"/twilio/status/call/{comm_id}"
                params = {"CallSid": call["sid"], "CallStatus": "no-answer",
                          "AccountSid": ACCOUNT_SID}
                answer = await http.post(path, data=params, headers=signed(BASE + path, params))
                assert answer.status_code == 204
            await eventually(lambda: relay.messages, "le mail de repli")
            view = await _until(handle, lambda v: v.contact_active is None)
            ref = view.ref
            (envelope,) = relay.messages
            assert envelope.rcpt_tos == ["elodie@client-a.example"]
            shown = client_ref(ref, reference_key())  # tagged in client-facing text
            assert f"Subject: [{shown}] Incident majeur" in envelope.original_content.decode()
            assert comm_lines(view) == [
                ("l1_call", "no_answer", "+33450000011"),
                ("l1_call", "no_answer", "+33450000012"),
                ("l1_call_fallback", "sent", "Élodie Martin <elodie@client-a.example>")]
            assert view.state == "demande_registered"  # a person must still be reached
            with Session(sqlite_engine) as s:
                rows = s.exec(select(Communication).order_by(Communication.id)).all()
                ledger = s.exec(select(AuditEvent).where(AuditEvent.case_id == view.case_id)
                                .order_by(AuditEvent.seq)).all()
            assert [(r.channel, r.status, r.contact_id) for r in rows] == [
                ("phone", "no_answer", contact_ids[0]), ("phone", "no_answer", contact_ids[1]),
                ("email", "sent", contact_ids[0])]
            assert [r.key for r in rows] == [f"{ref}:l1_call:1.1", f"{ref}:l1_call:1.2",
                                             f"{ref}:l1_call_fallback:1"]
            # the SLA ledger has every attempt, and the mail as the first client contact
            assert [line.data.get("outcome") for line in ledger
                    if line.action == "communication"] == ["no_answer", "no_answer", "sent"]

            # the client answers the mail: the intake attaches the reply to the case
            reply = (f"From: elodie@client-a.example\r\nTo: alerts@desk.example\r\n"
                     f"Message-ID: <r1@client-a.example>\r\n"
                     f"In-Reply-To: {rows[2].message_id}\r\n"
                     f"Subject: RE: [{ref}] Incident majeur\r\n\r\n"
                     "Joignable au 04 50 00 00 11 jusqu'à midi.\r\n").encode()
            accept(sqlite_engine, reply)
            assert await Router(sqlite_engine, client, queue).drain_once() == 1
            view = await _until(handle, lambda v: v.timeline[-1].action == "client_reply")
            assert "Joignable au 04 50 00 00 11" in view.timeline[-1].reason
            await handle.terminate("fin du test")


async def _until(handle: WorkflowHandle, ok: Callable[[CaseView], bool],
                 within: float = 30) -> CaseView:
    deadline = time.monotonic() + within
    while True:
        view = await handle.query(CaseWorkflow.view)
        if ok(view):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"le cas n'y est jamais arrivé : {view.state}")
        await asyncio.sleep(0.2)


# --- the crash test -------------------------------------------------------------------------


def start_worker(env: dict[str, str], crash: bool, log: Path) -> subprocess.Popen[bytes]:
    env = {**env, CRASH_ENV: "1"} if crash else {k: v for k, v in env.items() if k != CRASH_ENV}
    return subprocess.Popen([sys.executable, "-m", "vigie", "worker"], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


@pytest.mark.parametrize("channel", ["email", "sms"])
async def test_a_worker_killed_after_the_send_does_not_send_again(
    dev_env, tmp_path: Path, fake: FakeTwilio, channel: str
) -> None:
    """Mail: the relay took it, the worker died before the mark; the retry marks it
    ``unknown`` and does not resend (at most once). SMS: the retry finds it at Twilio and
    takes its SID (exactly once)."""
    url = f"sqlite:///{tmp_path / 'vigie.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    client_id, _ = seed_client(engine)
    client: Client = with_codec(dev_env.client, engine)  # as the worker process's own
    queue = fresh_id("crash")
    relay = Relay()
    with relay_server(relay) as server:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "VIGIE_SECRET_KEY": secrets.token_urlsafe(48),  # a production start needs one
            "VIGIE_CODEC_MASTER_KEY": keys.master_key().hex(),  # one desk, one master key
            "VIGIE_TEMPORAL_ADDRESS": client.service_client.config.target_host,
            "VIGIE_TASK_QUEUE": queue,
            "VIGIE_SCHEDULES_ENABLED": "false",
            "VIGIE_MAIL_TRANSPORT": "smtp",
            "VIGIE_SMTP_RELAY_HOST": "127.0.0.1",
            "VIGIE_SMTP_RELAY_PORT": str(server.port),
            "VIGIE_SMTP_RELAY_TLS": "none",
            "VIGIE_PHONE_TRANSPORT": "twilio",
            "VIGIE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "VIGIE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "VIGIE_TWILIO_FROM_NUMBER": FROM_NUMBER,
            "VIGIE_TWILIO_CALLBACK_BASE": BASE,
            "VIGIE_TWILIO_API_BASE": fake.base,
        }
        log = tmp_path / "worker.log"
        worker = start_worker(env, crash=True, log=log)
        try:
            handle = await client.start_workflow(
                CaseWorkflow.run, case_input(client_id, comms_timeout_seconds=3),
                id=fresh_id("case"), task_queue=queue)
            if channel == "email":
                await act(handle, "classify", criticality=Criticality.SIGNIFICANT)
                await act(handle, "register_demande")  # the mail leaves after the answer
            else:
                await act(handle, "classify", criticality=Criticality.MINOR)
                await act(handle, "send_instructions", channel=Channel.SMS,
                          text="Redémarrez le service de sauvegarde.")
            code = await asyncio.to_thread(worker.wait, 60)
            assert code == 1, log.read_text()  # died right after the send
            sent = relay.messages if channel == "email" else fake.creates("Messages")
            assert len(sent) == 1
            with Session(engine) as s:
                (row,) = s.exec(select(Communication)).all()
            assert row.status == "sending"  # sent, never marked

            worker = start_worker(env, crash=False, log=log)
            view = await _until(handle, lambda v: bool(comm_lines(v)), within=60)
        finally:
            if worker.poll() is None:
                worker.terminate()
                await asyncio.to_thread(worker.wait, 20)
        await handle.terminate("fin du test")
    assert len(relay.messages if channel == "email" else fake.creates("Messages")) == 1
    with Session(engine) as s:
        (row,) = s.exec(select(Communication)).all()
    if channel == "email":
        assert comm_lines(view)[0][:2] == ("demande_registered", "unknown")
        assert row.status == "unknown" and row.message_id in row.evidence
        assert view.state == "demande_registered"  # not counted as a contact: to verify
    else:
        assert comm_lines(view)[0][:2] == ("instructions", "queued")
        assert row.provider_id == fake.messages[0]["sid"] and "déjà chez Twilio" in row.evidence
    engine.dispose()
