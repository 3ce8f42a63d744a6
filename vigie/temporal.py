"""Connecting to Temporal, and the worker that hosts the desk's workflows and activities."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging

from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from base.settings import Settings

log = logging.getLogger(__name__)


# The desk's own modules and the pure libraries the workflows use: deterministic by
# construction (no I/O, clock or randomness at import or in use; replay tests guard it), so
# the sandbox imports them once instead of once per workflow instance.
PASSTHROUGH = ("workflows", "messages", "domain", "transitions", "holidays", "dateutil", "zoneinfo")


async def connect(settings: Settings, attempts: int = 60,
                  runtime: Runtime | None = None, engine: Engine | None = None) -> Client:
    """Connect, waiting for a Temporal that is still starting (embedded stack, compose).
    Every payload goes through the desk's codec (``contracts.codec``): per-client encryption."""
    from contracts.codec import data_converter
    from models.db import engine_for

    converter = data_converter(engine or engine_for(settings.db_url))
    last: Exception | None = None
    for _ in range(attempts):
        try:
            return await Client.connect(
                settings.temporal_address, namespace=settings.temporal_namespace,
                runtime=runtime, data_converter=converter,
            )
        except Exception as exc:  # the frontend is not listening yet
            last = exc
            await asyncio.sleep(1.0)
    raise RuntimeError(f"Temporal injoignable à {settings.temporal_address}: {last}")


def workflows() -> list[type]:
    from workflows.absence import AbsenceSweepWorkflow, BackupAuditWorkflow
    from workflows.case import CaseWorkflow
    from workflows.contact import ContactWorkflow
    from workflows.erasure import ErasureSweepWorkflow
    from workflows.onboarding import OnboardingWorkflow
    from workflows.termination import TerminationWorkflow
    from workflows.visit import VisitWorkflow

    return [CaseWorkflow, ContactWorkflow, AbsenceSweepWorkflow, BackupAuditWorkflow,
            VisitWorkflow, OnboardingWorkflow, TerminationWorkflow, ErasureSweepWorkflow]


def activities(engine: Engine) -> list:
    from activities.absence import AbsenceActivities, AbsencePolicy
    from activities.cases import CaseActivities
    from activities.comms import CommsActivities
    from activities.contracts import contract_activities
    from activities.mail import MailActivities, MailConfig
    from activities.phone import PhoneActivities, PhoneConfig
    from activities.privacy import privacy_activities
    from activities.visits import VisitActivities, visit_mail_config
    from base.settings import get_settings

    settings = get_settings()
    policy = AbsencePolicy.from_settings(settings)
    return [
        *CaseActivities(engine).all(),
        *AbsenceActivities(engine, policy).all(),
        *CommsActivities(engine).all(),
        *MailActivities(engine, MailConfig.from_settings(settings)).all(),
        *PhoneActivities(engine, PhoneConfig.from_settings(settings)).all(),
        *VisitActivities(engine, MailConfig.from_settings(settings),
                         visit_mail_config(settings)).all(),
        *contract_activities(engine, settings.timezone, MailConfig.from_settings(settings),
                             settings.planner_email or settings.team_email),
        *privacy_activities(engine, settings.data_retention_days),
    ]


def workflow_runner(kind: str = "passthrough") -> WorkflowRunner:
    """``passthrough`` (the default, see README "Scaling"): sandboxed, the desk's modules
    imported once; ``sandbox``: the SDK's default, everything re-imported per workflow;
    ``unsandboxed``: no sandbox at all (measured, not chosen)."""
    if kind == "unsandboxed":
        return UnsandboxedWorkflowRunner()
    if kind == "sandbox":
        return SandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


def build_worker(
    client: Client,
    engine: Engine,
    task_queue: str,
    executor: concurrent.futures.Executor,
    settings: Settings | None = None,
) -> Worker:
    """Tuned for a 2-core machine (README "Scaling"): few pollers (each is a long poll that
    costs nothing but a connection, and two keep a task always waiting), workflow-task slots
    a few times the cores (a task is a short burst of Python under the GIL; more slots only
    queue inside the process), a sticky cache large enough for a storm's open cases (a cache
    miss replays the whole history), activity slots matching the thread pool."""
    if settings is None:
        from base.settings import get_settings

        settings = get_settings()
    # the desk's worker always seals and opens payloads with the codec: a console or an
    # intake beside it does (``connect``), so a worker built on a bare client (tests'
    # servers) would fail to read what they send
    from contracts.codec import sealed

    client = sealed(client, engine)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows(),
        activities=activities(engine),
        activity_executor=executor,
        workflow_runner=workflow_runner(settings.workflow_runner),
        **worker_tuning(settings),
    )


def worker_tuning(settings: Settings) -> dict[str, int]:
    """The worker's slots, pollers and sticky cache (README "Worker tuning for 2 cores"): the
    desk's worker and the storm bench's floor worker are tuned alike, so the floor measures
    Temporal's own cost under the desk's settings."""
    return {
        "max_concurrent_activities": settings.worker_activity_slots,
        "max_concurrent_local_activities": settings.worker_local_activity_slots,
        "max_concurrent_workflow_tasks": settings.worker_workflow_slots,
        "max_concurrent_workflow_task_polls": settings.worker_pollers,
        "max_concurrent_activity_task_polls": settings.worker_pollers,
        "max_cached_workflows": settings.worker_cached_workflows,
    }


async def register_search_attributes(client: Client) -> list[str]:
    """Register the case search attributes (Keyword) that the namespace lacks; returns the
    names added. Idempotent; used by the worker at start and by the test servers (the
    time-skipping one cannot list them, so it is simply asked to add them all)."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )
    from temporalio.service import RPCError, RPCStatusCode

    from messages.search import NAMES

    missing = list(NAMES)
    try:
        known = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace)
        )
        missing = [n for n in NAMES if n not in known.custom_attributes]
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
    if not missing:
        return []
    keyword = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace, search_attributes={n: keyword for n in missing}
            )
        )
    except RPCError as exc:
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    log.info("Temporal: attributs de recherche enregistrés : %s", ", ".join(missing))
    return missing
