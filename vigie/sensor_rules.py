"""Prometheus rules for the contract's sensors, generated from ``domain/sensors.py``.

``vigie sensors rules`` writes ``deploy/preventcare/preventcare-rules.yml``; a test keeps the
committed file equal to this output, so a threshold changes in one place only. The rules read
``windows_exporter`` (Windows servers), ``node_exporter`` (Linux servers), ``blackbox_exporter``
probes (VPN peers) and a textfile counter for the event log, and label every alert with what
the desk's Alertmanager intake needs to make the same event as the monitor's mail: ``host``,
``vigie_family``, ``vigie_check``, ``vigie_target``, ``severity`` (plus ``client`` and
``site`` for routing). ``scale`` shortens every duration (``for:`` and rate windows) for the
end-to-end test; the daily check stays at its hour of the day.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from domain import sensors
from domain.sensors import Sensor

TIE = "client, site, host"  # the labels that tie a series to a client's server
TIE_TARGET = f"{TIE}, target"
RULES_FILE = "deploy/preventcare/preventcare-rules.yml"


def duration(span: timedelta) -> str:
    """A Prometheus duration (``20m``, ``90s``, ``250ms``), never zero-length when positive."""
    ms = round(span.total_seconds() * 1000)
    if ms <= 0:
        return "0s"
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _target(expr: str, label: str) -> str:
    return f'label_replace({expr}, "target", "$1", "{label}", "(.+)")'


def _records(window: str, eventlog_window: str) -> list[dict[str, str]]:
    """The measurements, one series per client, site, host (and instance as ``target``),
    Windows and Linux side by side under one name."""
    w = window
    return [
        {"record": "preventcare:cpu:percent", "expr":
            f'100 * (1 - avg by ({TIE}) (rate(windows_cpu_time_total{{mode="idle"}}[{w}])))'
            f' or 100 * (1 - avg by ({TIE}) (rate(node_cpu_seconds_total{{mode="idle"}}[{w}])))'},
        {"record": "preventcare:disk_time:percent", "expr":
            f"max by ({TIE_TARGET}) ("
            + _target(f'100 * (1 - rate(windows_physical_disk_idle_seconds_total'
                      f'{{disk!="_Total"}}[{w}]))', "disk")
            + " or " + _target(f"100 * rate(node_disk_io_time_seconds_total[{w}])", "device")
            + ")"},
        {"record": "preventcare:disk_queue:percent", "expr":
            f"max by ({TIE_TARGET}) ("
            + _target(f'100 * (rate(windows_physical_disk_read_seconds_total{{disk!="_Total"}}'
                      f'[{w}]) + rate(windows_physical_disk_write_seconds_total'
                      f'{{disk!="_Total"}}[{w}]))', "disk")
            + " or " + _target(f"100 * rate(node_disk_io_time_weighted_seconds_total[{w}])",
                               "device")
            + ")"},
        {"record": "preventcare:pagefile:percent", "expr":
            f"100 * (1 - sum by ({TIE}) (windows_pagefile_free_bytes)"
            f" / sum by ({TIE}) (windows_pagefile_limit_bytes > 0))"
            f" or 100 * (1 - max by ({TIE}) (node_memory_SwapFree_bytes)"
            f" / max by ({TIE}) (node_memory_SwapTotal_bytes > 0))"},
        {"record": "preventcare:committed_bytes:percent", "expr":
            f"100 * max by ({TIE}) (windows_memory_committed_bytes)"
            f" / max by ({TIE}) (windows_memory_commit_limit > 0)"
            f" or 100 * max by ({TIE}) (node_memory_Committed_AS_bytes)"
            f" / max by ({TIE}) (node_memory_CommitLimit_bytes > 0)"},
        {"record": "preventcare:disk_free:percent", "expr":
            f"max by ({TIE_TARGET}) ("
            + _target('100 * windows_logical_disk_free_bytes{volume=~"[A-Z]:"}'
                      ' / (windows_logical_disk_size_bytes{volume=~"[A-Z]:"} > 0)', "volume")
            + " or " + _target('100 * node_filesystem_avail_bytes{fstype!~"tmpfs|devtmpfs|'
                               'overlay|squashfs|nsfs|ramfs"} / (node_filesystem_size_bytes > 0)',
                               "mountpoint")
            + ")"},
        {"record": "preventcare:service:stopped", "expr":
            f"max by ({TIE_TARGET}) ("
            + _target('(windows_service_state{state="running"} == 0) and on (client, site,'
                      ' host, name) (windows_service_start_mode{start_mode="auto"} == 1)', "name")
            + " or " + _target('node_systemd_unit_state{state="failed"} == 1', "name") + ")"},
        {"record": "preventcare:event:recent", "expr":
            f"max by ({TIE_TARGET}) ("
            + _target(f"increase(preventcare_eventlog_relevant_total[{eventlog_window}]) > 0",
                      "event_id") + ")"},
        {"record": "preventcare:link:latency_ms", "expr":
            f"max by ({TIE_TARGET}) ("
            + _target('1000 * (probe_duration_seconds{peer!=""} and probe_success == 1)',
                      "peer") + ")"},
        {"record": "preventcare:link:up", "expr":
            f"max by ({TIE_TARGET}) (" + _target('probe_success{peer!=""}', "peer") + ")"},
        {"record": "preventcare:agent:up", "expr": f'max by ({TIE}) (up{{host!=""}})'},
    ]


def _clock() -> list[dict[str, str]]:
    """The client's local hour, in PromQL: ``hour()`` is UTC, and summer time follows the EU
    rule (from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
    October; a Sunday on the 25th or later is the month's last)."""
    zone = ZoneInfo(sensors.TIMEZONE)
    winter = zone.utcoffset(datetime(2026, 1, 15))
    summer = zone.utcoffset(datetime(2026, 7, 15))
    assert winter is not None and summer is not None and summer - winter == timedelta(hours=1)
    base = int(winter.total_seconds() // 3600)
    last_sunday_passed = "day_of_month() - day_of_week() >= 25"
    before_one = "(day_of_week() == 0 and on () hour() < 1)"
    summer_expr = (
        "(vector(1) and on () (month() > 3 and on () month() < 10))"
        f" or (vector(1) and on () month() == 3 and on () {last_sunday_passed}"
        f" unless on () {before_one})"
        " or (vector(1) and on () month() == 10 and on ()"
        f" (day_of_month() - day_of_week() < 25 or {before_one}))"
        " or vector(0)"
    )
    return [
        {"record": "preventcare:local:summer_time", "expr": summer_expr},
        {"record": "preventcare:local:hour",
         "expr": f"(hour() + {base} + on () preventcare:local:summer_time) % 24"},
    ]


def _labels(sensor: Sensor) -> dict[str, str]:
    return {
        "severity": sensor.severity,
        "vigie_family": sensor.family,
        "vigie_check": sensor.check,
        "vigie_target": sensor.target or "{{ $labels.target }}",
        "contract": sensors.CLAUSE,
    }


def _value_text(sensor: Sensor) -> str:
    if sensor.threshold is None:
        return ""
    return '{{ $value | printf "%.1f" }}'


def _alert(sensor: Sensor, expr: str, hold: str) -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": sensor.alert, "expr": expr}
    if hold != "0s":
        rule["for"] = hold
    rule["labels"] = _labels(sensor)
    where = "{{ $labels.host }}" + ("" if sensor.target else "{{ with $labels.target }} {{ . }}"
                                    "{{ end }}")
    measured = _value_text(sensor)
    summary = f"{where} : {sensor.condition('fr')}"
    if measured:
        summary += f" (mesuré : {measured} {sensor.unit})"
    rule["annotations"] = {"summary": summary, "condition_en": sensor.condition("en")}
    if measured:
        rule["annotations"]["value"] = measured
    if sensor.threshold is not None:
        rule["annotations"]["threshold"] = f"{sensor.threshold:g}"
    return rule


def _alerts(scale: float) -> list[dict[str, Any]]:
    by = sensors.BY_CHECK
    at = sensors.DISK_CHECK_AT

    def hold(s: Sensor) -> str:
        return duration(s.hold * scale)

    def over(check: str, series: str) -> dict[str, Any]:
        s = by[check]
        return _alert(s, f"{series} {s.op} {s.threshold:g}", hold(s))

    disk = by["disk_free"]
    # the check reads the disk during the 03:00 hour, local time; the reading holds (and the
    # alert with it) until the next check: 50 h, so a check missed while Prometheus was down
    # keeps the day before's reading instead of resolving a disk nobody looked at
    daily = (f"last_over_time(preventcare:disk_free:at_check[50h]) {disk.op} "
             f"{disk.threshold:g}")
    return [
        over("disk_time", "preventcare:disk_time:percent"),
        over("disk_queue", "preventcare:disk_queue:percent"),
        over("pagefile", "preventcare:pagefile:percent"),
        over("committed_bytes", "preventcare:committed_bytes:percent"),
        over("cpu", "preventcare:cpu:percent"),
        {"record": "preventcare:disk_free:at_check",
         "expr": f"preventcare:disk_free:percent and on () (preventcare:local:hour == {at.hour})"},
        _alert(disk, daily, "0s"),
        _alert(by["event"], "preventcare:event:recent", hold(by["event"])),
        _alert(by["service"], "preventcare:service:stopped", hold(by["service"])),
        over("latency", "preventcare:link:latency_ms"),
        _alert(by["vpn"], "preventcare:link:up == 0", hold(by["vpn"])),
        # always firing while the agent is scraped: its absence at the desk is the alert
        _alert(by["heartbeat"], "preventcare:agent:up == 1", "0s"),
    ]


def rules_document(scale: float = 1.0) -> dict[str, Any]:
    """The rule file as data. ``scale`` < 1 shortens every duration (tests only)."""
    window = duration(max(sensors.COLLECTED_EVERY * 2 * scale, timedelta(seconds=2)))
    eventlog = duration(sensors.EVENTLOG_WINDOW * scale)
    # one group: its rules run in order at one evaluation time, so the daily check reads the
    # local hour and the measures of this very evaluation
    rules = _clock() + _records(window, eventlog) + _alerts(scale)
    return {"groups": [{"name": "preventcare", "rules": rules}]}



HEADER = """\
# Generated by `vigie sensors rules` from domain/sensors.py: do not edit by hand (a test
# compares this file with the generator's output). The contract's sensors (3.2.2) on
# windows_exporter, node_exporter and blackbox_exporter; labels and routing: README
# "The contract's sensors on open agents".
"""


def render(scale: float = 1.0) -> str:
    body = yaml.safe_dump(rules_document(scale), sort_keys=False, width=4096,
                          allow_unicode=True)
    return HEADER + body
