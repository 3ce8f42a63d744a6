"""Records the case workflow's histories that ``tests/test_replay.py`` replays.

    python -m tests.record_histories [SCENARIO ...]   # the case workflow's histories
    python -m tests.record_histories --visits         # adds the visit workflow's
    python -m tests.record_histories --contracts      # adds the contract workflows'
    python -m tests.record_histories --tag TAG [SCENARIO ...]  # as <scenario>.<TAG>.json

With scenario names, only those are recorded (to ADD a recording without replacing the old
ones); without, every scenario is. ``--tag`` records the scenarios again under
``<scenario>.<TAG>.json`` (the tag names the workflow change they cover, e.g.
``open_at_once``): the way to add the new path's recordings beside the old ones.

Cases are started as the router starts them (``Desk.path``: ``CaseInput.path`` set, search
attributes at start; issue 24); ``--path 0`` starts them as older starters did.

Recordings are only ever added: a history file that exists is kept as it is (it stands for
the cases running with the code that wrote it), and only new scenarios are written. A change
to the case workflow that alters the command sequence of a kept history goes behind
``workflow.patched(...)``; to record the new behaviour, add a scenario under a new name.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from temporalio.service import RPCError

from messages.comms import contact_workflow_id
from tests.workflow_fixtures import SCENARIOS, Desk, RecordingActivities, start_test_env

HISTORIES = Path(__file__).resolve().parent / "histories"


def _path(stem: str, tag: str) -> Path:
    """``name.json``, ``name.contact-1.json``; with a tag ``name.TAG.json``,
    ``name.TAG.contact-1.json``."""
    scenario, _, child = stem.partition(".")
    return HISTORIES / (".".join(x for x in (scenario, tag, child) if x) + ".json")


async def record(only: frozenset[str] = frozenset(), tag: str = "",
                 start_path: int | None = None) -> list[Path]:
    HISTORIES.mkdir(exist_ok=True)
    written: list[Path] = []
    env = await start_test_env()
    try:
        for number, (name, scenario) in enumerate(SCENARIOS.items(), start=1):
            if only and name not in only:
                continue
            if _path(name, tag).exists():
                continue  # kept: recordings are added, never replaced
            # a reference of its own per scenario: its contact runs are named after it
            desk = Desk(env, RecordingActivities(case_ref=f"VIG-{number:06d}"))
            if start_path is not None:
                desk.path = start_path
            async with desk.worker():
                handle = await scenario(desk)
                histories = [(name, await desk.client.get_workflow_handle(handle.id)
                              .fetch_history())]
                for run in range(1, 10):  # the case's contact runs (ContactWorkflow)
                    child = contact_workflow_id(desk.acts.case_ref, run)
                    try:
                        history = await desk.client.get_workflow_handle(child).fetch_history()
                    except RPCError:
                        break
                    histories.append((f"{name}.contact-{run}", history))
            for stem, history in histories:
                path = _path(stem, tag)
                if path.exists():
                    continue
                path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
                written.append(path)
    finally:
        await env.shutdown()
    return written


async def record_visit_histories() -> list[Path]:
    from tests.visit_histories import record_visits

    env = await start_test_env()
    try:
        return await record_visits(env, HISTORIES)
    finally:
        await env.shutdown()


async def record_contracts() -> list[Path]:
    """The contract workflows' scenarios (``tests.contract_histories``), new names only."""
    from tests.contract_histories import record as record_contract_histories

    env = await start_test_env()
    try:
        return await record_contract_histories(env, HISTORIES)
    finally:
        await env.shutdown()


if __name__ == "__main__":
    args = sys.argv[1:]
    tag = ""
    if "--tag" in args:
        at = args.index("--tag")
        if at + 1 >= len(args) or not args[at + 1].isidentifier():
            raise SystemExit("usage: python -m tests.record_histories --tag TAG [SCENARIO ...]")
        tag = args[at + 1]
        del args[at:at + 2]
    path: int | None = None
    if "--path" in args:
        at = args.index("--path")
        if at + 1 >= len(args) or not args[at + 1].isdigit():
            raise SystemExit("usage: python -m tests.record_histories --path N [SCENARIO ...]")
        path = int(args[at + 1])
        del args[at:at + 2]
    job = (record_visit_histories() if "--visits" in args
           else record_contracts() if "--contracts" in args
           else record(frozenset(args), tag, path))
    for p in asyncio.run(job):
        print(p)
    sys.stdout.flush()
    os._exit(0)  # the Temporal bridge's threads can abort a normal interpreter shutdown
