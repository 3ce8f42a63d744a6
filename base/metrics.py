"""The desk watches itself: Prometheus metrics, one ``/metrics`` port per process.

Each long-running process (intake, router, worker, console) serves its own registry on the
port its setting names (``VIGIE_INTAKE_METRICS_PORT``, ``VIGIE_ROUTER_METRICS_PORT``,
``VIGIE_WORKER_METRICS_PORT``, ``VIGIE_CONSOLE_METRICS_PORT``; 0 turns it off), so
Prometheus counts one process per target and no multiprocess directory is needed. Metrics
are defined here, once, so the data layer, the intake and the activities all count into the
same names; a process that never touches a metric simply exports it at zero, every label
set included (``create_label_sets``).
``deploy/vigie-alerts.yml`` holds example alert rules over these names.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from messages.comms import Channel, CommStatus

__all__ = ["Counter", "Gauge", "Histogram", "beat", "forward_sdk_metrics", "serve"]

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

MESSAGES_ACCEPTED = Counter(
    "vigie_messages_accepted_total", "Messages stored before the 250/202", ["channel"])
MESSAGES_REFUSED = Counter(
    "vigie_messages_refused_total", "Messages refused by the intake", ["channel", "reason"])
INTAKE_COMMIT_SECONDS = Histogram(
    "vigie_intake_commit_seconds",
    "One group commit at the intake, handed to its writer until done (the senders' wait)",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
INTAKE_COMMIT_MESSAGES = Histogram(
    "vigie_intake_commit_messages", "Messages one group commit at the intake held",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
OUTBOX_DEPTH = Gauge("vigie_outbox_depth", "Stored messages not yet routed")
OUTBOX_AGE = Gauge(
    "vigie_outbox_oldest_age_seconds", "Age of the oldest message not yet routed (0: none)")
ROUTING_LATENCY = Histogram(
    "vigie_routing_latency_seconds", "From the message stored to Temporal told",
    buckets=LATENCY_BUCKETS)
EVENTS_ROUTED = Counter("vigie_events_routed_total", "Events Temporal acknowledged")
BATCHES_TAKEN_OVER = Counter(
    "vigie_outbox_takeovers_total", "Outbox rows claimed after another process's lease expired")
LEASES_RENEWED = Counter(
    "vigie_outbox_lease_renewals_total", "Leases a router renewed on a batch still in hand")
REFERENCE_LOADS = Counter(
    "vigie_router_reference_loads_total",
    "Times a router loaded its matcher and source rules (a change, or once a minute)")
CASES_OPENED = Counter("vigie_cases_opened_total", "Case rows created (one per case run)")
WORKFLOW_TASK_LATENCY = Histogram(
    "vigie_workflow_task_latency_seconds",
    "Workflow tasks as the Temporal SDK measures them (schedule-to-start, execution)",
    ["kind"], buckets=LATENCY_BUCKETS)
SWEEP_SECONDS = Histogram(
    "vigie_absence_sweep_seconds", "One absence sweep, planning to acknowledgement",
    buckets=LATENCY_BUCKETS)
COMMUNICATIONS = Counter(
    "vigie_communications_total", "Outcome of each mail, SMS and call", ["channel", "status"])
HEARTBEAT = Gauge(
    "vigie_heartbeat_timestamp_seconds", "Last time the process's main loop was alive",
    ["role"])

# SDK metric name -> our histogram label (see forward_sdk_metrics)
_SDK_TASK_METRICS = {
    "temporal_workflow_task_schedule_to_start_latency": "schedule_to_start",
    "temporal_workflow_task_execution_latency": "execution",
}

# Every label set a metric can take, created at zero when this module loads: a counter that
# has no series until its first event makes rules over it return nothing on a live desk, and
# rate() miss that first event (issue 21, finding 12). A new label value goes here first.
INTAKE_CHANNELS = ("smtp", "webhook", "alertmanager")
REFUSALS: dict[str, tuple[str, ...]] = {
    "smtp": ("unknown_mailbox", "storage"),
    "webhook": ("invalid",),
    "alertmanager": ("invalid",),
}


def _label_sets() -> dict[object, list[tuple[str, ...]]]:
    return {
        MESSAGES_ACCEPTED: [(c,) for c in INTAKE_CHANNELS],
        MESSAGES_REFUSED: [(c, r) for c, reasons in REFUSALS.items() for r in reasons],
        COMMUNICATIONS: [(str(ch), str(st)) for ch in Channel for st in CommStatus],
        WORKFLOW_TASK_LATENCY: [(kind,) for kind in _SDK_TASK_METRICS.values()],
    }


def create_label_sets() -> None:
    """``labels(...)`` without ``inc()``: the child exists at 0 and is exported."""
    for metric, label_sets in _label_sets().items():
        for values in label_sets:
            metric.labels(*values)  # type: ignore[attr-defined]


create_label_sets()


def serve(port: int, role: str, host: str = "127.0.0.1") -> bool:
    """Starts the ``/metrics`` endpoint on ``host:port``; 0 leaves it off. ``host`` is
    ``VIGIE_METRICS_HOST``: loopback by default, since the figures tell an outsider how busy
    the desk is and which clients fail (issue 21, finding 9); a Prometheus on another machine
    or container needs it widened on purpose. False when the port is taken (logged, not
    fatal: the desk still works unwatched, and the heartbeat rule fires)."""
    HEARTBEAT.labels(role).set(time.time())
    if port <= 0:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        log.error("metrics: %s:%s indisponible pour %s : %s", host, port, role, exc)
        return False
    log.info("metrics: %s sur %s:%s/metrics", role, host, port)
    return True


async def beat(role: str, extra: Callable[[], None] | None = None,
               every: float = 15.0) -> None:
    """The process's own heartbeat (and any periodic gauge refresh) until cancelled."""
    while True:
        HEARTBEAT.labels(role).set(time.time())
        if extra is not None:
            try:
                await asyncio.to_thread(extra)
            except Exception:  # a gauge refresh must never take the process down
                log.exception("metrics: mise à jour de %s impossible", role)
        await asyncio.sleep(every)


def forward_sdk_metrics(buffer: object) -> None:
    """Copies the Temporal SDK's workflow-task latencies (a ``MetricBuffer``) into our
    histogram, so one port shows the worker's whole state."""
    for update in buffer.retrieve_updates():  # type: ignore[attr-defined]
        kind = _SDK_TASK_METRICS.get(update.metric.name)
        if kind is None:
            continue
        # durations reach the buffer in milliseconds (its default duration format)
        WORKFLOW_TASK_LATENCY.labels(kind).observe(float(update.value) / 1000.0)
