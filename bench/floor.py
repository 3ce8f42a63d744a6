"""The floor under ``bench.storm``'s steady run: what Temporal itself costs per new case.

A minimal workflow, opened by signal-with-start like a case, that runs one local activity
in its first task and then waits (a case stays open too), on a worker tuned as the desk's
(``vigie.temporal``: same runner, pollers, slots and sticky cache) in a process of its own.
No database, no codec, no intake or router: whatever the desk spends above this floor is
the desk's own. ``bench.storm`` starts the worker as ``python -m bench.floor ADDRESS QUEUE``
and drives it with :func:`drive`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import time
from datetime import timedelta

from temporalio import activity, workflow

WORKFLOW = "BenchFloor"
SIGNAL = "alert"


@activity.defn(name="bench_floor_note")
def note(n: int) -> int:
    """The local activity: as short as a step can be (the desk's opening step writes one
    transaction instead; that is the desk's cost, not Temporal's)."""
    return n + 1


@workflow.defn(name=WORKFLOW)
class FloorWorkflow:
    """Started by its first signal; one local activity; then open until told to close."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.closed = False

    @workflow.signal(name=SIGNAL)
    def alert(self, n: int) -> None:
        self.pending.append(n)

    @workflow.signal(name="close")
    def close(self) -> None:
        self.closed = True

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: bool(self.pending))
        await workflow.execute_local_activity(note, self.pending[0],
                                              start_to_close_timeout=timedelta(seconds=10))
        await workflow.wait_condition(lambda: self.closed)


async def serve(address: str, queue: str) -> None:
    """The floor's worker, with the desk worker's tuning (its settings and runner)."""
    from temporalio.client import Client
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from base.settings import get_settings
    from vigie.temporal import PASSTHROUGH, worker_tuning

    settings = get_settings()
    client = await Client.connect(address)
    runner = SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH,
                                                                          "bench"))
    threads = max(settings.worker_activity_slots, settings.worker_local_activity_slots)
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        worker = Worker(
            client, task_queue=queue, workflows=[FloorWorkflow], activities=[note],
            activity_executor=pool, workflow_runner=runner, **worker_tuning(settings),
        )
        await worker.run()


async def drive(address: str, queue: str, prefix: str, n: int, rate: float
                ) -> dict[str, float]:
    """``n`` signal-with-starts at ``rate`` a second, each on its own workflow id, each sent
    without waiting for the previous one (as the router's do not wait for each other);
    returns workflow id -> time the request was sent."""
    from temporalio.client import Client

    client = await Client.connect(address)
    sent: dict[str, float] = {}
    tasks: list[asyncio.Task[object]] = []
    next_at = time.monotonic()
    for i in range(n):
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += 1 / rate
        wid = f"{prefix}-{i}"
        sent[wid] = time.time()
        tasks.append(asyncio.create_task(client.start_workflow(
            WORKFLOW, id=wid, task_queue=queue, start_signal=SIGNAL, start_signal_args=[i])))
    await asyncio.gather(*tasks)
    return sent


async def first_task_done(address: str, ids: list[str]) -> dict[str, float]:
    """Workflow id -> server time its first workflow task completed (absent: not yet)."""
    from temporalio.client import Client

    client = await Client.connect(address)
    out: dict[str, float] = {}
    for wid in ids:
        history = await client.get_workflow_handle(wid).fetch_history()
        for event in history.events:
            if event.HasField("workflow_task_completed_event_attributes"):
                out[wid] = event.event_time.ToNanoseconds() / 1e9
                break
    return out


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2]))
