"""The absence watch's records: expectations, the sweep's verdicts, the backup audit, the
backup report matrix; plus the router's hooks that keep the due times current.

The data layer under the intake (``note_report``, ``observe_backup_run``), the console
(``confirm_expectation``, ``import_expectations_csv``, ``backup_report`` ...) and the Temporal
activities of ``activities.absence``, which only wrap these functions and talk to Temporal.

Every step is idempotent so a retried activity (or a worker killed mid-way) repeats nothing
visible: verdicts are upserts, each noticed absence is one ``absence_event`` row keyed by
``dedup_key``, and the case hears of it under the row's negated id as event id, which the
case workflow ignores the second time. Database state moves only after Temporal has
acknowledged (``case_opened``, ``done_at``), so a crash in between is retried by the next
sweep rather than lost.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, insert, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from base.settings import Settings, same_names
from contracts.store import unmonitored_client_ids
from domain.absence import (
    CASE_STATUSES,
    DEFAULT_GRACE_MINUTES,
    DISK_REPORT_SCHEDULE,
    HEARTBEAT_CLAUSE,
    KINDS,
    MULTI_RULES,
    STATUS_LABELS,
    BackupReport,
    CellDetail,
    ReportRow,
    RunSeen,
    SilenceScope,
    Window,
    backup_fingerprint,
    backup_window,
    day_label,
    decide_day,
    disk_report_fingerprint,
    first_due,
    guess_schedule,
    heartbeat_fingerprint,
    heartbeat_next_due,
    known_on,
    link_target_names_site,
    matrix_verdicts,
    repeats_stopped,
    report_days,
    report_next_due,
    schedule_from_days,
    silence_covers,
    validate_cron,
    validate_tz,
)
from messages.absence import AuditSummary
from messages.cases import CASE_PATH, AlertSignal, CaseInput, Criticality, case_workflow_id
from models.db import session_scope
from models.expectations import AbsenceEvent, BackupDay, Expectation, Silence
from models.tables import (
    AlertEventRow,
    BackupJob,
    BackupRun,
    Case,
    Client,
    Server,
    Site,
)
from models.types import utcnow
from records.desk_watch import (
    DESK_FINGERPRINT,
    DESK_MIN_CLIENTS,
    desk_case_input,
    desk_is_silent,
    open_desk_incident,
    release_desk,
)
from records.incidents import (
    SITE_FAMILY,
    attach_absence,
    attach_absence_child,
    parent_for_server,
    site_case_input,
    site_fingerprint,
)
from records.silences import SilenceRequest, covering, create_silence, record_hit

CASE_WORKFLOW = "CaseWorkflow"
OPEN_CHUNK = 20  # cases opened concurrently by one sweep
SYSTEM = "system"
HELD_STATES = ("missing", "muted", "silenced")
CLOSED_CASE_STATES = ("resolved", "closed")
# what a sweep changes on an expectation
VERDICT_FIELDS = ("state", "missing_since", "case_workflow_id", "case_opened", "muted_by_case_id")
# (family, check) under which each kind of absence is silenced and fingerprinted
KIND_SCOPE: dict[str, tuple[str, str]] = {
    "heartbeat": ("heartbeat", "heartbeat"),
    "disk_report": ("disk_space", "disk_report"),
}
KIND_LABEL = {"heartbeat": "battement horaire", "disk_report": "rapport d'espace disque"}


@dataclass(frozen=True)
class AbsencePolicy:
    """The deployment's absence settings (``base.settings``), copied into the activities."""

    l1_minutes: int = 60
    auto_close_hours: int = 72
    timezone: str = "Europe/Paris"
    stale_floor_minutes: int = 60
    batch: int = 1000
    smtp_relay_host: str = ""
    smtp_relay_port: int = 25
    smtp_relay_tls: str = "starttls"  # starttls | tls | none
    smtp_relay_user: str = ""
    smtp_relay_password: str = ""
    smtp_relay_timeout: float = 20.0
    mail_from: str = "vigie@desk.example"
    team_email: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> AbsencePolicy:
        return cls(
            **same_names(settings, "l1_minutes", "auto_close_hours", "timezone"),
            stale_floor_minutes=settings.repeat_stale_minutes,
            **same_names(settings, "smtp_relay_host", "smtp_relay_port", "smtp_relay_tls",
                "smtp_relay_user", "smtp_relay_password", "smtp_relay_timeout", "mail_from",
                "team_email"),
        )

    def local(self, at: datetime) -> str:
        return at.astimezone(ZoneInfo(self.timezone)).strftime("%d/%m %H:%M")


# === the router's hooks (called inside its materialize transaction) =======================


def note_report(s: Session, kind: str, *, client_id: int, server_id: int, at: datetime,
                fingerprint: str) -> Expectation:
    """A heartbeat or a disk report arrived: move the due time on (whatever the state, so the
    sweep sees a return), or propose the expectation the first time the source is seen."""
    exp = s.exec(select(Expectation).where(Expectation.server_id == server_id,
                                           Expectation.kind == kind)).first()
    if exp is None:
        exp = Expectation(client_id=client_id, server_id=server_id, kind=kind,
                          grace_minutes=DEFAULT_GRACE_MINUTES if kind == "heartbeat" else 60,
                          schedule=DISK_REPORT_SCHEDULE, state="proposed", source="auto",
                          proposed_at=at)
    if exp.last_seen_at is not None and exp.last_seen_at >= at:
        return exp  # an older report delivered late changes nothing
    exp.last_seen_at = at
    exp.fingerprint = fingerprint or exp.fingerprint
    exp.next_due_at = _next_due(exp, at)
    s.add(exp)
    return exp


def _next_due(exp: Expectation, seen: datetime) -> datetime:
    if exp.kind == "heartbeat":
        return heartbeat_next_due(seen, exp.period_minutes, exp.grace_minutes)
    return report_next_due(seen, exp.schedule, exp.tz, exp.grace_minutes)


def _norm(name: str | None) -> str:
    return " ".join((name or "").split()).lower()


def job_matches(job: BackupJob, job_name: str | None, product: str) -> bool:
    """Does a reported result belong to this expected job (name, else host and product)?"""
    if job.name:
        return _norm(job.name) == _norm(job_name)
    return not job_name and (not job.product or job.product == product)


def observe_backup_run(s: Session, run: BackupRun, at: datetime) -> BackupJob | None:
    """A backup result arrived: the expected job it belongs to, or a proposed one (to be
    confirmed by a technician) when this job was never seen on this server."""
    if run.server_id is None or run.client_id is None:
        return None
    jobs = s.exec(select(BackupJob).where(BackupJob.server_id == run.server_id)).all()
    for job in jobs:
        if job_matches(job, run.job_name, run.product):
            return job
    job = BackupJob(client_id=run.client_id, server_id=run.server_id, name=run.job_name,
                    product=run.product, schedule=guess_schedule(run.occurred_at or at),
                    confirmed=False, proposed_at=at, created_at=at)
    s.add(job)
    return job


# === expectations: created from configuration, proposed, confirmed ===========================


def upsert_expectation(
    engine: Engine,
    server_id: int,
    kind: str,
    *,
    by: str,
    period_minutes: int | None = None,
    grace_minutes: int | None = None,
    schedule: str | None = None,
    tz: str | None = None,
    source: str = "api",
    at: datetime | None = None,
) -> Expectation:
    """Creates or changes what is expected of a server; a configured expectation is
    confirmed at once (watched from now, or from its last report if one came)."""
    with session_scope(engine) as s:
        return _upsert(s, server_id, kind, by=by, period_minutes=period_minutes,
                       grace_minutes=grace_minutes, schedule=schedule, tz=tz, source=source,
                       at=at or utcnow())


def _upsert(s: Session, server_id: int, kind: str, *, by: str, period_minutes: int | None,
            grace_minutes: int | None, schedule: str | None, tz: str | None, source: str,
            at: datetime) -> Expectation:
    if kind not in KINDS:
        raise ValueError(f"Type d'attente inconnu : {kind!r} ({', '.join(KINDS)})")
    srv = s.get(Server, server_id)
    if srv is None:
        raise ValueError(f"Serveur {server_id} inconnu")
    exp = s.exec(select(Expectation).where(Expectation.server_id == server_id,
                                           Expectation.kind == kind)).first()
    if exp is None:
        exp = Expectation(client_id=srv.client_id, server_id=server_id, kind=kind,
                          source=source, schedule=DISK_REPORT_SCHEDULE,
                          grace_minutes=DEFAULT_GRACE_MINUTES if kind == "heartbeat" else 60)
    if period_minutes is not None:
        if not 1 <= period_minutes <= 7 * 24 * 60:
            raise ValueError("Période invalide (1 minute à 7 jours)")
        exp.period_minutes = period_minutes
    if grace_minutes is not None:
        if not 0 <= grace_minutes <= 7 * 24 * 60:
            raise ValueError("Délai de grâce invalide (0 à 7 jours)")
        exp.grace_minutes = grace_minutes
    if schedule is not None:
        exp.schedule = validate_cron(schedule)
    if tz is not None:
        validate_tz(tz)
        exp.tz = tz
    _confirm(exp, by, at)
    s.add(exp)
    s.flush()
    return exp


def _confirm(exp: Expectation, by: str, at: datetime) -> None:
    if exp.state in ("proposed", "disabled"):
        exp.state = "ok"
    if exp.confirmed_at is None:
        exp.confirmed_at, exp.confirmed_by = at, by
    if exp.state == "ok":
        exp.next_due_at = (
            _next_due(exp, exp.last_seen_at) if exp.last_seen_at is not None
            else first_due(exp.kind, at, exp.period_minutes, exp.grace_minutes,
                           exp.schedule, exp.tz)
        )


def confirm_expectation(engine: Engine, expectation_id: int, by: str,
                        at: datetime | None = None) -> Expectation:
    """A technician accepts a proposed expectation: it is watched from now on."""
    with session_scope(engine) as s:
        exp = s.get(Expectation, expectation_id)
        if exp is None:
            raise LookupError(f"Attente {expectation_id} introuvable")
        _confirm(exp, by, at or utcnow())
        s.add(exp)
        return exp


def set_expectation_enabled(engine: Engine, expectation_id: int, enabled: bool, by: str,
                            at: datetime | None = None) -> Expectation:
    """Stops (or resumes) watching a source; an open absence case is left to the people."""
    with session_scope(engine) as s:
        exp = s.get(Expectation, expectation_id)
        if exp is None:
            raise LookupError(f"Attente {expectation_id} introuvable")
        if enabled:
            _confirm(exp, by, at or utcnow())  # disabled -> ok, due time from now
        else:
            exp.state = "disabled"
            exp.case_workflow_id, exp.case_opened, exp.muted_by_case_id = None, False, None
        s.add(exp)
        return exp


def expect_defaults(engine: Engine, client_id: int, by: str,
                    kinds: tuple[str, ...] = KINDS, at: datetime | None = None
                    ) -> list[Expectation]:
    """Onboarding (3.2.1): the contract's expectations for every server of a client that has
    none yet (heartbeat every hour + 15 min grace, disk report daily at 03:00)."""
    at = at or utcnow()
    out = []
    with session_scope(engine) as s:
        servers = s.exec(select(Server).where(Server.client_id == client_id)).all()
        for srv in servers:
            for kind in kinds:
                exists = s.exec(select(Expectation.id).where(
                    Expectation.server_id == srv.id, Expectation.kind == kind)).first()
                if exists is None:
                    out.append(_upsert(s, srv.id or 0, kind, by=by, period_minutes=None,
                                       grace_minutes=None, schedule=None, tz=None,
                                       source="config", at=at))
    return out


def list_expectations(engine: Engine, *, client_id: int | None = None,
                      state: str | None = None) -> list[Expectation]:
    with Session(engine) as s:
        q = select(Expectation).order_by(col(Expectation.client_id), col(Expectation.server_id),
                                         col(Expectation.kind))
        if client_id is not None:
            q = q.where(Expectation.client_id == client_id)
        if state is not None:
            q = q.where(Expectation.state == state)
        return list(s.exec(q).all())


@dataclass(frozen=True)
class Proposals:
    expectations: list[Expectation]
    backup_jobs: list[BackupJob]


def pending_proposals(engine: Engine, client_id: int | None = None) -> Proposals:
    """What the desk noticed for the first time and waits for a technician to confirm."""
    with Session(engine) as s:
        qe = select(Expectation).where(Expectation.state == "proposed")
        qj = select(BackupJob).where(BackupJob.confirmed == False)  # noqa: E712
        if client_id is not None:
            qe = qe.where(Expectation.client_id == client_id)
            qj = qj.where(BackupJob.client_id == client_id)
        return Proposals(list(s.exec(qe).all()), list(s.exec(qj).all()))


def update_backup_job(
    engine: Engine,
    job_id: int,
    *,
    schedule: str | None = None,
    days: str | None = None,
    at_time: str | None = None,
    tz: str | None = None,
    grace_minutes: int | None = None,
    multi_result: str | None = None,
    confirm: bool = False,
) -> BackupJob:
    """Changes an expected job (cron, or days of week and a time) and may confirm it."""
    with session_scope(engine) as s:
        job = s.get(BackupJob, job_id)
        if job is None:
            raise LookupError(f"Travail de sauvegarde {job_id} introuvable")
        if days is not None:
            schedule = schedule_from_days(days, at_time or "22:00")
        if schedule is not None:
            job.schedule = validate_cron(schedule)
        if tz is not None:
            validate_tz(tz)
            job.tz = tz
        if grace_minutes is not None:
            if not 0 <= grace_minutes <= 7 * 24 * 60:
                raise ValueError("Délai de grâce invalide (0 à 7 jours)")
            job.grace_minutes = grace_minutes
        if multi_result is not None:
            if multi_result not in MULTI_RULES:
                raise ValueError(f"Règle inconnue : {multi_result!r} (worst ou last)")
            job.multi_result = multi_result
        if confirm:
            job.confirmed = True
        s.add(job)
        return job


# --- CSV import of expectations and silences ---------------------------------------------------

CSV_COLUMNS = ("type", "client", "hostname", "site", "period", "grace", "schedule", "days",
               "at", "tz", "check", "starts", "ends", "reason")


@dataclass
class CsvImport:
    dry_run: bool
    created: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[int, str]] = field(default_factory=list)


def import_expectations_csv(engine: Engine, text: str, *, by: str,
                            dry_run: bool = False) -> CsvImport:
    """``type`` heartbeat | disk_report | silence, one per line; all lines or none.

    heartbeat: client, hostname, period, grace; disk_report: client, hostname, schedule or
    days + at, tz, grace; silence: client, site or hostname, check, starts, ends (ISO 8601
    with offset), reason. Expected backup jobs are in the inventory import (``backup_job``).
    """
    out = CsvImport(dry_run=dry_run)
    first = text.splitlines()[0] if text else ""
    reader = csv.DictReader(io.StringIO(text),
                            delimiter=";" if first.count(";") > first.count(",") else ",")
    unknown = [h for h in (reader.fieldnames or []) if h.strip().lower() not in CSV_COLUMNS]
    if unknown or "type" not in (reader.fieldnames or []):
        out.errors.append((1, f"En-tête invalide (colonnes : {', '.join(CSV_COLUMNS)})"))
        return out
    silences: list[SilenceRequest] = []
    with Session(engine, expire_on_commit=False) as s:
        for n, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            try:
                kind = row.get("type", "").lower()
                client = s.exec(select(Client).where(Client.code == row.get("client"))).first()
                if client is None:
                    raise ValueError(f"client inconnu : {row.get('client')!r}")
                srv = None
                if row.get("hostname"):
                    srv = s.exec(select(Server).where(
                        Server.client_id == client.id,
                        Server.hostname == row["hostname"].lower())).first()
                    if srv is None:
                        raise ValueError(f"serveur inconnu : {row['hostname']!r}")
                if kind in KINDS:
                    if srv is None:
                        raise ValueError("hostname requis")
                    sched = row.get("schedule") or None
                    if row.get("days"):
                        sched = schedule_from_days(row["days"], row.get("at") or "03:00")
                    _upsert(s, srv.id or 0, kind, by=by,
                            period_minutes=int(row["period"]) if row.get("period") else None,
                            grace_minutes=int(row["grace"]) if row.get("grace") else None,
                            schedule=sched, tz=row.get("tz") or None, source="csv",
                            at=utcnow())
                elif kind == "silence":
                    site_id = None
                    if row.get("site"):
                        site = s.exec(select(Site).where(Site.client_id == client.id,
                                                         Site.name == row["site"])).first()
                        if site is None:
                            raise ValueError(f"site inconnu : {row['site']!r}")
                        site_id = site.id
                    starts = datetime.fromisoformat(row.get("starts", ""))
                    ends = datetime.fromisoformat(row.get("ends", ""))
                    if starts.tzinfo is None or ends.tzinfo is None:
                        raise ValueError("dates sans fuseau horaire")
                    if ends <= starts or not row.get("reason"):
                        raise ValueError("silence : fin après début et raison requises")
                    silences.append(SilenceRequest(
                        starts_at=starts, ends_at=ends, reason=row["reason"], created_by=by,
                        client_id=client.id, site_id=site_id,
                        server_id=srv.id if srv else None, check=row.get("check") or None))
                else:
                    raise ValueError(f"type inconnu : {kind!r}")
                out.created[kind] += 1
            except (ValueError, KeyError) as exc:
                out.errors.append((n, str(exc)))
        if dry_run or out.errors:
            s.rollback()
            return out
        s.commit()
    for req in silences:
        create_silence(engine, req)
    return out


# === the sweep ============================================================================


@dataclass(frozen=True)
class OpenOrder:
    """Open (or feed) an absence case by signal-with-start."""

    workflow_id: str
    case: CaseInput
    signal: AlertSignal
    absence_id: int | None = None
    expectation_id: int | None = None
    backup_day_id: int | None = None


@dataclass(frozen=True)
class NoteOrder:
    """A line of the system in a case's timeline (the ``add_note`` update)."""

    workflow_id: str
    text: str
    absence_id: int


@dataclass(frozen=True)
class ResolveOrder:
    """The source is back: resolve its absence case (``resolve`` update, actor system)."""

    workflow_id: str
    reason: str
    expectation_id: int
    absence_id: int


@dataclass
class SweepPlan:
    opens: list[OpenOrder] = field(default_factory=list)
    notes: list[NoteOrder] = field(default_factory=list)
    resolves: list[ResolveOrder] = field(default_factory=list)
    muted: int = 0
    silenced: int = 0
    back: int = 0
    overdue_seen: int = 0


def overdue_query(at: datetime, limit: int) -> object:
    """The sweep's one query over the healthy sources: only the late ones are read."""
    return (
        select(Expectation)
        .where(Expectation.state == "ok", col(Expectation.next_due_at) <= at)
        .order_by(col(Expectation.next_due_at))
        .limit(limit)
    )


def _absence(s: Session, key: str, **fields: object) -> tuple[AbsenceEvent, bool]:
    found = s.exec(select(AbsenceEvent).where(AbsenceEvent.dedup_key == key)).first()
    if found is not None:
        return found, False
    ev = AbsenceEvent(dedup_key=key[:300], **fields)  # type: ignore[arg-type]
    s.add(ev)
    s.flush()
    return ev, True


def _iso(at: datetime | None) -> str:
    return at.astimezone(UTC).isoformat() if at else "-"


def _case_is_open(c: Case | None) -> bool:
    return c is not None and not c.closed and c.state not in CLOSED_CASE_STATES


@dataclass
class _Line:
    """A ledger line this sweep writes (plain values: one INSERT for all, no ORM objects)."""

    values: dict[str, object]
    id: int | None = None
    done_at: datetime | None = None


class _Sweep:
    """One sweep's transaction: decides, writes the verdicts, collects the Temporal orders.

    Everything it needs about the late sources (servers, sites, clients, silences, open link
    cases, this episode's ledger lines) is loaded in one query per table, whatever their
    number, and new ledger lines are inserted in one flush: the cost follows the number of
    late sources, never the number of healthy ones (``bench/absence.py``).
    """

    def __init__(self, s: Session, at: datetime, policy: AbsencePolicy) -> None:
        self.s, self.at, self.policy = s, at, policy
        self.plan = SweepPlan()
        self.servers: dict[int, Server] = {}
        self.sites: dict[int, Site] = {}
        self.clients: dict[int, Client] = {}
        self.silences: dict[int, list[Silence]] = defaultdict(list)
        self.links: dict[int, list[Case]] = defaultdict(list)
        self.watched_at_site: Counter[int] = Counter()  # heartbeats watched per site
        self.site_opening: set[int] = set()  # sites whose incident this sweep opens
        self.ledger: dict[str, AbsenceEvent | _Line] = {}
        self.new_events: list[_Line] = []
        self.later: list[Callable[[], None]] = []  # run once the new ledger lines have ids

    def run(self) -> SweepPlan:
        s, at = self.s, self.at
        overdue = list(s.exec(overdue_query(at, self.policy.batch)).all())  # type: ignore[call-overload]
        self.plan.overdue_seen = len(overdue)
        desk = self.desk_watch(overdue)  # records.desk_watch: the desk's own silence
        held = [e for e in s.exec(select(Expectation).where(
            col(Expectation.state).in_(HELD_STATES))).all() if e.state != "ok"]
        # a held source that is still missing and whose case is open needs nothing
        moving = [e for e in held if not (e.state == "missing" and e.case_opened
                                          and not self.returned(e))]
        self.load([*overdue, *moving])
        with s.no_autoflush:
            for exp in overdue:
                if desk is not None:
                    self.mute_under_desk(exp, desk)
                else:
                    self.judge(exp)
            for exp in moving:
                if desk is not None and not self.returned(exp):
                    self.mute_under_desk(exp, desk)
                else:
                    self.follow(exp)
        self.write([*overdue, *moving])
        if self.new_events:  # one multi-row INSERT ... RETURNING for the lot
            ids = dict(s.execute(
                insert(AbsenceEvent).returning(AbsenceEvent.dedup_key, AbsenceEvent.id),
                [{**line.values, "done_at": line.done_at} for line in self.new_events],
            ).all())
            for line in self.new_events:
                line.id = ids[line.values["dedup_key"]]
        for step in self.later:
            step()
        return self.plan

    def write(self, exps: list[Expectation]) -> None:
        """The verdicts in one executemany (the unit of work would send one UPDATE per row)."""
        rows = []
        for exp in exps:
            if self.s.is_modified(exp):
                rows.append({"id": exp.id, **{f: getattr(exp, f) for f in VERDICT_FIELDS}})
                self.s.expunge(exp)
        if rows:
            self.s.execute(update(Expectation), rows)

    def returned(self, exp: Expectation) -> bool:
        return exp.next_due_at is not None and exp.next_due_at > self.at

    def load(self, exps: list[Expectation]) -> None:
        if not exps:
            return
        s, at = self.s, self.at
        server_ids = {e.server_id for e in exps}
        client_ids = {e.client_id for e in exps}
        for c in s.exec(select(Case).where(
                col(Case.client_id).in_(client_ids), col(Case.family).in_(("link", SITE_FAMILY)),
                Case.closed == False,  # noqa: E712
                # a link case opened by an unverified source never mutes anything
                Case.source_verified == True,  # noqa: E712
                col(Case.state).not_in(CLOSED_CASE_STATES)).order_by(col(Case.opened_at))):
            self.links[c.client_id or 0].append(c)
            if c.server_id is not None:
                server_ids.add(c.server_id)
        self.servers = {v.id or 0: v for v in s.exec(
            select(Server).where(col(Server.id).in_(server_ids)))}
        site_ids = {v.site_id for v in self.servers.values() if v.site_id is not None}
        self.sites = {v.id or 0: v for v in s.exec(select(Site).where(col(Site.id).in_(site_ids)))}
        for site_id in s.exec(select(Server.site_id).join(
                Expectation, col(Expectation.server_id) == Server.id).where(
                col(Server.site_id).in_(site_ids), Expectation.kind == "heartbeat",
                col(Expectation.state).not_in(("proposed", "disabled")))):
            self.watched_at_site[site_id or 0] += 1
        self.clients = {c.id or 0: c for c in s.exec(
            select(Client).where(col(Client.id).in_(client_ids)))}
        for sil in s.exec(select(Silence).where(
                col(Silence.client_id).in_(client_ids), Silence.ends_at > at,
                or_(col(Silence.revoked_at).is_(None), col(Silence.revoked_at) > at))
                .order_by(col(Silence.id))):
            self.silences[sil.client_id or 0].append(sil)
        since = min((e.missing_since or e.next_due_at or at) for e in exps)
        for ev in s.exec(select(AbsenceEvent).where(
                col(AbsenceEvent.expectation_id).in_({e.id for e in exps}),
                col(AbsenceEvent.at) >= since - timedelta(days=1))):
            self.ledger[ev.dedup_key] = ev

    def absence(self, key: str, **fields: object) -> tuple[AbsenceEvent | _Line, bool]:
        """This episode's ledger line under ``key``: found, or made (inserted at the end)."""
        found = self.ledger.get(key)
        if found is not None:
            return found, False
        done_at = fields.pop("done_at", None)
        line = _Line({"dedup_key": key[:300], "at": self.at, **fields}, done_at=done_at)  # type: ignore[arg-type]
        self.ledger[key] = line
        self.new_events.append(line)
        return line, True

    def silence_for(self, exp: Expectation) -> Silence | None:
        family, check = KIND_SCOPE[exp.kind]
        srv = self.servers[exp.server_id]
        for sil in self.silences.get(exp.client_id, []):
            scope = SilenceScope(sil.id or 0, sil.client_id, sil.site_id, sil.server_id,
                                 sil.check, sil.starts_at, sil.ends_at)
            if silence_covers(scope, client_id=exp.client_id, site_id=srv.site_id,
                              server_id=exp.server_id, family=family, check=check, at=self.at):
                return sil
        return None

    # a late source: silenced, muted by its site's link case, or missing (a case)

    def judge(self, exp: Expectation) -> None:
        s, at = self.s, self.at
        srv = self.servers[exp.server_id]
        due = exp.next_due_at
        sil = self.silence_for(exp)
        if sil is not None:
            exp.state = "silenced"
            exp.missing_since = due
            ev, new = self.absence(f"{exp.kind}-silenced:{exp.id}:{_iso(due)}:{sil.id}",
                                   kind=f"{exp.kind}_silenced", client_id=exp.client_id,
                                   server_id=exp.server_id, expectation_id=exp.id,
                                   silence_id=sil.id, detail=sil.reason, done_at=at)
            if new:
                summary = f"{srv.hostname} : {KIND_LABEL[exp.kind]} absent"
                self.later.append(lambda: record_hit(s, sil, absence_event_id=ev.id,
                                                     summary=summary))
            self.plan.silenced += 1
            s.add(exp)
            return
        link = self.link_case_for(srv)
        if link is not None and link.family == SITE_FAMILY:
            self.mute_under_site(exp, srv, link)
            return
        if link is not None:
            exp.state = "muted"
            exp.missing_since = due
            exp.muted_by_case_id = link.id
            ev, _ = self.absence(f"{exp.kind}-muted:{exp.id}:{_iso(due)}:{link.id}",
                                 kind=f"{exp.kind}_muted", client_id=exp.client_id,
                                 server_id=exp.server_id, expectation_id=exp.id,
                                 linked_case_id=link.id, workflow_id=link.workflow_id,
                                 detail=f"lien coupé : cas {link.ref}")
            if ev.done_at is None:
                text = (f"{(srv.display_name or srv.hostname)} : {KIND_LABEL[exp.kind]} "
                        f"absent depuis {self.policy.local(due or at)} ; rattaché à ce cas de "
                        f"lien (site injoignable), pas d'alerte séparée.")
                self.later.append(lambda: self.plan.notes.append(
                    NoteOrder(link.workflow_id, text, ev.id or 0)))
            self.plan.muted += 1
            s.add(exp)
            return
        exp.state = "missing"
        exp.missing_since = due
        exp.muted_by_case_id = None
        exp.case_opened = False
        if exp.kind == "heartbeat" and self.watched_at_site[srv.site_id or 0] >= 2:
            self.open_site(exp, srv)
        else:
            self.open_case(exp, srv)
        s.add(exp)

    # the desk's own silence: one desk incident, not one absence per client

    def desk_watch(self, overdue: list[Expectation]) -> Case | str | None:
        """The open desk incident (or its workflow id while it opens) when the desk is
        silent; None otherwise. Mail flowing again resolves it and re-arms what it held."""
        s, at = self.s, self.at
        silent, last = desk_is_silent(s, at)
        desk = open_desk_incident(s)
        if desk is not None and not silent:
            release_desk(s, desk, at)
            seen = self.policy.local(last) if last else "-"
            self.plan.resolves.append(ResolveOrder(
                desk.workflow_id, f"Messages de nouveau reçus ({seen}) : le poste reçoit à "
                f"nouveau, résolution automatique", 0, 0))
            return None
        if not silent:
            return None
        if desk is not None:
            return desk
        clients = {e.client_id for e in overdue}
        wid = case_workflow_id(DESK_FINGERPRINT)
        waiting = s.exec(select(Expectation.id).where(  # held while its case row is awaited
            Expectation.state == "muted", Expectation.case_workflow_id == wid)).first()
        if len(clients) < DESK_MIN_CLIENTS and waiting is None:
            return None
        when = self.policy.local(last) if last else "-"
        inp = desk_case_input(at, len(clients), l1_minutes=self.policy.l1_minutes,
                              auto_close_hours=self.policy.auto_close_hours, when=when)
        signal = AlertSignal(event_id=None, status="problem", received_at=at,
                             summary=inp.title, severity="major")
        self.plan.opens.append(OpenOrder(wid, inp, signal))
        return wid

    def mute_under_desk(self, exp: Expectation, desk: Case | str) -> None:
        """A late source while the desk itself hears nothing: held, no case of its own."""
        exp.state = "muted"
        exp.missing_since = exp.missing_since or exp.next_due_at
        exp.muted_by_case_id = desk.id if isinstance(desk, Case) else None
        exp.case_workflow_id = desk.workflow_id if isinstance(desk, Case) else desk
        self.absence(f"{exp.kind}-desk:{exp.id}:{_iso(exp.missing_since)}",
                     kind=f"{exp.kind}_muted", client_id=exp.client_id,
                     server_id=exp.server_id, expectation_id=exp.id,
                     workflow_id=exp.case_workflow_id, detail="poste Vigie muet : "
                     "aucun message reçu de personne")
        self.plan.muted += 1
        self.s.add(exp)

    # a site with several watched servers: one incident for the site (records.incidents)

    def open_site(self, exp: Expectation, srv: Server) -> None:
        """The site's incident (opened once per sweep, whatever the number of its servers
        found late); the server waits under it, muted, until the incident has a case row."""
        at, site = self.at, self.sites[srv.site_id or 0]
        client = self.clients[exp.client_id]
        inp = site_case_input(client, site, at, l1_minutes=self.policy.l1_minutes,
                              auto_close_hours=self.policy.auto_close_hours)
        wid = case_workflow_id(inp.fingerprint)
        exp.state = "muted"
        exp.case_workflow_id = wid
        name = srv.display_name or srv.hostname
        ev, _ = self.absence(f"{exp.kind}-site:{exp.id}:{_iso(exp.missing_since)}",
                             kind=f"{exp.kind}_muted", client_id=exp.client_id,
                             server_id=exp.server_id, expectation_id=exp.id,
                             fingerprint=inp.fingerprint, workflow_id=wid,
                             detail=f"{name} : {KIND_LABEL[exp.kind]} absent ; incident du "
                                    f"site {site.name}")
        self.plan.muted += 1
        if site.id in self.site_opening:
            return
        self.site_opening.add(site.id or 0)
        summary = (f"Site {site.name} : {KIND_LABEL[exp.kind]} de {name} absent depuis "
                   f"{self.policy.local(exp.missing_since or at)}")

        def order() -> None:
            signal = AlertSignal(event_id=-(ev.id or 0), status="problem", received_at=at,
                                 summary=summary, severity="major")
            self.plan.opens.append(OpenOrder(wid, inp, signal, absence_id=ev.id))

        self.later.append(order)

    def mute_under_site(self, exp: Expectation, srv: Server, incident: Case) -> None:
        """A late source of a site in outage: a child of the site's incident, no case."""
        exp.state = "muted"
        exp.missing_since = exp.missing_since or exp.next_due_at
        exp.muted_by_case_id = incident.id
        exp.case_workflow_id = incident.workflow_id
        family, check = KIND_SCOPE[exp.kind]
        client = self.clients[exp.client_id]
        fp = (exp.fingerprint or heartbeat_fingerprint(client.code, srv.hostname)
              if exp.kind == "heartbeat" else disk_report_fingerprint(client.code, srv.hostname))
        attach_absence(self.s, incident, exp, srv, fp, family, check, KIND_LABEL[exp.kind],
                       exp.missing_since or self.at)
        self.plan.muted += 1
        self.s.add(exp)

    def open_case(self, exp: Expectation, srv: Server) -> None:
        at = self.at
        client = self.clients[exp.client_id]
        if exp.kind == "heartbeat":
            fp = exp.fingerprint or heartbeat_fingerprint(client.code, srv.hostname)
        else:
            fp = disk_report_fingerprint(client.code, srv.hostname)
        wid = case_workflow_id(fp)
        exp.case_workflow_id = wid
        since = exp.missing_since or at
        name = srv.display_name or srv.hostname.upper()
        label = KIND_LABEL[exp.kind]
        summary = (f"{label.capitalize()} non reçu : attendu avant "
                   f"{self.policy.local(since)}, dernier reçu "
                   f"{self.policy.local(exp.last_seen_at) if exp.last_seen_at else 'jamais'}")
        ev, _ = self.absence(f"{exp.kind}-missing:{exp.id}:{_iso(since)}",
                             kind=f"{exp.kind}_missing", client_id=exp.client_id,
                             server_id=exp.server_id, expectation_id=exp.id, fingerprint=fp,
                             workflow_id=wid, detail=summary)
        heartbeat = exp.kind == "heartbeat"
        case = CaseInput(
            fingerprint=fp,
            client_id=exp.client_id,
            server_id=exp.server_id,
            host=srv.hostname,
            family=KIND_SCOPE[exp.kind][0],
            check=KIND_SCOPE[exp.kind][1],
            target=None,
            title=f"{name} — {label} absent"[:300],
            opened_at=at,
            preset_criticality=Criticality.MAJOR if heartbeat else None,
            preset_reason=HEARTBEAT_CLAUSE if heartbeat else "",
            l1_minutes=self.policy.l1_minutes,
            auto_close_hours=self.policy.auto_close_hours,
            path=CASE_PATH,
        )
        exp_id = exp.id

        def order() -> None:
            signal = AlertSignal(event_id=-(ev.id or 0), status="problem", received_at=at,
                                 summary=summary, severity="major" if heartbeat else "minor")
            self.plan.opens.append(
                OpenOrder(wid, case, signal, absence_id=ev.id, expectation_id=exp_id))

        self.later.append(order)

    # a source already held: back, still missing, or judged again once its mute/silence ends

    def follow(self, exp: Expectation) -> None:
        s, at = self.s, self.at
        if self.returned(exp):  # it reported again
            ev, _ = self.absence(f"{exp.kind}-back:{exp.id}:{_iso(exp.missing_since)}",
                                 kind=f"{exp.kind}_back", client_id=exp.client_id,
                                 server_id=exp.server_id, expectation_id=exp.id,
                                 workflow_id=exp.case_workflow_id,
                                 detail=f"reçu à {self.policy.local(exp.last_seen_at or at)}")
            if exp.state == "missing" and exp.case_opened and exp.case_workflow_id:
                reason = (f"{KIND_LABEL[exp.kind].capitalize()} de nouveau reçu "
                          f"({self.policy.local(exp.last_seen_at or at)}) : rétablissement "
                          f"constaté, résolution automatique")
                wid, exp_id = exp.case_workflow_id, exp.id or 0
                self.later.append(lambda: self.plan.resolves.append(
                    ResolveOrder(wid, reason, exp_id, ev.id or 0)))
                return
            back_to_ok(exp)
            ev.done_at = at
            s.add(exp)
            self.plan.back += 1
            return
        if exp.state == "missing":  # Temporal never acknowledged the case: try again
            self.open_case(exp, self.servers[exp.server_id])
            return
        if exp.state == "muted":
            link = s.get(Case, exp.muted_by_case_id) if exp.muted_by_case_id else None
            if _case_is_open(link):
                return
            incident = self.site_incident(exp)
            if link is None and incident is not None:  # its site's incident now has a row
                self.mute_under_site(exp, self.servers[exp.server_id], incident)
                return
        if exp.state == "silenced" and self.silence_for(exp) is not None:
            return
        self.judge(exp)

    def site_incident(self, exp: Expectation) -> Case | None:
        """The open site incident an expectation waits under, once it has its case row."""
        for c in self.links.get(exp.client_id, []):
            if c.family == SITE_FAMILY and c.workflow_id == exp.case_workflow_id \
                    and not c.recovered:
                return c
        return None

    def link_case_for(self, srv: Server) -> Case | None:
        """An open link case or site incident of the client that concerns the server's
        site, if any."""
        if srv.site_id is None:
            return None
        site = self.sites.get(srv.site_id)
        code = self.clients[srv.client_id].code if srv.client_id in self.clients else ""
        for c in self.links.get(srv.client_id, []):
            if c.family == SITE_FAMILY:
                if not c.recovered and c.fingerprint == site_fingerprint(code, srv.site_id):
                    return c
                continue
            reporter = self.servers.get(c.server_id) if c.server_id else None
            if reporter is not None and reporter.site_id == srv.site_id:
                return c
            if site is not None and link_target_names_site(c.target, site.name,
                                                           site.link_names):
                return c
        return None


def back_to_ok(exp: Expectation) -> None:
    exp.state = "ok"
    exp.missing_since = None
    exp.case_workflow_id = None
    exp.case_opened = False
    exp.muted_by_case_id = None


def plan_sweep(engine: Engine, at: datetime, policy: AbsencePolicy = AbsencePolicy()
               ) -> SweepPlan:
    """One sweep's database half, in one transaction (what the bench times)."""
    with session_scope(engine) as s:
        return _Sweep(s, at, policy).run()


def mark_opened(engine: Engine, order: OpenOrder, at: datetime) -> None:
    mark_opened_many(engine, [order], at)


def mark_opened_many(engine: Engine, orders: list[OpenOrder], at: datetime) -> None:
    """Temporal acknowledged these cases: three statements for the lot, whatever its size.

    An expectation is marked only if it still waits for that very case (a return or a new
    verdict in between wins).
    """
    if not orders:
        return
    exps = [{"eid": o.expectation_id, "wid": o.workflow_id}
            for o in orders if o.expectation_id is not None]
    days = [{"bid": o.backup_day_id, "wid": o.workflow_id}
            for o in orders if o.backup_day_id is not None]
    lines = {o.absence_id for o in orders if o.absence_id}
    e, b = Expectation.__table__.c, BackupDay.__table__.c  # type: ignore[attr-defined]
    with engine.begin() as conn:
        if exps:
            conn.execute(update(Expectation.__table__)  # type: ignore[arg-type]
                         .where(e.id == bindparam("eid"), e.case_workflow_id == bindparam("wid"))
                         .values(case_opened=True), exps)
        if days:
            conn.execute(update(BackupDay.__table__)  # type: ignore[arg-type]
                         .where(b.id == bindparam("bid"))
                         .values(case_workflow_id=bindparam("wid")), days)
        if lines:
            conn.execute(update(AbsenceEvent).where(col(AbsenceEvent.id).in_(lines),
                                                    col(AbsenceEvent.done_at).is_(None))
                         .values(done_at=at))


def mark_noted(engine: Engine, order: NoteOrder, at: datetime) -> None:
    with session_scope(engine) as s:
        _done(s, order.absence_id, at)


def mark_resolved(engine: Engine, order: ResolveOrder, at: datetime) -> None:
    with session_scope(engine) as s:
        exp = s.get(Expectation, order.expectation_id)
        if exp is not None and exp.case_workflow_id == order.workflow_id:
            back_to_ok(exp)
            s.add(exp)
        _done(s, order.absence_id, at)


def _done(s: Session, absence_id: int | None, at: datetime) -> None:
    if absence_id:
        ev = s.get(AbsenceEvent, absence_id)
        if ev is not None and ev.done_at is None:
            ev.done_at = at
            s.add(ev)


# --- repeats that stopped without a recovery --------------------------------------------------


def plan_repeat_notes(engine: Engine, at: datetime, policy: AbsencePolicy = AbsencePolicy()
                      ) -> list[NoteOrder]:
    """Open cases whose re-sent problem went quiet without a recovery: say so, once."""
    floor = timedelta(minutes=policy.stale_floor_minutes)
    orders = []
    with session_scope(engine) as s:
        rows = s.exec(
            select(Case).where(
                Case.closed == False,  # noqa: E712
                col(Case.state).not_in(CLOSED_CASE_STATES),
                Case.recovered == False,  # noqa: E712
                or_(Case.family == "link", col(Case.repeat_count) >= 2),
                col(Case.last_seen) < at - floor,
            )
        ).all()
        for c in rows:
            if not repeats_stopped(family=c.family, opened_at=c.opened_at,
                                   last_seen=c.last_seen, repeat_count=c.repeat_count, at=at,
                                   floor=floor):
                continue
            seen = c.last_seen or c.opened_at
            text = (f"Les répétitions ont cessé sans message de rétablissement : dernière "
                    f"alerte le {policy.local(seen)} ({c.repeat_count} répétition(s)). "
                    f"Vérifier que le problème est réellement résolu avant de résoudre.")
            ev, _ = _absence(s, f"stale:{c.id}:{_iso(seen)}", at=at, kind="repeats_stopped",
                             client_id=c.client_id, server_id=c.server_id,
                             linked_case_id=c.id, workflow_id=c.workflow_id, detail=text)
            if ev.done_at is None:
                orders.append(NoteOrder(c.workflow_id, text, ev.id or 0))
    return orders


# === the backup audit =======================================================================


def run_time(run: BackupRun) -> datetime:
    """When a result happened: the source's time when plausible, else its receipt."""
    if run.occurred_at is not None and abs(run.occurred_at - run.received_at) <= timedelta(days=2):
        return run.occurred_at
    return run.received_at


def _runs_by_server(s: Session, server_ids: set[int], start: datetime, end: datetime
                    ) -> dict[int, list[BackupRun]]:
    out: dict[int, list[BackupRun]] = defaultdict(list)
    if not server_ids:
        return out
    rows = s.exec(select(BackupRun).where(
        col(BackupRun.server_id).in_(server_ids),
        col(BackupRun.received_at) >= start - timedelta(days=2),
        col(BackupRun.received_at) < end + timedelta(days=2),
    )).all()
    for r in rows:
        out[r.server_id or 0].append(r)
    return out


def _job_runs(job: BackupJob, runs: list[BackupRun]) -> list[RunSeen]:
    return [RunSeen(r.id or 0, run_time(r), r.result) for r in runs
            if job_matches(job, r.job_name, r.product)]


def audit_backup_days(engine: Engine, days: list[date], at: datetime,
                      policy: AbsencePolicy = AbsencePolicy()
                      ) -> tuple[AuditSummary, list[OpenOrder]]:
    """Verdicts of every confirmed job on ``days`` (and on earlier days still pending or
    whose case is not open yet), written to ``backup_day``; returns the cases to open."""
    orders: list[OpenOrder] = []
    statuses: Counter[str] = Counter()
    linked = silenced = audited = 0
    with session_scope(engine) as s:
        if days:
            since = min(days) - timedelta(days=7)
            again = s.exec(select(BackupDay.day).where(
                col(BackupDay.day) >= since,
                or_(BackupDay.status == "pending",
                    and_(col(BackupDay.status).in_(CASE_STATUSES),
                         col(BackupDay.case_workflow_id).is_(None),
                         col(BackupDay.case_id).is_(None),
                         col(BackupDay.silence_id).is_(None))),
            ).distinct()).all()
            days = sorted(set(days) | set(again))
        ended = unmonitored_client_ids(s)  # contract not in service: not audited
        jobs = [j for j in s.exec(select(BackupJob).where(BackupJob.confirmed == True)  # noqa: E712
                                  .order_by(col(BackupJob.id))).all()
                if j.client_id not in ended]
        plans: list[tuple[BackupJob, Window]] = []
        for job in jobs:
            for day in days:
                w = backup_window(day, job.schedule, job.tz, job.grace_minutes)
                if w is not None and known_on(w, job.created_at):  # nothing owed before
                    plans.append((job, w))
        if not plans:
            return AuditSummary(days=[d.isoformat() for d in days]), []
        runs = _runs_by_server(s, {j.server_id for j, _ in plans},
                               min(w.start for _, w in plans), max(w.end for _, w in plans))
        for job, w in plans:
            verdict = decide_day(w, _job_runs(job, runs.get(job.server_id, [])), at,
                                 job.multi_result)
            bd = s.exec(select(BackupDay).where(BackupDay.job_id == job.id,
                                                BackupDay.day == w.day)).first()
            if bd is None:
                bd = BackupDay(job_id=job.id or 0, client_id=job.client_id,
                               server_id=job.server_id, day=w.day, status=verdict.status,
                               window_start=w.start, window_end=w.end)
            bd.status, bd.runs, bd.run_id = verdict.status, verdict.runs, verdict.run_id
            bd.window_start, bd.window_end, bd.audited_at = w.start, w.end, at
            s.add(bd)
            s.flush()
            audited += 1
            statuses[verdict.status] += 1
            if verdict.status not in CASE_STATUSES or bd.case_id or bd.silence_id:
                continue
            if bd.case_workflow_id:
                continue
            outcome = _backup_case(s, job, bd, w, at, policy)
            if isinstance(outcome, OpenOrder):
                orders.append(outcome)
            elif outcome == "linked":
                linked += 1
            elif outcome == "silenced":
                silenced += 1
    summary = AuditSummary(days=[d.isoformat() for d in days], audited=audited,
                           statuses=dict(statuses), cases_opened=len(orders),
                           cases_linked=linked, silenced=silenced)
    return summary, orders


def _backup_case(s: Session, job: BackupJob, bd: BackupDay, w: Window, at: datetime,
                 policy: AbsencePolicy) -> OpenOrder | str:
    """The case of a bad backup day: the router's own case when the result opened one,
    nothing inside a silence, else a case under the job's fingerprint."""
    srv = s.get(Server, job.server_id)
    client = s.get(Client, job.client_id)
    assert srv is not None and client is not None
    name = job.name or job.product or "sauvegarde"
    host = srv.display_name or srv.hostname.upper()
    label = f"{host} — sauvegarde « {name} » {STATUS_LABELS[bd.status]} ({day_label(bd.day)})"
    if bd.run_id is not None:  # a result came, and it was bad
        run = s.get(BackupRun, bd.run_id)
        ev = s.get(AlertEventRow, run.event_id) if run is not None else None
        if ev is None:
            return "none"
        if ev.case_id is not None:
            bd.case_id = ev.case_id
            s.add(bd)
            return "linked"
        if ev.triage == "silenced":
            return "silenced"
        fp, event_id, summary = ev.fingerprint, ev.id, ev.summary or label
    else:
        sil = covering(s, client_id=job.client_id, server_id=job.server_id, family="backup",
                       check="backup_job", at=w.first_slot)
        if sil is not None:
            bd.silence_id = sil.id
            ev_abs, new = _absence(s, f"backup-silenced:{job.id}:{bd.day}", at=at,
                                   kind="backup_silenced", client_id=job.client_id,
                                   server_id=job.server_id, backup_job_id=job.id,
                                   silence_id=sil.id, detail=label, done_at=at)
            if new:
                record_hit(s, sil, absence_event_id=ev_abs.id, summary=label)
            s.add(bd)
            return "silenced"
        fp = backup_fingerprint(client.code, srv.hostname, job.name)
        summary = (f"Aucun résultat reçu pour la sauvegarde « {name} » prévue le "
                   f"{policy.local(w.first_slot)} (fenêtre close à {policy.local(w.end)})")
        parent = parent_for_server(s, job.server_id)
        if parent is not None:  # its site is in outage: a child of the site's incident
            attach_absence_child(s, parent, fingerprint=fp, server=srv, family="backup",
                                 check="backup_job", title=label, at=at)
            bd.case_id = parent.id
            s.add(bd)
            return "linked"
        ev_abs, _ = _absence(s, f"backup-not-received:{job.id}:{bd.day}", at=at,
                             kind="backup_not_received", client_id=job.client_id,
                             server_id=job.server_id, backup_job_id=job.id, fingerprint=fp,
                             workflow_id=case_workflow_id(fp), detail=summary)
        event_id = -(ev_abs.id or 0)
        return OpenOrder(
            case_workflow_id(fp),
            _backup_case_input(fp, job, srv, label, at, policy),
            AlertSignal(event_id=event_id, status="problem", received_at=at, summary=summary,
                        severity="major"),
            absence_id=ev_abs.id, backup_day_id=bd.id,
        )
    return OpenOrder(
        case_workflow_id(fp),
        _backup_case_input(fp, job, srv, label, at, policy),
        AlertSignal(event_id=event_id, status="problem", received_at=at, summary=summary,
                    severity="major"),
        backup_day_id=bd.id,
    )


def _backup_case_input(fp: str, job: BackupJob, srv: Server, title: str, at: datetime,
                       policy: AbsencePolicy) -> CaseInput:
    return CaseInput(fingerprint=fp, client_id=job.client_id, server_id=job.server_id,
                     host=srv.hostname, family="backup", check="backup_job", target=job.name,
                     title=title[:300], opened_at=at, l1_minutes=policy.l1_minutes,
                     auto_close_hours=policy.auto_close_hours, path=CASE_PATH)


def backup_report(engine: Engine, last_day: date, days: int = 7,
                  now: datetime | None = None) -> BackupReport:
    """The client x job x day matrix (success, warning, failed, not received ...), computed
    from the results with the audit's own rules, so the console and the mail agree. Each
    cell says what was received (the chosen result's time, its event and case); days due
    before the job was known are blank; jobs the desk proposed (not audited yet) show what
    they received, so a failure that came today is in the matrix too."""
    now = now or utcnow()
    span = report_days(last_day, days)
    with Session(engine) as s:
        jobs = s.exec(select(BackupJob).order_by(col(BackupJob.id))).all()
        clients = {c.id: c for c in s.exec(select(Client)).all()}
        servers = {v.id: v for v in s.exec(select(Server).where(
            col(Server.id).in_({j.server_id for j in jobs}))).all()} if jobs else {}
        windows = {j.id: [backup_window(d, j.schedule, j.tz, j.grace_minutes) for d in span]
                   for j in jobs}
        bounds = [w for ws in windows.values() for w in ws if w is not None]
        runs = _runs_by_server(s, {j.server_id for j in jobs},
                               min(w.start for w in bounds), max(w.end for w in bounds)
                               ) if bounds else {}
        by_id = {r.id: r for rs in runs.values() for r in rs}
        events = {e.id: e for e in s.exec(select(AlertEventRow).where(
            col(AlertEventRow.id).in_({r.event_id for r in by_id.values()})))} if by_id else {}
    rows = []
    for j in jobs:
        client, srv = clients.get(j.client_id), servers.get(j.server_id)
        if client is None or srv is None:
            continue
        seen = _job_runs(j, runs.get(j.server_id, []))
        verdicts = matrix_verdicts(windows[j.id], seen, now, j.multi_result,
                                   known_since=j.created_at, audited=j.confirmed)
        if not j.confirmed and all(v.run_id is None for v in verdicts):
            continue  # a proposal with nothing to show in these days
        details = []
        for v in verdicts:
            run = by_id.get(v.run_id) if v.run_id is not None else None
            ev = events.get(run.event_id) if run is not None else None
            details.append(CellDetail(
                at=run_time(run) if run is not None else None, runs=v.runs, run_id=v.run_id,
                event_id=ev.id if ev is not None else None,
                case_id=ev.case_id if ev is not None else None))
        rows.append(ReportRow(client.code, client.name, srv.display_name or srv.hostname,
                              j.name or j.product or "-", j.id or 0,
                              [v.status for v in verdicts], details, j.confirmed))
    rows.sort(key=lambda r: (not r.confirmed, r.client_code, r.host.lower(), r.job.lower()))
    return BackupReport(days=span, rows=rows)
