"""A "ko" on the checklist opens a case, or a Demande, in one click: a real case workflow
(the intake's), named after the visit and item, so a second click finds the same case."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.worker import Worker

from activities.cases import CaseActivities
from activities.comms import CommsActivities
from activities.mail import MailActivities, MailConfig
from models.db import session_scope
from models.tables import Case, Demande
from planning import checklist
from planning.cases import open_case_from_item
from planning.visits import create_visit
from tests.browser.support import load_demo_clients
from tests.conftest import fresh_id
from tests.visit_fixtures import settings_for
from workflows.case import CaseWorkflow
from workflows.contact import ContactWorkflow

pytestmark = pytest.mark.slow


async def case_row(engine: Engine, fingerprint: str) -> Case:
    for _ in range(200):
        with Session(engine) as s:
            found = s.exec(select(Case).where(Case.fingerprint == fingerprint)).first()
        if found is not None and found.state != "new":
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no case for {fingerprint}")


async def test_a_ko_item_opens_a_case_or_a_demande_once(
    time_env: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    clients = load_demo_clients(sqlite_engine)
    with session_scope(sqlite_engine) as s:
        visit = create_visit(s, clients["client-a"], "preventive", dt.date(2027, 1, 1),
                             dt.date(2027, 6, 30))
        vid = visit.id or 0
        visit.state = "in_progress"
        checklist.save_answer(s, vid, "ups", "ko", "batterie HS", "conseil")
        checklist.save_answer(s, vid, "backups", "ko", "job en échec", "conseil")
        checklist.save_answer(s, vid, "antivirus", "ok", "", "conseil")
    queue = fresh_id("ko")
    settings = settings_for(tmp_path, queue)
    acts = [*CaseActivities(sqlite_engine).all(), *CommsActivities(sqlite_engine).all(),
            *MailActivities(sqlite_engine, MailConfig(transport="capture")).all()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        async with Worker(time_env.client, task_queue=queue,
                          workflows=[CaseWorkflow, ContactWorkflow], activities=acts,
                          activity_executor=pool):
            first = await open_case_from_item(time_env.client, sqlite_engine, settings, vid,
                                              "ups", "case", "conseil")
            case = await case_row(sqlite_engine, f"visit:{vid}:ups")
            # the person reads the case's reference, never a workflow id (finding 9)
            assert first == case.ref and not first.startswith("case-")
            assert case.criticality == "minor" and "Onduleurs KO — batterie HS" in case.title
            assert case.client_id == clients["client-a"]
            again = await open_case_from_item(time_env.client, sqlite_engine, settings, vid,
                                              "ups", "case", "conseil")
            assert again == case.ref  # the same case, not a second one
            await open_case_from_item(time_env.client, sqlite_engine, settings, vid,
                                      "backups", "demande", "conseil")
            demande_case = await case_row(sqlite_engine, f"visit:{vid}:backups")
            for _ in range(200):
                with Session(sqlite_engine) as s:
                    demande = s.exec(select(Demande).where(
                        Demande.case_id == demande_case.id)).first()
                if demande is not None:
                    break
                await asyncio.sleep(0.05)
            assert demande is not None and demande_case.criticality == "significant"
            with pytest.raises(ValueError, match="KO"):
                await open_case_from_item(time_env.client, sqlite_engine, settings, vid,
                                          "antivirus", "case", "conseil")
            with Session(sqlite_engine) as s:
                assert len(s.exec(select(Case).where(
                    Case.client_id == clients["client-a"])).all()) == 2
