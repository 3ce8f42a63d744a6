"""The desk's own alert rules (``deploy/vigie-alerts.yml``) under ``promtool test rules``.

Each rule gets the failure it watches for (it fires, with its labels and text) and a healthy
desk (it does not). The two counter rules are fed the series as the desk now exports them,
every label set present at zero from the start (issue 21, finding 12): the first storage error
counts, and a live desk without failures answers 0 rather than nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import generate_latest

from base import metrics
from tests.promtool_helpers import explain, passes, run_rule_tests

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "vigie-alerts.yml"
INTAKE = 'job="vigie-intake",instance="intake-1:9101"'
WORKER = 'job="vigie-worker",instance="worker-1:9102"'


def _alert(name: str, severity: str, summary: str, **labels: str) -> dict[str, Any]:
    return {"exp_labels": {"alertname": name, "severity": severity, **labels},
            "exp_annotations": {"summary": summary}}


def _case(name: str, series: list[tuple[str, str]], alert: str,
          evals: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    return {"name": name, "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series],
            "alert_rule_test": [{"eval_time": t, "alertname": alert, "exp_alerts": exp}
                                for t, exp in evals]}


def _buckets(metric: str, labels: str, per_minute: dict[str, int]) -> list[tuple[str, str]]:
    """A histogram whose observations each minute fall in the given buckets (cumulative)."""
    out, running = [], 0
    for le in ("1", "10", "30", "60", "+Inf"):
        running += per_minute.get(le, 0)
        sep = "," if labels else ""
        out.append((f'{metric}_bucket{{{labels}{sep}le="{le}"}}', f"0+{running}x60"))
    return out


CASES: list[dict[str, Any]] = [
    _case("outbox stale", [(f"vigie_outbox_oldest_age_seconds{{{INTAKE}}}",
                            "0x9 400+60x20"), ], "VigieOutboxStale",
          [("10m", []), ("11m", []),
           ("12m", [_alert("VigieOutboxStale", "critical",
                           "Vigie: messages stored but not routed for 8m 40s")])]),
    _case("outbox growing", [(f"vigie_outbox_depth{{{INTAKE}}}", "0+100x60")],
          "VigieOutboxGrowing",
          [("20m", []), ("30m", [_alert("VigieOutboxGrowing", "warning",
                                        "Vigie: 3000 messages waiting; routers fall behind")])]),
    _case("outbox deep but draining", [(f"vigie_outbox_depth{{{INTAKE}}}", "5000-10x60")],
          "VigieOutboxGrowing", [("30m", []), ("50m", [])]),
    _case("process down", [(f"up{{{WORKER}}}", "1x5 0x10")], "VigieProcessDown",
          [("5m", []), ("7m", []),
           ("8m", [_alert("VigieProcessDown", "critical",
                          "Vigie: vigie-worker on worker-1:9102 is down",
                          job="vigie-worker", instance="worker-1:9102")])]),
    _case("process stuck", [(f'vigie_heartbeat_timestamp_seconds{{{WORKER},role="worker"}}',
                             "0+60x5 300x20")], "VigieProcessStuck",
          [("5m", []), ("8m", []),
           ("9m", [_alert("VigieProcessStuck", "critical",
                          "Vigie: worker on worker-1:9102 stopped beating",
                          job="vigie-worker", instance="worker-1:9102", role="worker")])]),
    _case("no intake", [(f"up{{{INTAKE}}}", "1x5 0x10")], "VigieNoIntake",
          [("5m", []), ("7m", []),
           ("8m", [_alert("VigieNoIntake", "critical",
                          "Vigie: no intake process is up; alert mail is queued at the senders"
                          )])]),
    _case("routing slow", _buckets("vigie_routing_latency_seconds", INTAKE, {"60": 10}),
          "VigieRoutingSlow",
          [("10m", []), ("20m", [_alert("VigieRoutingSlow", "warning",
                                        "Vigie: p99 from stored to routed is 59.7 s")])]),
    _case("routing fast", _buckets("vigie_routing_latency_seconds", INTAKE, {"1": 10}),
          "VigieRoutingSlow", [("20m", [])]),
    _case("workflow tasks late", _buckets(
        "vigie_workflow_task_latency_seconds", f'{WORKER},kind="schedule_to_start"',
        {"10": 10}), "VigieWorkflowTasksLate",
        [("10m", []), ("20m", [_alert("VigieWorkflowTasksLate", "warning",
                                      "Vigie: workflow tasks wait 9.91 s for a worker (p99)")])]),
    _case("workflow tasks on time", _buckets(
        "vigie_workflow_task_latency_seconds", f'{WORKER},kind="schedule_to_start"',
        {"1": 10}), "VigieWorkflowTasksLate", [("20m", [])]),
    _case("absence sweep slow", _buckets("vigie_absence_sweep_seconds", WORKER, {"60": 2}),
          "VigieAbsenceSweepSlow",
          [("30m", []), ("40m", [_alert("VigieAbsenceSweepSlow", "warning",
                                        "Vigie: an absence sweep takes 57 s")])]),
    _case("absence sweep quick", _buckets("vigie_absence_sweep_seconds", WORKER, {"1": 2}),
          "VigieAbsenceSweepSlow", [("40m", [])]),
    # communications: every label set exists at zero from the process's start
    _case("communications failing", [
        (f'vigie_communications_total{{{WORKER},channel="email",status="sent"}}', "0+10x60"),
        (f'vigie_communications_total{{{WORKER},channel="email",status="failed"}}',
         "0x20 5+5x40"),
        (f'vigie_communications_total{{{WORKER},channel="sms",status="unknown"}}', "0x60"),
    ], "VigieCommunicationsFailing",
        [("27m", []), ("42m", []),
         ("43m", [_alert("VigieCommunicationsFailing", "warning",
                         "Vigie: over 20 % of mails, SMS and calls fail")])]),
    _case("communications healthy", [
        (f'vigie_communications_total{{{WORKER},channel="email",status="sent"}}', "0+10x60"),
        (f'vigie_communications_total{{{WORKER},channel="email",status="failed"}}', "0x60"),
    ], "VigieCommunicationsFailing", [("50m", [])]),
    # the intake answering 451: the series is there at zero, so the first error counts
    _case("smtp storage errors", [
        (f'vigie_messages_refused_total{{{INTAKE},channel="smtp",reason="storage"}}',
         "0x9 1+1x20"),
        (f'vigie_messages_refused_total{{{INTAKE},channel="smtp",reason="unknown_mailbox"}}',
         "0+3x30"),
    ], "VigieSmtpStorageErrors",
        [("9m", []), ("14m", []),
         ("15m", [_alert("VigieSmtpStorageErrors", "critical",
                         "Vigie: the intake answers 451 (database unavailable)")])]),
    # before finding 12, the series was born at its first error: rate() lost that error and
    # the rule fired a minute late (and on a one-off 451 never)
    _case("smtp storage errors, series born at the first error", [
        (f'vigie_messages_refused_total{{{INTAKE},channel="smtp",reason="storage"}}',
         "_x10 1+1x20"),
    ], "VigieSmtpStorageErrors", [("15m", [])]),
    _case("smtp refusing unknown mailboxes only", [
        (f'vigie_messages_refused_total{{{INTAKE},channel="smtp",reason="storage"}}', "0x30"),
        (f'vigie_messages_refused_total{{{INTAKE},channel="smtp",reason="unknown_mailbox"}}',
         "0+3x30"),
    ], "VigieSmtpStorageErrors", [("25m", [])]),
]


def test_every_rule_has_a_case_where_it_fires_and_one_where_it_does_not() -> None:
    names = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"]
             for r in g["rules"]}
    fired = {c["alert_rule_test"][0]["alertname"] for c in CASES
             if any(t["exp_alerts"] for t in c["alert_rule_test"])}
    quiet = {t["alertname"] for c in CASES for t in c["alert_rule_test"] if not t["exp_alerts"]}
    assert fired == names and quiet == names


def test_the_desk_alert_rules_pass_promtool(tmp_path: Path) -> None:
    result = run_rule_tests(tmp_path, RULES.read_text(), CASES)
    assert passes(result), explain(result)


def test_the_counter_rules_answer_zero_on_a_healthy_live_desk(tmp_path: Path) -> None:
    """What the two rules compute, on the series a desk exports before any failure."""
    rules = {r["alert"]: r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"]
             for r in g["rules"]}
    comms = rules["VigieCommunicationsFailing"].strip().rsplit(">", 1)[0]
    storage = rules["VigieSmtpStorageErrors"].strip().rsplit(">", 1)[0]
    exported = generate_latest(metrics.COMMUNICATIONS).decode() + generate_latest(
        metrics.MESSAGES_REFUSED).decode()
    series = [line.split(" ")[0] for line in exported.splitlines()
              if line.startswith("vigie_") and not line.split(" ")[0].endswith("_created")
              and "_created{" not in line]
    assert any('status="failed"' in s for s in series)
    assert any('reason="storage"' in s for s in series)
    inputs = [{"series": s.replace("}", f",{WORKER}}}"), "values": "0x30"} for s in series]
    checks = [{"expr": e, "eval_time": "20m", "exp_samples": [{"labels": "{}", "value": 0}]}
              for e in (comms, storage)]
    result = run_rule_tests(tmp_path, RULES.read_text(),
                            [{"name": "healthy", "interval": "1m", "input_series": inputs,
                              "promql_expr_test": checks}])
    assert passes(result), explain(result)


def test_every_label_set_the_code_counts_into_exists_at_zero() -> None:
    """The label values used in ``.labels(...)`` calls across the code are all declared (and
    so created at start): a new one must be added to ``base/metrics.py`` too."""
    import ast

    declared = {m: set(v) for m, v in metrics._label_sets().items()}
    names = {"MESSAGES_ACCEPTED": metrics.MESSAGES_ACCEPTED,
             "MESSAGES_REFUSED": metrics.MESSAGES_REFUSED}
    used: list[tuple[str, tuple[str, ...]]] = []
    for path in [*ROOT.glob("intake/*.py"), *ROOT.glob("records/*.py"),
                 *ROOT.glob("console/*.py"), *ROOT.glob("activities/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "labels" and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in names
                    and all(isinstance(a, ast.Constant) for a in node.args)):
                used.append((node.func.value.id,
                             tuple(a.value for a in node.args))  # type: ignore[attr-defined]
                            )
    assert used
    for name, values in used:
        if len(values) == len(next(iter(declared[names[name]]))):
            assert values in declared[names[name]], (name, values)
    # what a process exports right after it starts: read in a fresh interpreter, since this
    # one's registry already counts what earlier tests did (a 451 test refuses for storage)
    text = subprocess.run(
        [sys.executable, "-c", "from prometheus_client import generate_latest; "
         "import base.metrics; print(generate_latest().decode())"],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120).stdout
    assert 'vigie_messages_refused_total{channel="smtp",reason="storage"} 0.0' in text
    assert 'vigie_communications_total{channel="email",status="failed"} 0.0' in text
