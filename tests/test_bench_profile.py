"""What ``bench.storm`` reports about where a case's cost goes (issue 24) counts what is
there: the history events of real workflows on the real dev server (the floor's minimal
workflow, a desk case with its ``workflow.patched`` upserts), and a real py-spy recording
of a process whose hot function is known."""

from __future__ import annotations

import asyncio
import concurrent.futures
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench import floor
from bench.profile import Profiler, history_counts, py_spy, summarise
from tests.workflow_fixtures import Desk, RecordingActivities

ROOT = Path(__file__).resolve().parents[1]


async def test_the_floor_workflow_costs_one_task_and_six_events(dev_env: Any) -> None:
    """Signal-with-start, one local activity in the first task: six events, one task, no
    change-version upsert; ``first_task_done`` finds each first task."""
    queue = f"floor-{uuid.uuid4().hex[:8]}"
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules("bench"))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        async with Worker(dev_env.client, task_queue=queue, workflows=[floor.FloorWorkflow],
                          activities=[floor.note], activity_executor=pool,
                          workflow_runner=runner):
            address = dev_env.client.service_client.config.target_host
            sent = await floor.drive(address, queue, f"t{uuid.uuid4().hex[:6]}", 3, 50)
            done: dict[str, float] = {}
            for _ in range(100):
                done = await floor.first_task_done(address, list(sent))
                if len(done) == len(sent):
                    break
                await asyncio.sleep(0.1)
            assert done.keys() == sent.keys()
            assert all(done[w] >= sent[w] - 1 for w in sent)  # same machine's clock
            counts = await history_counts(dev_env.client, list(sent))
    assert counts.cases == 3
    assert counts.events == 6 and counts.workflow_tasks == 1
    assert counts.change_version_upserts == 0 and not counts.patches
    assert counts.by_type["MarkerRecorded"] == 1  # the local activity's result
    assert counts.by_type["WorkflowExecutionSignaled"] == 1


async def test_a_case_shows_its_change_version_upserts(dev_env: Any) -> None:
    """A case started without the opening path (``path=0``: as before issue 24) passes
    ``workflow.patched`` guards while it opens: the SDK upserts ``TemporalChangeVersion`` for
    them, and the count sees it; a case on today's path shows none."""
    desk = Desk(dev_env, RecordingActivities())
    async with desk.worker():
        today = await desk.open()
        handle = await desk.open(path=0)
        counts = await history_counts(dev_env.client, [handle.id])
        now = await history_counts(dev_env.client, [today.id])
    assert now.change_version_upserts == 0 and not now.patches
    assert counts.workflow_tasks >= 1
    assert counts.change_version_upserts >= 1
    assert counts.by_type.get("UpsertWorkflowSearchAttributes", 0) \
        >= counts.change_version_upserts
    assert counts.patches, "the patch ids come out of the upserts' plain JSON"
    assert sum(counts.patches.values()) >= counts.change_version_upserts


SPIN = """
import time
def spin_here():
    end = time.monotonic() + 30
    total = 0
    while time.monotonic() < end:
        total += sum(range(1000))
spin_here()
"""


def test_a_py_spy_recording_names_the_hot_function(tmp_path: Path) -> None:
    """py-spy attached to a live process by pid, stopped by SIGINT, its speedscope file
    summarised: the function that burns the CPU comes first."""
    try:
        py_spy()
    except SystemExit:
        pytest.skip("py-spy is not installed (the dev extras bring it)")
    target = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0.5)
        profiler = Profiler(tmp_path)
        profiler.attach("spinner", target.pid)
        time.sleep(3.0)
        written = profiler.stop()
    finally:
        target.kill()
        target.wait(10)
    assert set(written) == {"spinner"}
    lines = summarise(written["spinner"], ROOT)
    assert "s of thread time sampled as active" in lines[0]
    assert "spin_here" in lines[1], lines[:4]  # the top of the stack: where CPU goes
