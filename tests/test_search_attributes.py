"""A case can be found in Temporal by what people know of it (issue 10, item 9): its
reference, its client's code, its class and its state, kept current by the workflow itself
and queried through the Temporal client on the real dev server (visibility store)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio.client import Client, WorkflowExecution

from messages.cases import Criticality
from messages.search import CASE_REF, CASE_STATE, CLIENT_CODE, CRITICALITY
from tests.workflow_fixtures import Desk, RecordingActivities


async def listed(client: Client, query: str, expect: int = 1,
                 seconds: float = 15) -> list[WorkflowExecution]:
    """Visibility is eventually consistent: poll until the query lists ``expect`` runs."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = [wf async for wf in client.list_workflows(query)]
        if len(found) == expect or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_a_case_is_listed_by_its_reference_client_class_and_state(dev_env: Any) -> None:
    ref = f"VIG-T{uuid.uuid4().hex[:8].upper()}"
    code = f"CLI-{uuid.uuid4().hex[:6]}"
    desk = Desk(dev_env, RecordingActivities(case_ref=ref, client_code=code))
    client = desk.client
    async with desk.worker():
        handle = await desk.open()
        try:
            (opened,) = await listed(client, f'CaseRef = "{ref}" AND CaseState = "new"')
            assert opened.id == handle.id
            attrs = opened.typed_search_attributes
            assert attrs.get(CASE_REF) == ref and attrs.get(CLIENT_CODE) == code
            assert attrs.get(CRITICALITY) is None  # not triaged yet

            await desk.act(handle, "classify", criticality=Criticality.MAJOR)
            query = f'ClientCode = "{code}" AND Criticality = "major" AND CaseState = "classified"'
            (major,) = await listed(client, query)
            assert major.id == handle.id

            await desk.act(handle, "resolve", reason="disque remplacé")
            (resolved,) = await listed(client, f'CaseRef = "{ref}" AND CaseState = "resolved"')
            assert resolved.typed_search_attributes.get(CASE_STATE) == "resolved"
            assert await listed(client, f'CaseRef = "{ref}" AND CaseState = "new"', 0) == []
        finally:
            await desk.terminate_running()


async def test_registering_the_attributes_again_adds_nothing(dev_env: Any) -> None:
    """The worker registers them at every start: on a server that has them (the dev server
    got them from ``--search-attribute``) that is a no-op, not an error."""
    from vigie.temporal import register_search_attributes

    assert await register_search_attributes(dev_env.client) == []
