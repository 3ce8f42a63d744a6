"""The contract's sensors (3.2.2) as data: the one place their thresholds and periods live.

The Prometheus rules in ``deploy/preventcare/`` are generated from this table
(``vigie sensors rules``, see ``vigie/sensor_rules.py``; a test keeps the committed file equal
to the generated one), the desk's Alertmanager intake reads it to map those alerts onto the
same events as the monitor's mails, and the desk's own texts (alert summaries, the heartbeat
clause) are written from it. Pure: no I/O, no clock.

Choices made where the contract is silent (README "The contract's sensors on open agents"):

* **Average disk queue length "> 95 %"**: read on the monitor's scale, the queue length times
  100 (the figure its mails carry, ``avg disk queue length 96.0% > 95%``); % disk time is the
  share of the time the disk was busy (100 - % idle time), which stays within 0-100 on arrays.
* **Disk space "alert at 10 % free"**: 10 % free or less fires.
* **Services** (checked "every hour") and **VPN latency and ruptures** (no period given): a
  stopped service after 5 minutes (a restart is no alert), a latency held 5 minutes, a
  rupture after 2 failed probes; all well inside the contract's hourly cadence.
* **Event log** ("every 10 minutes"): a relevant event counted in the last 10 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

CLAUSE = "3.2.2"
TIMEZONE = "Europe/Paris"  # the client's time zone for the daily disk check
DISK_CHECK_AT = time(3, 0)  # "une fois par jour à 03:00"
HEARTBEAT_PERIOD = timedelta(hours=1)  # the agent's hourly heartbeat
COLLECTED_EVERY = timedelta(minutes=1)  # performance counters: "collected and sent after 1 min"


@dataclass(frozen=True)
class Sensor:
    """One line of 3.2.2 as the desk and the rules read it.

    ``hold`` is how long the condition must last before it is an alert (the rule's ``for:``);
    ``contractual`` says whether the contract fixes threshold and hold or the desk chose
    them. ``target`` is a fixed instance name (as the monitor's mails write it) or None when
    the instance comes from the exporter's label. ``resolves``: whether a recovery exists
    (an event-log entry or a heartbeat has none: the problem or the beat is the news).
    """

    check: str  # the event's check code (shared/docs/alert-event.md)
    family: str
    alert: str  # the Prometheus alert name
    what_fr: str
    what_en: str
    op: str = ">"  # ">" above the threshold, "<=" at or below it
    threshold: float | None = None
    unit: str = "%"
    hold: timedelta = timedelta(0)
    contractual: bool = True
    severity: str = "minor"  # the monitor's mails' own severity for this check
    target: str | None = None
    resolves: bool = True
    daily_at: time | None = None

    def condition(self, lang: str = "fr") -> str:
        """``temps processeur > 95 % pendant 20 min``: the sentence the desk shows."""
        what = self.what_fr if lang == "fr" else self.what_en
        if self.threshold is None:
            text = what
        else:
            op = {">": ">", "<=": "≤"}[self.op]
            text = f"{what} {op} {_number(self.threshold)} {self.unit}".rstrip()
        if self.hold:
            text += (" pendant " if lang == "fr" else " for ") + minutes_text(self.hold)
        if self.daily_at is not None:
            at = self.daily_at.strftime("%H:%M")
            text += (f", vérifié chaque jour à {at}" if lang == "fr"
                     else f", checked daily at {at}")
        return text


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def minutes_text(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 or minutes % 60 else f"{minutes // 60} h"


SENSORS: tuple[Sensor, ...] = (
    Sensor("disk_time", "performance", "PreventcareDiskTime", "temps disque", "disk time",
           threshold=95, hold=timedelta(minutes=20)),
    Sensor("disk_queue", "performance", "PreventcareDiskQueue",
           "longueur moyenne de file d'attente disque", "average disk queue length",
           threshold=95, hold=timedelta(minutes=20)),
    Sensor("pagefile", "performance", "PreventcarePagefile", "utilisation du fichier d'échange",
           "paging file usage", threshold=85, hold=timedelta(minutes=15), target="_Total"),
    Sensor("committed_bytes", "performance", "PreventcareCommittedBytes",
           "mémoire engagée utilisée", "committed bytes in use", threshold=90,
           hold=timedelta(minutes=10)),
    Sensor("cpu", "performance", "PreventcareCpu", "temps processeur", "processor time",
           threshold=95, hold=timedelta(minutes=20), target="_Total"),
    Sensor("disk_free", "disk_space", "PreventcareDiskSpaceLow", "espace disque libre",
           "free disk space", op="<=", threshold=10, daily_at=DISK_CHECK_AT),
    Sensor("event", "eventlog", "PreventcareEventLog", "événement pertinent du journal",
           "relevant event-log entry", hold=timedelta(0), resolves=False),
    Sensor("service", "service", "PreventcareServiceStopped", "service arrêté",
           "service stopped", hold=timedelta(minutes=5), contractual=False),
    Sensor("heartbeat", "heartbeat", "PreventcareHeartbeat", "battement horaire",
           "hourly heartbeat", severity="info", resolves=False),
    Sensor("latency", "link", "PreventcareVpnLatency", "latence du lien", "link latency",
           threshold=600, unit="ms", hold=timedelta(minutes=5), contractual=False,
           severity="major"),
    Sensor("vpn", "link", "PreventcareVpnDown", "rupture du VPN", "VPN down",
           hold=timedelta(minutes=2), contractual=False, severity="major"),
)
BY_CHECK: dict[str, Sensor] = {s.check: s for s in SENSORS}
BY_ALERT: dict[str, Sensor] = {s.alert: s for s in SENSORS}
EVENTLOG_WINDOW = timedelta(minutes=10)  # "every 10 min": events counted over this window
HEARTBEAT_CLAUSE = f"{CLAUSE} Battement horaire absent : alerte majeure"


def condition_for(family: str | None, check: str | None, lang: str = "fr") -> str | None:
    """The contract's condition behind a case's check (shown on the case page), if any."""
    sensor = BY_CHECK.get(check or "")
    if sensor is None or sensor.family != family:
        return None
    return sensor.condition(lang)
