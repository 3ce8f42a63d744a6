"""The erasure of expired personal data, started by the ``vigie-erasure`` Temporal Schedule.

One activity does the work (``contracts.requests.erase_expired``): every terminated client
past ``VIGIE_DATA_RETENTION_DAYS`` erased, a held one left for the next run. The workflow
only passes it the schedule's time, so a run that is retried erases as of the same moment.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from messages.erasure import ERASE_EXPIRED, ERASURE_WORKFLOW, ErasureSweepInput, ExpiredRequest


@workflow.defn(name=ERASURE_WORKFLOW)
class ErasureSweepWorkflow:
    @workflow.run
    async def run(self, inp: ErasureSweepInput) -> list[str]:
        return await workflow.execute_activity(
            ERASE_EXPIRED, ExpiredRequest(workflow.now()), result_type=list[str],
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=5)))
