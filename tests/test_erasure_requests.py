"""Issue 20: erasure on request (one contact, a whole client), holds that refuse with their
reason, the retention Schedule, termination closing the open cases, and the export of
everything about a client that has no contract record."""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, cast
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select
from temporalio.worker import Worker

from activities.privacy import privacy_activities
from base.settings import Settings
from contracts import keys, privacy, requests, store
from contracts.closing import close_open_cases
from contracts.codec import data_converter, with_codec
from models.db import session_scope
from models.privacy import ErasureRequest
from models.tables import Case, Contact, Demande
from models.tables import Client as ClientRow
from tests.test_contracts import make_contract
from tests.test_erasure_everywhere import (
    JULIEN,
    JULIEN_MAIL,
    JULIEN_PHONE,
    SOPHIE,
    SOPHIE_MAIL,
    CodecDesk,
    build_client,
    temporal,  # noqa: F401  (fixture)
    var_dir,  # noqa: F401  (fixture)
)
from tests.workflow_fixtures import RecordingActivities
from vigie.schedules import ERASURE_SCHEDULE_ID, desired_schedules
from workflows.erasure import ErasureSweepWorkflow

HISTORIES = Path(__file__).resolve().parent / "histories"


def every_text(engine: Engine) -> str:
    """Every column of every table, cast to text: what a person could still read."""
    out = []
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            cols = [cast(c, String) for c in table.columns]
            for row in conn.execute(sa_select(*cols)):
                out.append(" ".join(str(v) for v in row if v is not None))
    return "\n".join(out).lower()


def test_one_contact_who_left_is_erased_while_the_client_stays_in_service(
        engine: Engine, var_dir: Any) -> None:  # noqa: F811
    ids = build_client(engine)
    detail = requests.erase_contact(engine, ids["julien"], by="manager",
                                    reason="courriel du client du 03/12 : a quitté la société")
    assert "audit_event" in detail and "visit_event" in detail
    text = every_text(engine)
    for ident in (JULIEN, JULIEN_MAIL, JULIEN_PHONE):
        assert ident.lower() not in text, ident
    assert SOPHIE.lower() in text and SOPHIE_MAIL in text  # the others stay
    with Session(engine) as s:
        client = s.get(ClientRow, ids["client"])
        assert client is not None and client.active and "Martin" in client.name
        assert s.get(Contact, ids["sophie"]) is not None
        (req,) = requests.requests_of(s, ids["client"])
        assert (req.contact_id, req.outcome, req.requested_by) == (ids["julien"], "done",
                                                                   "manager")
        assert "quitté" in req.reason and req.subject == f"contact-{ids['julien']}"
    again = requests.erase_contact(engine, ids["julien"], by="manager", reason="relance")
    assert again == "contact déjà effacé"


def test_a_hold_refuses_with_its_reason_until_it_is_released(
        engine: Engine, var_dir: Any) -> None:  # noqa: F811
    ids = build_client(engine)
    hold = requests.set_hold(engine, ids["client"], reason="Tribunal de commerce RG 26/0412",
                             by="manager")
    with pytest.raises(privacy.PrivacyError, match="RG 26/0412"):
        requests.erase_client_on_request(engine, ids["client"], by="admin",
                                         reason="instruction du client")
    with pytest.raises(privacy.PrivacyError, match="RG 26/0412"):
        requests.erase_contact(engine, ids["sophie"], by="admin", reason="a quitté")
    with Session(engine) as s:
        refused = [r for r in requests.requests_of(s, ids["client"]) if r.outcome == "refused"]
        assert len(refused) == 2 and all("RG 26/0412" in r.detail for r in refused)
        assert s.get(Contact, ids["sophie"]) is not None  # nothing was touched
    requests.release_hold(engine, hold, by="manager")
    summary = requests.erase_client_on_request(engine, ids["client"], by="admin",
                                               reason="instruction du client")
    assert summary.contacts == 2


def test_an_open_demande_holds_the_data(engine: Engine, var_dir: Any) -> None:  # noqa: F811
    ids = build_client(engine)
    with session_scope(engine) as s:
        s.add(Demande(ref="DEM-77", case_id=ids["case"], opened_by="alice", summary="x"))
    with pytest.raises(privacy.PrivacyError, match="DEM-77"):
        requests.erase_contact(engine, ids["julien"], by="admin", reason="a quitté")


def test_a_client_under_contract_is_terminated_first(engine: Engine, var_dir: Any) -> None:  # noqa: F811
    """Erasure does not race the termination workflow: refused while the contract is in
    force, and while its termination has not yet closed the cases and cancelled the visits
    (its planners' notice is that step's last line)."""
    contract = make_contract(engine)
    with pytest.raises(privacy.PrivacyError, match="résiliez"):
        requests.erase_client_on_request(engine, contract.client_id, by="admin",
                                         reason="instruction du client")
    at = datetime.now(UTC)
    store.set_status(engine, contract.id or 0, "terminated", key="t", at=at, actor="system",
                     terminated_at=at)
    with pytest.raises(privacy.PrivacyError, match="Résiliation en cours"):
        requests.erase_client_on_request(engine, contract.client_id, by="admin",
                                         reason="instruction du client")
    store.append_event(engine, contract.id or 0, "notice", at, "planner_notice", "system")
    summary = requests.erase_client_on_request(engine, contract.client_id, by="admin",
                                               reason="instruction du client")
    assert not summary.already


def test_the_export_of_a_client_without_contract_has_every_section(
        engine: Engine, var_dir: Any) -> None:  # noqa: F811
    ids = build_client(engine)
    blob = privacy.export_client(engine, ids["client"], by="manager", role="manager")
    z = zipfile.ZipFile(io.BytesIO(blob))
    names = set(z.namelist())
    for stem in ("contacts", "users", "messages", "communications", "cases", "case_ledger",
                 "visits", "visit_ledger", "checklists", "visit_reports", "techdoc_versions",
                 "access_log"):
        assert {f"{stem}.json", f"{stem}.csv"} <= names, stem
        rows = json.loads(z.read(f"{stem}.json"))
        lines = list(csv.reader(io.StringIO(z.read(f"{stem}.csv").decode("utf-8-sig")),
                                delimiter=";"))
        assert len(lines) == len(rows) + 1, stem
        assert rows or stem in ("users",), f"{stem} is empty"
    assert json.loads(z.read("contract.json"))["contract"] is None
    assert f"visit_reports/visit-{ids['visit']}.pdf" in names
    assert any("servers" in v["sections"] for v in json.loads(z.read("techdoc_versions.json")))
    ledger = json.loads(z.read("case_ledger.json"))
    assert any(JULIEN_MAIL in line["actor"] for line in ledger)


async def test_the_retention_schedule_erases_a_terminated_client_by_itself(
        sqlite_engine: Engine, var_dir: Any, dev_env: Any) -> None:  # noqa: F811
    """On the dev server (the time-skipping test server has no Schedules)."""
    engine = sqlite_engine
    contract = make_contract(engine)
    ended = datetime.now(UTC) - timedelta(days=31)
    store.set_status(engine, contract.id or 0, "terminated", key="t", at=ended, actor="system",
                     terminated_at=ended)
    queue = f"erasure-{uuid.uuid4().hex[:6]}"
    client = with_codec(dev_env.client, engine)
    schedule = desired_schedules(Settings(task_queue=queue))[ERASURE_SCHEDULE_ID]
    sid = f"{ERASURE_SCHEDULE_ID}-{queue}"
    handle = await client.create_schedule(sid, schedule)
    try:
        async with Worker(client, task_queue=queue, workflows=[ErasureSweepWorkflow],
                          activities=privacy_activities(engine, 30),
                          activity_executor=concurrent.futures.ThreadPoolExecutor(2)):
            await handle.trigger()  # the schedule's action, now rather than in 24 h
            for _ in range(600):
                with Session(engine) as s:
                    c = store.contract_of_client(s, contract.client_id)
                    if c is not None and c.erased_at is not None:
                        break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the schedule never erased the client")
    finally:
        await handle.delete()
    with Session(engine) as s:
        assert s.exec(select(Contact).where(Contact.client_id == contract.client_id)).all() == []
        (req,) = s.exec(select(ErasureRequest).where(
            ErasureRequest.client_id == contract.client_id)).all()
        assert req.requested_by == "system" and "conservation" in req.reason


async def test_termination_closes_the_clients_open_cases(
        sqlite_engine: Engine, var_dir: Any, temporal: Any) -> None:  # noqa: F811
    engine = sqlite_engine
    ids = build_client(engine)
    client = with_codec(temporal.client, engine)
    desk = CodecDesk(temporal, RecordingActivities(case_ref=f"VIG-{uuid.uuid4().hex[:6]}"))
    desk.codec_client = client
    async with desk.worker():
        handle = await desk.open(client_id=ids["client"])
        with session_scope(engine) as s:
            s.add(Case(ref=desk.acts.case_ref, workflow_id=handle.id, run_id="r",
                       fingerprint="f", client_id=ids["client"], host="srv-plm01",
                       family="perf", check="cpu", title="t", state="new",
                       opened_at=datetime(2026, 12, 1, tzinfo=UTC)))
            gone = s.get(Case, ids["case"])
            assert gone is not None and not gone.closed  # a row whose workflow is gone
        closed, by_hand = await close_open_cases(client, engine, ids["client"],
                                                 "Contrat résilié")
        assert sorted(closed) == sorted([desk.acts.case_ref, gone.ref]) and by_hand == []
        view = await desk.view(handle)
        assert view.state == "closed"
        again = await close_open_cases(client, engine, ids["client"], "Contrat résilié")
        assert again == ([desk.acts.case_ref], [])  # the projection is the fake's: still open


async def test_the_console_erases_on_request_holds_exports_and_decodes_for_the_temporal_ui(
        engine: Engine, var_dir: Any, tmp_path: Any) -> None:  # noqa: F811
    """The privacy page of a client without contract: a hold refuses the erasure with its
    reason (a flash, not a 500), one contact erased with requester and reason, the export of
    every section, and the codec endpoint decoding for staff only."""
    import base64

    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payload

    from contracts.codec import ClientCodec
    from tests.browser.support import make_desk

    ids = build_client(engine)
    desk = make_desk(engine, tmp_path / "console")
    cid = ids["client"]
    manager, mtoken = desk.signed_in("manager")
    assert manager.post(f"/privacy/clients/{cid}/holds", data={
        "reason": "Tribunal de commerce RG 26/0412", "csrf_token": mtoken},
        follow_redirects=True).status_code == 200
    admin, token = desk.signed_in("admin")
    refused = admin.post(f"/privacy/contacts/{ids['julien']}/erase", data={
        "requester": "M. Durand (DG)", "reason": "a quitté la société", "csrf_token": token},
        follow_redirects=True)
    assert refused.status_code == 200 and "RG 26/0412" in refused.text
    with Session(engine) as s:
        (hold,) = requests.holds(s, cid)
    manager.post(f"/privacy/holds/{hold.id}/release", data={"csrf_token": mtoken})
    done = admin.post(f"/privacy/contacts/{ids['julien']}/erase", data={
        "requester": "M. Durand (DG)", "reason": "a quitté la société", "csrf_token": token},
        follow_redirects=True)
    assert "Contact effacé partout" in done.text and JULIEN_MAIL not in done.text
    english = admin.get(f"/privacy/clients/{cid}?lang=en").text
    assert "Erasure requests" in english and "M. Durand (DG)" in english
    blob = manager.get(f"/privacy/clients/{cid}/export.zip")
    assert blob.headers["content-type"] == "application/zip"
    assert "techdoc_versions.csv" in zipfile.ZipFile(io.BytesIO(blob.content)).namelist()

    sealed = (await ClientCodec(engine).encode([Payload(
        metadata={"encoding": b"json/plain"},
        data=json.dumps({"client_id": cid, "sender": SOPHIE_MAIL}).encode())]))[0]
    body = {"payloads": [json_format.MessageToDict(sealed)]}
    assert SOPHIE_MAIL.encode() not in sealed.SerializeToString()
    tech, _ = desk.signed_in("technician")
    opened = tech.post("/codec/decode", json=body)  # a session, no CSRF token: read-only
    assert opened.status_code == 200
    data = base64.b64decode(opened.json()["payloads"][0]["data"])
    assert SOPHIE_MAIL.encode() in data
    client_user, _ = desk.signed_in("client")
    assert client_user.post("/codec/decode", json=body).status_code == 403
    assert tech.post("/codec/decode", content=b"{not json").status_code == 400
    erased = admin.post(f"/privacy/clients/{cid}/erase", data={
        "requester": "M. Durand (DG)", "reason": "fin de la relation", "csrf_token": token},
        follow_redirects=True)
    assert "Data erased: " in erased.text  # (English: the session chose it above)
    keys.forget_cached()
    shredded = tech.post("/codec/decode", json=body).json()["payloads"][0]
    assert base64.b64decode(shredded["metadata"]["encoding"]) == b"binary/encrypted"


@pytest.mark.parametrize("name", ["significant_mailed", "contract_notice_terminated",
                                  "contract_immediate_termination_closes_cases",
                                  "visit_confirmed_reported_and_sent"])
async def test_histories_recorded_before_the_codec_replay_through_it(
        sqlite_engine: Engine, var_dir: Any, name: str) -> None:  # noqa: F811
    """The codec changes payloads, not commands, and passes through what it did not seal:
    the old, unencrypted recordings replay through the desk's converter."""
    from temporalio.client import WorkflowHistory
    from temporalio.worker import Replayer

    from workflows.case import CaseWorkflow
    from workflows.contact import ContactWorkflow
    from workflows.onboarding import OnboardingWorkflow
    from workflows.termination import TerminationWorkflow
    from workflows.visit import VisitWorkflow

    text = await asyncio.to_thread((HISTORIES / f"{name}.json").read_text)
    history = WorkflowHistory.from_json(f"codec-{name}", text)
    assert "binary/encrypted" not in text
    replayer = Replayer(workflows=[CaseWorkflow, ContactWorkflow, VisitWorkflow,
                                   OnboardingWorkflow, TerminationWorkflow],
                        data_converter=data_converter(sqlite_engine))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
