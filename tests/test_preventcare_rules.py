"""The contract's sensors (3.2.2) as Prometheus rules, judged by ``promtool test rules``.

Every scenario feeds exporter series (windows_exporter, node_exporter, blackbox_exporter) to
the rules generated from ``domain/sensors.py`` and reads which alerts fire: a condition held
one minute less than the contract's period does not fire, held the period it does, with the
labels the desk maps to the monitor's events; its recovery resolves it. The daily disk check
fires at 03:00 in Paris and not at 02:00, in winter and in summer; the heartbeat stops when
the agent does.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from domain import sensors
from domain.sensors import BY_CHECK, Sensor
from tests.promtool_helpers import explain, passes, run_rule_tests, runs
from vigie import sensor_rules

ROOT = Path(__file__).resolve().parents[1]
GIB = 2**30
WIN = {"client": "ACME", "site": "PARIS", "job": "windows"}
LIN = {"client": "ACME", "site": "LYON", "job": "node"}


def _series(metric: str, labels: dict[str, str], values: list[float]) -> dict[str, str]:
    def quoted(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    inner = ",".join(f"{k}={quoted(v)}" for k, v in labels.items())
    return {"series": f"{metric}{{{inner}}}", "values": runs(values)}


def _counter(per_minute: list[float]) -> list[float]:
    """A counter whose increase between minute i-1 and i is ``per_minute[i]``."""
    out, total = [], 0.0
    for i, step in enumerate(per_minute):
        total += step if i else 0.0
        out.append(total)
    return out


@dataclass(frozen=True)
class Scenario:
    """How one sensor's condition is written in exporter series. ``level[i]`` is the measured
    quantity during minute i; ``rate`` sensors measure over two minutes, so their condition
    starts one sample later than the load."""

    check: str
    high: float
    low: float
    rate: bool = False
    target: str | None = None  # the instance label the alert carries (None: fixed or none)
    linux_target: str | None = None


SCENARIOS = (
    Scenario("cpu", 97.0, 40.0, rate=True),
    Scenario("disk_time", 99.0, 30.0, rate=True, target="0 C:", linux_target="sda"),
    Scenario("disk_queue", 96.0, 20.0, rate=True, target="0 C:", linux_target="sda"),
    Scenario("pagefile", 88.0, 30.0),
    Scenario("committed_bytes", 93.5, 50.0),
    Scenario("latency", 734.0, 40.0, target="SITE-LYON"),
    Scenario("vpn", 1.0, 0.0, target="SITE-LYON"),
    Scenario("service", 1.0, 0.0, target="Spooler", linux_target="nginx.service"),
)


def _windows(check: str, host: str, level: list[float]) -> list[dict[str, str]]:
    lab = {**WIN, "host": host, "instance": f"{host}:9182"}
    if check == "cpu":
        idle = _counter([60 * (1 - v / 100) for v in level])
        return [_series("windows_cpu_time_total", {**lab, "core": "0,0", "mode": "idle"}, idle)]
    if check == "disk_time":
        idle = _counter([60 * (1 - v / 100) for v in level])
        return [_series("windows_physical_disk_idle_seconds_total", {**lab, "disk": "0 C:"},
                        idle),
                _series("windows_physical_disk_idle_seconds_total", {**lab, "disk": "_Total"},
                        _counter([0.0 for _ in level]))]
    if check == "disk_queue":
        half = _counter([60 * v / 200 for v in level])
        return [_series(f"windows_physical_disk_{rw}_seconds_total", {**lab, "disk": "0 C:"},
                        half) for rw in ("read", "write")]
    if check == "pagefile":
        file = {**lab, "file": "C:\\pagefile.sys"}
        return [_series("windows_pagefile_limit_bytes", file, [8.0 * GIB] * len(level)),
                _series("windows_pagefile_free_bytes", file,
                        [8.0 * GIB * (1 - v / 100) for v in level])]
    if check == "committed_bytes":
        return [_series("windows_memory_commit_limit", lab, [16.0 * GIB] * len(level)),
                _series("windows_memory_committed_bytes", lab,
                        [16.0 * GIB * v / 100 for v in level])]
    if check in ("latency", "vpn"):
        probe = {**lab, "job": "blackbox", "peer": "SITE-LYON", "instance": "10.8.0.1"}
        if check == "latency":
            return [_series("probe_duration_seconds", probe, [v / 1000 for v in level]),
                    _series("probe_success", probe, [1.0] * len(level))]
        return [_series("probe_success", probe, [1 - v for v in level]),
                _series("probe_duration_seconds", probe, [0.04] * len(level))]
    if check == "service":
        svc = {**lab, "name": "Spooler"}
        return [_series("windows_service_state", {**svc, "state": "running"},
                        [1 - v for v in level]),
                _series("windows_service_state", {**svc, "state": "stopped"}, level),
                _series("windows_service_start_mode", {**svc, "start_mode": "auto"},
                        [1.0] * len(level)),
                # a manual service that is stopped is no alert
                _series("windows_service_state", {**lab, "name": "Fax", "state": "running"},
                        [0.0] * len(level)),
                _series("windows_service_start_mode", {**lab, "name": "Fax",
                                                       "start_mode": "manual"},
                        [1.0] * len(level))]
    raise AssertionError(check)


def _linux(check: str, host: str, level: list[float]) -> list[dict[str, str]] | None:
    lab = {**LIN, "host": host, "instance": f"{host}:9100"}
    if check == "cpu":
        return [_series("node_cpu_seconds_total", {**lab, "cpu": "0", "mode": "idle"},
                        _counter([60 * (1 - v / 100) for v in level]))]
    if check == "disk_time":
        return [_series("node_disk_io_time_seconds_total", {**lab, "device": "sda"},
                        _counter([60 * v / 100 for v in level]))]
    if check == "disk_queue":
        return [_series("node_disk_io_time_weighted_seconds_total", {**lab, "device": "sda"},
                        _counter([60 * v / 100 for v in level]))]
    if check == "pagefile":
        return [_series("node_memory_SwapTotal_bytes", lab, [4.0 * GIB] * len(level)),
                _series("node_memory_SwapFree_bytes", lab,
                        [4.0 * GIB * (1 - v / 100) for v in level])]
    if check == "committed_bytes":
        return [_series("node_memory_CommitLimit_bytes", lab, [12.0 * GIB] * len(level)),
                _series("node_memory_Committed_AS_bytes", lab,
                        [12.0 * GIB * v / 100 for v in level])]
    if check == "service":
        return [_series("node_systemd_unit_state", {**lab, "name": "nginx.service",
                                                    "state": "failed"}, level)]
    return None


def _expected(sensor: Sensor, host: str, site: str, target: str | None,
              value: float) -> dict[str, Any]:
    labels = {"alertname": sensor.alert, "severity": sensor.severity,
              "vigie_family": sensor.family, "vigie_check": sensor.check,
              "contract": sensors.CLAUSE, "client": "ACME", "site": site, "host": host}
    shown_target = sensor.target or target
    if shown_target:
        labels["vigie_target"] = shown_target
    if target and not sensor.target:
        labels["target"] = target
    where = host if sensor.target or not target else f"{host} {target}"
    summary = f"{where} : {sensor.condition('fr')}"
    annotations = {"condition_en": sensor.condition("en")}
    if sensor.threshold is not None:
        summary += f" (mesuré : {value:.1f} {sensor.unit})"
        annotations |= {"value": f"{value:.1f}", "threshold": f"{sensor.threshold:g}"}
    return {"exp_labels": labels, "exp_annotations": {"summary": summary, **annotations}}


def _held_scenario(sc: Scenario) -> dict[str, Any]:
    """SRV-A holds the condition one minute short of the period; SRV-B (and the Linux
    SRV-L) hold it the period and five minutes more, then recover."""
    sensor = BY_CHECK[sc.check]
    hold = int(sensor.hold.total_seconds() // 60)
    t0 = 10  # first evaluation that measures the condition
    total = t0 + hold + 20
    lead = 1 if sc.rate else 0  # a rate over 2 minutes sees the load one sample late

    def level(last: int) -> list[float]:
        return [sc.high if t0 - lead <= i <= last else sc.low for i in range(total)]

    short, long_ = level(t0 + hold - 1), level(t0 + hold + 5)
    series = _windows(sc.check, "SRV-A", short) + _windows(sc.check, "SRV-B", long_)
    linux = _linux(sc.check, "SRV-L", long_)
    if linux:
        series += linux
    value = sc.high
    firing = [_expected(sensor, "SRV-B", "PARIS", sc.target, value)]
    if linux:
        firing.append(_expected(sensor, "SRV-L", "LYON", sc.linux_target or sc.target, value))
    name = sensor.alert
    return {
        "name": f"{sc.check}: held {hold - 1} min no alert, {hold} min alert, recovery resolves",
        "interval": "1m",
        "input_series": series,
        "alert_rule_test": [
            {"eval_time": f"{t0 + hold - 1}m", "alertname": name, "exp_alerts": []},
            {"eval_time": f"{t0 + hold}m", "alertname": name, "exp_alerts": firing},
            {"eval_time": f"{t0 + hold + 5}m", "alertname": name, "exp_alerts": firing},
            {"eval_time": f"{t0 + hold + 7}m", "alertname": name, "exp_alerts": []},
        ],
    }


def _check(tmp_path: Path, tests: list[dict[str, Any]], rules: str | None = None,
           interval: str = "1m") -> None:
    result = run_rule_tests(tmp_path, rules or sensor_rules.render(), tests, interval)
    assert passes(result), explain(result)


def test_the_committed_rules_are_the_generated_ones() -> None:
    committed = (ROOT / sensor_rules.RULES_FILE).read_text()
    assert committed == sensor_rules.render(), "run: vigie sensors rules"


def test_every_sensor_of_the_contract_has_a_rule_with_its_period() -> None:
    doc = sensor_rules.rules_document()
    alerts = {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}
    assert set(alerts) == {s.alert for s in sensors.SENSORS}
    for s in sensors.SENSORS:
        hold = sensor_rules.duration(s.hold)
        assert alerts[s.alert].get("for", "0s") == hold, s.check
        if s.threshold is not None:
            assert f"{s.threshold:g}" in alerts[s.alert]["expr"], s.check
    assert alerts["PreventcareCpu"]["for"] == "20m"
    assert alerts["PreventcarePagefile"]["for"] == "15m"
    assert alerts["PreventcareCommittedBytes"]["for"] == "10m"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.check for s in SCENARIOS])
def test_a_condition_fires_after_the_contract_period_and_resolves(
        tmp_path: Path, scenario: Scenario) -> None:
    _check(tmp_path, [_held_scenario(scenario)])


def test_the_scenarios_can_fail(tmp_path: Path) -> None:
    """The same scenario against a rule one minute quicker than the contract fails: the
    promtool tests above would catch a wrong period."""
    quick = sensor_rules.render().replace("for: 20m", "for: 19m")
    result = run_rule_tests(tmp_path, quick, [_held_scenario(SCENARIOS[0])])
    assert not passes(result)


def test_an_event_log_entry_fires_at_once_and_clears_after_its_window(tmp_path: Path) -> None:
    sensor = BY_CHECK["event"]
    lab = {**WIN, "host": "SRV-DC01", "instance": "SRV-DC01:9182", "event_id": "1102",
           "log": "Security"}
    counts = [0.0] * 15 + [1.0] * 30  # the textfile counter, written at zero from the start
    window = int(sensors.EVENTLOG_WINDOW.total_seconds() // 60)
    firing = [_expected(sensor, "SRV-DC01", "PARIS", "1102", 0)]
    _check(tmp_path, [{
        "name": "event 1102 counted at minute 15",
        "interval": "1m",
        "input_series": [_series("preventcare_eventlog_relevant_total", lab, counts)],
        "alert_rule_test": [
            {"eval_time": "14m", "alertname": sensor.alert, "exp_alerts": []},
            {"eval_time": "15m", "alertname": sensor.alert, "exp_alerts": firing},
            {"eval_time": f"{15 + window - 1}m", "alertname": sensor.alert,
             "exp_alerts": firing},
            {"eval_time": f"{15 + window + 1}m", "alertname": sensor.alert, "exp_alerts": []},
        ],
    }])


def test_the_heartbeat_fires_while_the_agent_is_scraped_and_stops_when_it_is_not(
        tmp_path: Path) -> None:
    sensor = BY_CHECK["heartbeat"]
    up = [_series("up", {**WIN, "host": "SRV-DC01", "instance": "SRV-DC01:9182"},
                  [1.0] * 30 + [0.0] * 30)]
    gone = {"series": 'up{client="ACME",site="PARIS",job="windows",host="SRV-APP",'
                      'instance="SRV-APP:9182"}', "values": "1x20 stale"}
    firing = [_expected(sensor, "SRV-DC01", "PARIS", None, 0)]
    both = [*firing, _expected(sensor, "SRV-APP", "PARIS", None, 0)]
    _check(tmp_path, [{
        "name": "heartbeat while up; absent when the target is down or gone",
        "interval": "1m",
        "input_series": [*up, gone],
        "alert_rule_test": [
            {"eval_time": "10m", "alertname": sensor.alert, "exp_alerts": both},
            {"eval_time": "25m", "alertname": sensor.alert, "exp_alerts": firing},
            {"eval_time": "40m", "alertname": sensor.alert, "exp_alerts": []},
        ],
    }])


# --- the daily disk check at 03:00, Europe/Paris ------------------------------------------


def _utc_minutes(when: datetime) -> int:
    return int(when.timestamp() // 60)


def test_the_local_hour_follows_paris_summer_time(tmp_path: Path) -> None:
    """The PromQL clock agrees with the time-zone database around every change of
    2025-2030 and at each hour of two days."""
    doc = sensor_rules.rules_document()
    rules = {r["record"]: r["expr"] for r in doc["groups"][0]["rules"] if "record" in r}
    summer = rules["preventcare:local:summer_time"]
    hour_expr = rules["preventcare:local:hour"].replace("preventcare:local:summer_time",
                                                        f"({summer})")
    paris = ZoneInfo(sensors.TIMEZONE)
    instants: list[datetime] = []
    for year in range(2025, 2031):
        for month in (3, 10):
            last = max(d for d in range(25, 32) if datetime(year, month, d).weekday() == 6)
            change = datetime(year, month, last, 1, 0, tzinfo=UTC)
            instants += [change - timedelta(minutes=1), change, change + timedelta(hours=1)]
    instants += [datetime(2026, 1, 15, h, 0, tzinfo=UTC) for h in range(24)]
    instants += [datetime(2026, 7, 15, h, 30, tzinfo=UTC) for h in range(24)]
    checks = [{"expr": hour_expr, "eval_time": f"{_utc_minutes(at)}m",
               "exp_samples": [{"labels": "{}", "value": at.astimezone(paris).hour}]}
              for at in instants]
    result = run_rule_tests(tmp_path, yaml.safe_dump({"groups": []}),
                            [{"name": "clock", "interval": "1d", "input_series": [],
                              "promql_expr_test": checks}], evaluation_interval="3650d")
    assert passes(result), explain(result)


def test_the_disk_check_fires_at_three_in_paris_winter_and_summer_and_resolves_next_day(
        tmp_path: Path) -> None:
    """1970's calendar under today's EU rule (promtool's clock starts at the epoch): winter
    on 2 January (03:00 Paris = 02:00 UTC), summer on 30 March, the day after the last Sunday
    of March (03:00 Paris = 01:00 UTC)."""
    sensor = BY_CHECK["disk_free"]
    step = 30  # minutes between samples and between evaluations

    def at(day: int, month: int, hour: int, minute: int = 0) -> int:
        return _utc_minutes(datetime(1970, month, day, hour, minute, tzinfo=UTC))

    freed, full_again = at(2, 1, 12), at(29, 3, 12)
    end = at(31, 3, 6)
    size = 100.0 * GIB
    free = [size * (0.062 if (m < freed or m >= full_again) else 0.40)
            for m in range(0, end, step)]
    lab = {**WIN, "host": "SRV-DC01", "instance": "SRV-DC01:9182"}
    series = [_series("windows_logical_disk_size_bytes", {**lab, "volume": "D:"},
                      [size] * len(free)),
              _series("windows_logical_disk_free_bytes", {**lab, "volume": "D:"}, free),
              _series("windows_logical_disk_size_bytes", {**lab, "volume": "C:"},
                      [size] * len(free)),
              _series("windows_logical_disk_free_bytes", {**lab, "volume": "C:"},
                      [size * 0.5] * len(free)),
              _series("windows_logical_disk_free_bytes", {**lab, "volume": "HarddiskVolume1"},
                      [0.0] * len(free))]
    linux = {**LIN, "host": "SRV-L", "instance": "SRV-L:9100"}
    for mount, fstype, avail in (("/srv", "ext4", free), ("/run", "tmpfs", [0.0] * len(free))):
        fs = {**linux, "mountpoint": mount, "fstype": fstype, "device": "/dev/sdb1"}
        series += [_series("node_filesystem_size_bytes", fs, [size] * len(free)),
                   _series("node_filesystem_avail_bytes", fs, avail)]
    firing = [_expected(sensor, "SRV-DC01", "PARIS", "D:", 6.2),
              _expected(sensor, "SRV-L", "LYON", "/srv", 6.2)]

    def expect(minute: int, alerts: list[dict[str, Any]]) -> dict[str, Any]:
        return {"eval_time": f"{minute}m", "alertname": sensor.alert, "exp_alerts": alerts}

    # three months of evaluations: only the daily check's own rules, as generated
    doc = sensor_rules.rules_document()
    wanted = {"preventcare:local:summer_time", "preventcare:local:hour",
              "preventcare:disk_free:percent", "preventcare:disk_free:at_check", sensor.alert}
    group = doc["groups"][0]
    group["rules"] = [r for r in group["rules"] if (r.get("record") or r.get("alert")) in wanted]
    assert len(group["rules"]) == len(wanted)
    _check(tmp_path, [{
        "name": "03:00 Paris, winter and summer",
        "interval": f"{step}m",
        "input_series": series,
        "alert_rule_test": [
            expect(at(1, 1, 1), []),  # 1 January, 02:00 Paris: not checked yet
            expect(at(1, 1, 2), firing),  # 03:00 Paris (UTC+1): the check fires
            expect(at(1, 1, 20), firing),  # held all day: checked once a day
            expect(at(2, 1, 1), firing),  # 2 January 02:00 Paris: yesterday's reading
            expect(at(2, 1, 20), firing),  # freed at 13:00 Paris: still yesterday's check
            expect(at(3, 1, 2), []),  # 3 January 03:00 Paris: the check sees room, resolved
            expect(at(30, 3, 0), []),  # full since the 29th midday; 02:00 Paris (UTC+2)
            expect(at(30, 3, 1), firing),  # 03:00 Paris in summer time: fires
        ],
    }], rules=yaml.safe_dump(doc, sort_keys=False), interval=f"{step}m")


def test_the_example_prometheus_and_alertmanager_configurations_are_valid() -> None:
    folder = ROOT / "deploy" / "preventcare"
    for args in (["promtool", "check", "config", "prometheus.yml"],
                 ["amtool", "check-config", "alertmanager.yml"]):
        done = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    am = yaml.safe_load((folder / "alertmanager.yml").read_text())
    desk = am["route"]["routes"][0]
    assert {"alertname", "host", "vigie_target"} <= set(desk["group_by"])
    heartbeat = desk["routes"][0]
    assert heartbeat["matchers"] == ['vigie_check="heartbeat"']
    # re-sent well within the desk's hourly expectation and its grace
    assert sensor_rules.duration(sensors.HEARTBEAT_PERIOD / 2) == heartbeat["repeat_interval"]
    hooks = [h for r in am["receivers"] for h in r.get("webhook_configs", [])]
    assert hooks and all(h["send_resolved"] and h["url"].endswith("/api/alertmanager")
                         for h in hooks)


def test_vigie_sensors_rules_writes_the_generated_file(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from vigie.cli import main

    out = tmp_path / "rules.yml"
    assert main(["sensors", "rules", "--out", str(out), "--time-scale", "0.5"]) == 0
    assert out.read_text() == sensor_rules.render(0.5)
    assert "for: 10m" in out.read_text()  # 20 minutes, halved
    assert main(["sensors", "rules", "--out", "-"]) == 0
    assert capsys.readouterr().out.endswith(sensor_rules.render())
    assert main(["sensors", "rules", "--time-scale", "0"]) == 2
