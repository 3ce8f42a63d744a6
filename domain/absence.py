"""The rules of absence: when a source is late, what a backup day's verdict is, who is muted.

Pure on purpose (no database, no clock, no Temporal): every instant is an argument, so the
sweep, the backup audit, the console's report and the tests share one answer. Workflows may
import it through ``workflow.unsafe.imports_passed_through()`` (only ``days_to_audit`` is
used there); croniter runs in activities and in the console, never inside the sandbox.

Decisions worth knowing (the contract is silent on them, see ``docs``):

* **Heartbeat**: due at ``last + period + grace``; the default grace is 15 minutes.
* **Disk report** (03:00 daily): a report counts for the slot it is at most
  ``min(grace, 1 h)`` early for; the next one is due at the following slot plus grace.
* **Backup day**: the results of day D are those in D's *window*: from the earlier of the
  first scheduled time minus one hour and midnight, to the last scheduled time plus grace;
  a window never starts before the previous scheduled run's window ended, so a result is
  never counted for two days. Several results: the worst wins (failed > cancelled >
  incomplete > warning > success) unless the job says ``last``. No result once the window is
  over: ``not_received``; window still open: ``pending`` (no case yet, audited again).
* **Link down**: a link case mutes the absences of the site of the server that reported it
  and of the site its target (VPN peer) names.
* **Repeats stopped**: a case whose problem is re-sent regularly (link, or two repeats or
  more) is stale when nothing came for three of its observed intervals (at least the floor).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from domain import sensors
from parsers import AlertEvent

# --- heartbeat and daily reports ---------------------------------------------------------

HEARTBEAT_CLAUSE = sensors.HEARTBEAT_CLAUSE
DEFAULT_PERIOD_MINUTES = int(sensors.HEARTBEAT_PERIOD.total_seconds() // 60)
DEFAULT_GRACE_MINUTES = 15
DISK_REPORT_SCHEDULE = f"{sensors.DISK_CHECK_AT.minute} {sensors.DISK_CHECK_AT.hour} * * *"
EARLY_TOLERANCE = timedelta(hours=1)
KINDS = ("heartbeat", "disk_report")


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"Datetime naïf refusé (fuseau requis) : {at.isoformat()}")
    return at.astimezone(UTC)


def heartbeat_next_due(last: datetime, period_minutes: int, grace_minutes: int) -> datetime:
    """When the absence of the next heartbeat becomes an alert."""
    return _aware(last) + timedelta(minutes=period_minutes + grace_minutes)


def validate_cron(expr: str) -> str:
    """The expression, stripped, or ValueError with a French message (forms, API, CSV)."""
    expr = " ".join(expr.split())
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise ValueError(f"Expression cron invalide : {expr!r} (5 champs : min h j mois jsem)")
    return expr


def validate_tz(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except Exception as exc:
        raise ValueError(f"Fuseau horaire inconnu : {tz!r}") from exc


def next_slot(after: datetime, cron: str, tz: str) -> datetime:
    """The first scheduled instant strictly after ``after`` (UTC), reading cron in ``tz``."""
    local = _aware(after).astimezone(ZoneInfo(tz))
    nxt: datetime = croniter(cron, local).get_next(datetime)
    return nxt.astimezone(UTC)


def report_next_due(received_at: datetime, cron: str, tz: str, grace_minutes: int) -> datetime:
    """When the next scheduled report is late, given one just received."""
    grace = timedelta(minutes=grace_minutes)
    covered = _aware(received_at) + min(grace, EARLY_TOLERANCE)
    return next_slot(covered, cron, tz) + grace


def first_due(kind: str, at: datetime, period_minutes: int, grace_minutes: int,
              cron: str, tz: str) -> datetime:
    """Due time of a newly watched source that has not reported yet, counted from ``at``."""
    if kind == "heartbeat":
        return heartbeat_next_due(at, period_minutes, grace_minutes)
    return next_slot(at, cron, tz) + timedelta(minutes=grace_minutes)


# --- fingerprints: the same keys as the router's, so a return reaches the same case -------


def heartbeat_fingerprint(client_code: str, host: str) -> str:
    return AlertEvent(family="heartbeat", status="info", host=host, check="heartbeat",
                      target=None, severity="info", backup_result=None,
                      product="vigie").fingerprint(client_code)


def disk_report_fingerprint(client_code: str, host: str) -> str:
    """Its own check code (``disk_report``): never mixed with a drive's ``disk_free`` case."""
    return AlertEvent(family="disk_space", status="problem", host=host, check="disk_report",
                      target=None, severity="minor", backup_result=None,
                      product="vigie").fingerprint(client_code)


def backup_fingerprint(client_code: str, host: str, job_name: str | None) -> str:
    """The fingerprint of the job's own results: a later success resolves the case."""
    return AlertEvent(family="backup", status="problem", host=host, check="backup_job",
                      target=job_name, severity="major", backup_result="failed",
                      product="vigie").fingerprint(client_code)


# --- backup days ---------------------------------------------------------------------------

RESULT_RANK: dict[str, int] = {
    "success": 1, "warning": 2, "incomplete": 3, "cancelled": 4, "failed": 5,
}
CASE_STATUSES = frozenset({"failed", "incomplete", "cancelled", "not_received"})
STATUS_LABELS: dict[str, str] = {
    "success": "succès",
    "warning": "avertissement",
    "incomplete": "incomplète",
    "cancelled": "annulée",
    "failed": "échec",
    "not_received": "non reçue",
    "pending": "en attente",
    "none": "non prévue",
    "before": "",  # the job was not known yet that day: nothing was expected
}
# The report's four colours (3.2.2: failed, incomplete, cancelled, not received are problems).
CATEGORY: dict[str, str] = {
    "success": "success", "warning": "warning", "incomplete": "failed", "cancelled": "failed",
    "failed": "failed", "not_received": "not_received", "pending": "pending", "none": "none",
    "before": "before",
}
MULTI_RULES = ("worst", "last")


@dataclass(frozen=True)
class Window:
    """Where the results of one scheduled day are looked for, ``[start, end)`` in UTC."""

    day: date
    first_slot: datetime
    start: datetime
    end: datetime


def slots_on(day: date, cron: str, tz: str) -> list[datetime]:
    """The scheduled instants of local ``day`` (UTC), in order; empty: not scheduled."""
    zone = ZoneInfo(tz)
    day_start = datetime.combine(day, time(0), tzinfo=zone)
    day_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    it = croniter(cron, day_start - timedelta(seconds=1))
    out: list[datetime] = []
    while True:
        nxt: datetime = it.get_next(datetime)
        if nxt >= day_end:
            return out
        out.append(nxt.astimezone(UTC))


def backup_window(day: date, cron: str, tz: str, grace_minutes: int) -> Window | None:
    """The window of ``day`` for a job, or None when the job is not scheduled that day."""
    slots = slots_on(day, cron, tz)
    if not slots:
        return None
    zone = ZoneInfo(tz)
    grace = timedelta(minutes=grace_minutes)
    first, last = slots[0], slots[-1]
    day_start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    prev: datetime = croniter(cron, first.astimezone(zone)).get_prev(datetime)
    start = max(min(first - EARLY_TOLERANCE, day_start), prev.astimezone(UTC) + grace)
    return Window(day=day, first_slot=first, start=min(start, first), end=last + grace)


@dataclass(frozen=True)
class RunSeen:
    """One backup result, as the audit needs it."""

    id: int
    at: datetime  # when it happened (source time), else when it was received
    result: str


@dataclass(frozen=True)
class DayVerdict:
    status: str
    run_id: int | None
    runs: int


def decide_day(window: Window, runs: Iterable[RunSeen], now: datetime,
               rule: str = "worst") -> DayVerdict:
    """The day's status from the results in its window (see the module docstring)."""
    inside = [r for r in runs if window.start <= r.at < window.end]
    if not inside:
        status = "pending" if _aware(now) < window.end else "not_received"
        return DayVerdict(status, None, 0)
    if rule == "last":
        chosen = max(inside, key=lambda r: (r.at, r.id))
    else:
        chosen = max(inside, key=lambda r: (RESULT_RANK.get(r.result, 5), r.at, r.id))
    return DayVerdict(chosen.result, chosen.id, len(inside))


def days_to_audit(today: date, is_business_day: Callable[[date], bool],
                  limit: int = 14) -> list[date]:
    """The days a business morning audits: since the previous business day, to yesterday
    (Monday: Friday, Saturday, Sunday; the day after Easter Monday: Friday to Monday)."""
    prev = today - timedelta(days=1)
    for _ in range(limit):
        if is_business_day(prev):
            break
        prev -= timedelta(days=1)
    return [prev + timedelta(days=i) for i in range((today - prev).days)]


_DAYS = {
    "lun": 1, "mon": 1, "mar": 2, "tue": 2, "mer": 3, "wed": 3, "jeu": 4, "thu": 4,
    "ven": 5, "fri": 5, "sam": 6, "sat": 6, "dim": 0, "sun": 0,
}


def schedule_from_days(days: str, at: str = "22:00") -> str:
    """A cron from days of the week and a time: ``("lun-ven", "22:00") -> "0 22 * * 1-5"``.

    Accepts French or English three-letter names, ranges and lists (``lun,mer,ven``).
    """
    m = re.fullmatch(r"\s*(\d{1,2})[:h](\d{2})\s*", at)
    if not m or int(m[1]) > 23 or int(m[2]) > 59:
        raise ValueError(f"Heure invalide : {at!r} (HH:MM)")
    parts: list[str] = []
    for item in days.lower().replace(" ", "").split(","):
        bounds = item.split("-")
        if len(bounds) > 2 or not all(b[:3] in _DAYS for b in bounds):
            raise ValueError(f"Jours invalides : {days!r} (ex. lun-ven, sam, lun,mer,ven)")
        nums = [_DAYS[b[:3]] for b in bounds]
        if len(nums) == 2 and nums[1] == 0:
            nums[1] = 7  # "lun-dim": cron counts Sunday as 7 at the end of a range
        parts.append("-".join(str(n) for n in nums))
    return validate_cron(f"{int(m[2])} {int(m[1])} * * {','.join(parts)}")


def guess_schedule(seen_at: datetime, tz: str = "Europe/Paris") -> str:
    """A first guess for a newly seen job: every day at the hour it reported (to confirm)."""
    local = _aware(seen_at).astimezone(ZoneInfo(tz))
    return f"0 {local.hour} * * *"


# --- silences and link muting ------------------------------------------------------------


@dataclass(frozen=True)
class SilenceScope:
    """What a silence covers; None fields match anything."""

    id: int
    client_id: int | None
    site_id: int | None
    server_id: int | None
    check: str | None
    starts_at: datetime
    ends_at: datetime


def silence_covers(sil: SilenceScope, *, client_id: int | None, site_id: int | None,
                   server_id: int | None, family: str, check: str, at: datetime) -> bool:
    """True if ``sil`` keeps quiet an event of this scope at ``at`` (``[starts, ends)``)."""
    if not (sil.starts_at <= _aware(at) < sil.ends_at):
        return False
    for want, have in ((sil.client_id, client_id), (sil.site_id, site_id),
                       (sil.server_id, server_id)):
        if want is not None and want != have:
            return False
    if sil.check:
        c = sil.check.strip().lower()
        if c not in (family.lower(), check.lower()):
            return False
    return True


def _name_key(name: str) -> str:
    return re.sub(r"[\s_-]+", "-", name.strip().lower())


def link_target_names_site(target: str | None, site_name: str, link_names: str) -> bool:
    """True if a link case's target (the VPN peer) names this site."""
    if not target:
        return False
    key = _name_key(target)
    names = [site_name, *link_names.split(",")]
    return any(key == _name_key(n) for n in names if n.strip())


# --- repeats that stop without a recovery ----------------------------------------------------


def repeats_stopped(*, family: str, opened_at: datetime, last_seen: datetime | None,
                    repeat_count: int, at: datetime, floor: timedelta,
                    factor: int = 3) -> bool:
    """True when a problem that was re-sent regularly has gone quiet without a recovery."""
    seen = _aware(last_seen or opened_at)
    if repeat_count >= 2:
        interval = (seen - _aware(opened_at)) / repeat_count
        threshold = max(floor, interval * factor)
    elif family == "link":
        threshold = floor
    else:
        return False
    return _aware(at) - seen > threshold


# --- the daily backup report ----------------------------------------------------------------


@dataclass(frozen=True)
class CellDetail:
    """What one day of the matrix received: the chosen result's time and where to read it."""

    at: datetime | None = None  # when the chosen result happened (UTC)
    runs: int = 0
    run_id: int | None = None
    event_id: int | None = None
    case_id: int | None = None


@dataclass(frozen=True)
class ReportRow:
    client_code: str
    client_name: str
    host: str
    job: str  # the job's name, or its product when the source names no job
    job_id: int
    cells: list[str]  # one status per report day, "none" when not scheduled
    details: list[CellDetail] = field(default_factory=list)
    confirmed: bool = True  # False: proposed by the desk, not audited yet


@dataclass(frozen=True)
class BackupReport:
    days: list[date]
    rows: list[ReportRow] = field(default_factory=list)

    def problems(self, days: Iterable[date] | None = None) -> list[tuple[ReportRow, date, str]]:
        """(row, day, status) of the problems on ``days`` (default: the last day): on a
        Monday, the team wants Friday's, Saturday's and Sunday's at once."""
        wanted = set(days) if days is not None else {self.days[-1]}
        return [(r, d, s) for r in self.rows for d, s in zip(self.days, r.cells, strict=True)
                if d in wanted and s in CASE_STATUSES]

    def as_dict(self) -> dict[str, object]:
        return {
            "days": [d.isoformat() for d in self.days],
            "rows": [
                {
                    "client": r.client_code, "client_name": r.client_name, "host": r.host,
                    "job": r.job, "job_id": r.job_id, "confirmed": r.confirmed,
                    "cells": [
                        {"day": d.isoformat(), "status": s, "category": CATEGORY[s],
                         "label": STATUS_LABELS[s],
                         "at": det.at.isoformat() if det.at else None, "runs": det.runs,
                         "run_id": det.run_id, "event_id": det.event_id,
                         "case_id": det.case_id}
                        for d, s, det in zip(self.days, r.cells,
                                             r.details or [CellDetail()] * len(r.cells),
                                             strict=True)
                    ],
                }
                for r in self.rows
            ],
        }


_WEEKDAYS = ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim.")
_SYMBOL = {"success": "OK", "warning": "AV", "failed": "KO", "not_received": "NR",
           "pending": "..", "none": "-", "before": ""}
_HTML_COLOUR = {"success": "#1e7b34", "warning": "#b26a00", "failed": "#b00020",
                "not_received": "#6a1b9a", "pending": "#555", "none": "#999", "before": "#999"}


def day_label(d: date) -> str:
    return f"{_WEEKDAYS[d.weekday()]} {d:%d/%m}"


def render_backup_report(report: BackupReport, focus: Iterable[date] | None = None
                         ) -> tuple[str, str, str]:
    """(subject, text, html) of the team's daily backup mail; French, plain and HTML.

    ``focus``: the days whose problems are listed first (those the morning's audit judged;
    default the last day); the matrix always shows every day.
    """
    last = report.days[-1]
    problems = report.problems(focus)
    judged = sorted(set(focus)) if focus else [last]
    period = (f"du {day_label(judged[0])}" if len(judged) == 1
              else f"du {day_label(judged[0])} au {day_label(judged[-1])}")
    subject = (f"[Vigie] Sauvegardes {period} : {len(problems)} à traiter "
               f"({len(report.rows)} travaux suivis)")
    lines = [f"Rapport quotidien des sauvegardes, {len(report.days)} derniers jours "
             f"(jusqu'au {last:%d/%m/%Y}).", ""]
    if problems:
        lines.append("À traiter (échouées, incomplètes, annulées, non reçues) :")
        lines += [f"  - {r.client_code} / {r.host} / {r.job} : {STATUS_LABELS[s]} "
                  f"({day_label(d)})" for r, d, s in problems]
    else:
        lines.append("Aucune sauvegarde à traiter.")
    lines += ["", "Légende : OK succès, AV avertissement, KO échec/incomplète/annulée, "
              "NR non reçue, .. en attente, - non prévue", ""]
    head = ["client", "serveur", "travail", *(day_label(d) for d in report.days)]
    table = [head] + [
        [r.client_code, r.host, r.job, *(_SYMBOL[CATEGORY[s]] for s in r.cells)]
        for r in report.rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in table]
    text = "\n".join(lines) + "\n"

    e = html.escape
    cells_html = []
    for r in report.rows:
        tds = "".join(
            f'<td style="color:{_HTML_COLOUR[CATEGORY[s]]}">{e(STATUS_LABELS[s])}</td>'
            for s in r.cells
        )
        cells_html.append(f"<tr><td>{e(r.client_name)}</td><td>{e(r.host)}</td>"
                          f"<td>{e(r.job)}</td>{tds}</tr>")
    ths = "".join(f"<th>{e(day_label(d))}</th>" for d in report.days)
    todo = "".join(f"<li>{e(r.client_name)} / {e(r.host)} / {e(r.job)} : "
                   f"{e(STATUS_LABELS[s])} ({e(day_label(d))})</li>" for r, d, s in problems)
    body = (
        f"<html><body><h1>{e(subject)}</h1>"
        + (f"<p>À traiter :</p><ul>{todo}</ul>" if todo else
           "<p>Aucune sauvegarde à traiter.</p>")
        + f"<table border=\"1\" cellpadding=\"4\"><tr><th>Client</th><th>Serveur</th>"
        f"<th>Travail</th>{ths}</tr>{''.join(cells_html)}</table></body></html>"
    )
    return subject, text, body


def report_days(last: date, days: int = 7) -> list[date]:
    return [last - timedelta(days=days - 1 - i) for i in range(days)]


def matrix_statuses(windows: Sequence[Window | None], runs: Sequence[RunSeen], now: datetime,
                    rule: str) -> list[str]:
    """One report row's cells: each day's verdict, ``none`` when not scheduled."""
    return ["none" if w is None else decide_day(w, runs, now, rule).status for w in windows]


def known_on(window: Window, known_since: datetime | None) -> bool:
    """Was the job known when that day's backup was due? A job created on Wednesday at 10:00
    says nothing about Tuesday: that day is blank, not "not received"."""
    return known_since is None or window.first_slot >= _aware(known_since)


def matrix_verdicts(windows: Sequence[Window | None], runs: Sequence[RunSeen], now: datetime,
                    rule: str, known_since: datetime | None = None, audited: bool = True
                    ) -> list[DayVerdict]:
    """Each day's verdict with the result it chose: ``none`` when not scheduled, ``before``
    when nothing came on a day the job was not known (or, for a job not audited, any day
    without a result); what was received is always shown."""
    out = []
    for w in windows:
        if w is None:
            out.append(DayVerdict("none", None, 0))
            continue
        verdict = decide_day(w, runs, now, rule)
        if verdict.run_id is None and (not audited or not known_on(w, known_since)):
            verdict = DayVerdict("before", None, 0)
        out.append(verdict)
    return out
