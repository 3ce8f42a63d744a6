"""Each process serves Prometheus /metrics with the names the alert rules use; the example
rule file only names metrics the desk exports."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from base import metrics
from bench.cluster import free_port, scrape

ROOT = Path(__file__).resolve().parents[1]
ISSUE_METRICS = (
    "vigie_messages_accepted_total", "vigie_messages_refused_total", "vigie_outbox_depth",
    "vigie_outbox_oldest_age_seconds", "vigie_routing_latency_seconds_count",
    "vigie_cases_opened_total", "vigie_workflow_task_latency_seconds_count",
    "vigie_absence_sweep_seconds_count", "vigie_communications_total",
    "vigie_heartbeat_timestamp_seconds",
)


def test_a_process_serves_every_metric_of_the_desk_on_its_port() -> None:
    port = free_port()
    assert metrics.serve(port, "test")
    metrics.MESSAGES_ACCEPTED.labels("smtp").inc()
    metrics.WORKFLOW_TASK_LATENCY.labels("execution").observe(0.01)
    metrics.MESSAGES_REFUSED.labels("smtp", "unknown_mailbox").inc()
    metrics.COMMUNICATIONS.labels("email", "sent").inc()
    seen = scrape(port)
    missing = [name for name in ISSUE_METRICS if name not in seen]
    assert missing == []
    assert seen["vigie_heartbeat_timestamp_seconds"] > 0
    assert not metrics.serve(port, "again")  # a taken port is logged, never fatal


def test_the_example_alert_rules_only_use_exported_metrics() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "vigie-alerts.yml").read_text())
    exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
    names = {m for e in exprs for m in re.findall(r"\bvigie_[a-z_]+", e)}
    kinds = (metrics.Counter, metrics.Gauge, metrics.Histogram)
    exported = {
        m._name + ("_total" if isinstance(m, metrics.Counter) else "")  # type: ignore[attr-defined]
        for m in vars(metrics).values() if isinstance(m, kinds)
    }
    known = exported | {f"{n}_bucket" for n in exported}
    assert names and names <= known, names - known
    assert any("outbox_oldest_age" in e for e in exprs)  # outbox older than N minutes
    assert any("heartbeat" in e for e in exprs)  # the desk's own heartbeat
