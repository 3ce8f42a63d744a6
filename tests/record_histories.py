"""Records the case workflow's histories that ``tests/test_replay.py`` replays.

    python -m tests.record_histories TAG

Each recording is ADDED as ``<scenario>.<TAG>.json`` (the tag names the workflow change it
covers, e.g. ``open_at_once``); an existing file is never replaced, so the histories of
every earlier version keep replaying with the current code. Run it after a change to the
case workflow guarded by ``workflow.patched`` (new runs take the new path, recorded here;
older histories still replay the old one).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from temporalio.service import RPCError

from tests.workflow_fixtures import SCENARIOS, Desk, RecordingActivities, start_test_env
from workflows.shared import contact_workflow_id

HISTORIES = Path(__file__).resolve().parent / "histories"


async def record(tag: str) -> list[Path]:
    HISTORIES.mkdir(exist_ok=True)
    written: list[Path] = []
    env = await start_test_env()
    try:
        for number, (name, scenario) in enumerate(SCENARIOS.items(), start=1):
            # a reference of its own per scenario: its contact runs are named after it
            desk = Desk(env, RecordingActivities(case_ref=f"VIG-{number:06d}"))
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
                scenario, _, child = stem.partition(".")
                path = HISTORIES / ".".join(x for x in (scenario, tag, child) if x)
                path = path.with_name(path.name + ".json")
                if path.exists():
                    raise SystemExit(f"{path} exists: recordings are added, never replaced")
                path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
                written.append(path)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isidentifier():
        raise SystemExit("usage: python -m tests.record_histories TAG")
    for p in asyncio.run(record(sys.argv[1])):
        print(p)
    sys.stdout.flush()
    os._exit(0)  # the Temporal bridge's threads can abort a normal interpreter shutdown
