"""Drains the outbox: parse each stored message, match it, record it, route it to its case.

Two steps per message, each idempotent so that a crash anywhere only repeats work that is
recognised the second time:
1. ``materialize`` (one database transaction): parse the stored bytes, match client and
   server, write the event rows, backup runs and heartbeat times, and mark the message parsed.
2. ``dispatch`` (Temporal): problems signal-with-start the case of their fingerprint;
   recoveries signal the open case if there is one. Each event is marked routed once Temporal
   has acknowledged it. Telling an event again (a crash between Temporal's acknowledgement and
   that mark, an answer lost to a timeout, a dead router's batch taken over) is a no-op: every
   call carries a request id derived from the event (``request_id``), which Temporal dedupes
   for the run's life, and the case workflow ignores an event id it has already seen all the
   same.

Several routers may drain one database: one inside each intake process
(``VIGIE_INTAKE_ROUTES``), or separate ``vigie router`` processes. Each claims a batch of
outbox rows with a lease (``claimed_by``, ``lease_until``; on PostgreSQL the candidates are
read ``FOR UPDATE SKIP LOCKED`` so two routers never wait on, nor take, the same rows), and
renews it every third of its length while the batch is in hand; a batch left by a dead
process is claimed again once its lease has expired. Per case, order holds across processes:
a router holds back a case's events while an older message with an event of the same case is
still in another router's hands (claimed, not yet routed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.api.common.v1 import (
    Payloads,
    SearchAttributes,
    WorkflowExecution,
    WorkflowType,
)
from temporalio.api.enums.v1 import WorkflowIdReusePolicy
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    SignalWithStartWorkflowExecutionRequest,
    SignalWorkflowExecutionRequest,
)
from temporalio.client import Client
from temporalio.converter import encode_search_attributes
from temporalio.service import RPCError, RPCStatusCode

from base.metrics import (
    BATCHES_TAKEN_OVER,
    EVENTS_ROUTED,
    LEASES_RENEWED,
    OUTBOX_AGE,
    OUTBOX_DEPTH,
    REFERENCE_LOADS,
    ROUTING_LATENCY,
)
from contracts.codec import for_workflow
from contracts.store import unmonitored_client_ids
from intake import router_sql as sql
from messages import search
from messages.cases import (
    CASE_PATH,
    AlertSignal,
    CaseInput,
    ClientReplySignal,
    Criticality,
    case_workflow_id,
)
from models.auth import Policy
from models.db import session_scope
from models.incidents import IncidentChild, InhibitionRule
from models.refstamp import generation
from models.tables import AlertEventRow, BackupRun, Case, Outbox, RawMessage, Server
from models.types import utcnow
from parsers import AlertEvent, parse_message
from records.absence import note_report, observe_backup_run
from records.incidents import (
    CHILD,
    CHILD_FAMILIES_EXCLUDED,
    LINK_CLAUSE,
    LINK_FAMILY,
    SITE_FAMILY,
    OpenParents,
    attach_event,
    open_parents,
    parent_for_server,
    promoted_children,
    release,
)
from records.inhibitions import INHIBITED, inhibit_event, rules_in_force
from records.matching import Matcher
from records.replies import REPLY_FAMILY, REPLY_SIGNAL, attach_reply, reply_signal
from records.silences import SILENCED, KnownSilences, record_hit, silence_event
from records.sources import UNVERIFIED, SourceVerifier, Verdict

log = logging.getLogger(__name__)

CASE_WORKFLOW = "CaseWorkflow"
# A Temporal that does not answer within this defers the message instead of holding the queue.
RPC_TIMEOUT = timedelta(seconds=5)
DISPATCH_CONCURRENCY = 32
UNMATCHED = "unmatched"
OUT_OF_CONTRACT = "out_of_contract"  # triage of an event whose client is not in service
# A claimed batch is someone else's for this long; past it, a dead router's batch is taken
# over. Above a batch's worst case (200 messages; after one Temporal call fails, bounded by
# RPC_TIMEOUT, the rest of the batch is deferred without calling).
LEASE = timedelta(seconds=20)
# A batch's outcome waits at most this for the next claim to be written with it (``run``):
# at a steady 20/s the next message comes within it, and one transaction serves both.
RECORD_HOLD = timedelta(milliseconds=100)
WAIT_FOR_OLDER = timedelta(seconds=1)  # a case's events held back behind an older message
WAITING = "en attente d'un message plus ancien du même cas"
# as Client.start_workflow's default: a fingerprint whose case has closed opens a new run
ALLOW_DUPLICATE = WorkflowIdReusePolicy.Value("WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE")
# The reference data (matcher, source rules, policy, contracts) is reloaded when its generation
# moves (models.refstamp), and at least this often (a change made outside the ORM).
REFERENCE_MAX_AGE = timedelta(seconds=60)
# Silences and inhibition rules are kept with the reference data for the events received at
# most this long before it was loaded; an older event (a message retried after a long outage)
# has its own lookup.
KEEP_RULES_FOR = timedelta(days=1)
REQUEST_NAMESPACE = uuid.UUID("6f1d2c1e-3a52-4d0b-9a51-7a1c0e5b2d64")  # Vigie's request ids


@dataclass(frozen=True)
class Route:
    """What Temporal must be told about one event."""

    event_id: int
    workflow_id: str
    signal: AlertSignal | ClientReplySignal
    start: CaseInput | None  # None: signal only if a case is open (recoveries)
    signal_name: str = "alert"  # "client_reply": a client's answer (records.replies)
    fingerprint: str = ""  # the case's problem ("" for a client reply): ordering across routers
    stored_at: datetime | None = None  # when the message was stored (routing latency)

    @property
    def request_id(self) -> str:
        """The same for every attempt at telling this event to this case, and for no other
        event: Temporal records a signal's request id on the run and drops a repeat. The
        storage time is part of it so that a database started afresh against a Temporal
        that kept its runs (ids counting from 1 again) is not mistaken for a repeat."""
        stamp = self.stored_at.isoformat() if self.stored_at else ""
        key = f"{self.workflow_id}\n{self.signal_name}\n{self.event_id}\n{stamp}"
        return str(uuid.uuid5(REQUEST_NAMESPACE, key))


@dataclass(frozen=True)
class Reference:
    """The reference data one router judges messages against, and which generation it is."""

    generation: int | None
    loaded_at: datetime
    matcher: Matcher
    verifier: SourceVerifier
    policy: CasePolicy
    unmonitored: frozenset[int]
    silences: KnownSilences | None = None  # maintenance windows (records.silences)
    rules: tuple[datetime, tuple[InhibitionRule, ...]] | None = None  # records.inhibitions


@dataclass
class BatchView:
    """What the events of one batch are judged against besides the matcher: the silences
    and inhibition rules kept with the reference data, the open site incidents read at most
    once for the batch (``records.incidents.OpenParents``), and the events whose return
    released an incident's children in this batch (the only ones with promoted children to
    look up, with those of a message parsed before: see ``Router._site_returns``)."""

    silences: KnownSilences | None = None
    rules: tuple[datetime, tuple[InhibitionRule, ...]] | None = None
    parents: OpenParents = field(default_factory=OpenParents)
    released: set[int] = field(default_factory=set)


def events_from_raw(raw: RawMessage) -> tuple[list[AlertEvent], str | None]:
    """The events of a stored message and the sender to match on."""
    if raw.channel in ("webhook", "alertmanager"):
        items = json.loads(raw.data.decode("utf-8"))
        return [AlertEvent.from_dict(d) for d in items], None
    parsed = parse_message(raw.data)
    return list(parsed.events), parsed.envelope.sender


def materialize(s: Session, raw: RawMessage, matcher: Matcher, check_ip: bool,
                verifier: SourceVerifier | None = None, ref_key: bytes | None = None,
                unmonitored: frozenset[int] = frozenset(), view: BatchView | None = None
                ) -> list[AlertEventRow] | None:
    """Step 1: turn a stored message into event rows (skipped if already done: None).

    Each event records how its source was verified (``records.sources``). An event from a
    source that failed verification is recorded like any other, but changes no state: no
    heartbeat time, no backup run, no absence due time; only a problem may open a case
    (flagged), and its recoveries are never routed (``route_for``).

    Events of a client whose contract is not in service (onboarding, terminated: see
    ``contracts.store.unmonitored_client_ids``) are stored and flagged ``out_of_contract``:
    they open no case and move no expectation.

    Returns the message's event rows, flushed (None: parsed before, or a client's reply,
    whose rows the caller reads). ``view``: the batch's reads shared by its messages.
    """
    if raw.parsed_at is not None:
        return None
    view = view if view is not None else BatchView()
    verifier = verifier if verifier is not None else SourceVerifier.load(s, strict=check_ip)
    if attach_reply(s, raw, ref_key, verifier):  # a client answering the desk's mails
        return None
    made: list[AlertEventRow] = []
    try:
        events, sender = events_from_raw(raw)
    except Exception as exc:  # a webhook body that no longer validates: keep it visible
        raw.parse_error = f"{type(exc).__name__}: {exc}"[:2000]
        events, sender = [], None
    now = utcnow()
    verdicts: dict[int | None, Verdict] = {}
    for idx, ev in enumerate(events):
        m = matcher.match(sender, ev.host, raw.client_hint_id)
        triage = "none"
        if ev.family == "unknown" or not m.matched:
            triage = "pending"
        monitored = m.client_id is None or m.client_id not in unmonitored
        if not monitored:
            triage = OUT_OF_CONTRACT
        ip_ok = None
        if check_ip and m.client_ips:
            ip_ok = raw.peer_ip in m.client_ips
        if m.client_id not in verdicts:
            verdicts[m.client_id] = verifier.verify(raw, m.client_id)
        verdict = verdicts[m.client_id]
        row = AlertEventRow(
            raw_message_id=raw.id or 0,
            idx=idx,
            family=str(ev.family),
            status=str(ev.status),
            host=ev.host,
            check=ev.check,
            target=ev.target,
            severity=str(ev.severity),
            backup_result=str(ev.backup_result) if ev.backup_result else None,
            product=ev.product,
            value=ev.value,
            threshold=ev.threshold,
            occurred_at=ev.occurred_at,
            received_at=raw.received_at,
            summary=ev.summary[:2000],
            extra=dict(ev.extra),
            fingerprint=ev.fingerprint(m.client_code or UNMATCHED),
            client_id=m.client_id,
            server_id=m.server_id,
            source_ip_ok=ip_ok,
            source_check=verdict.method,
            source_detail=verdict.detail[:300],
            triage=triage,
        )
        repeat_of = _same_alert_seen(s, row)
        if repeat_of is not None:
            # Alertmanager re-sent this alert unchanged with its group: kept, told to nobody
            row.extra = {**row.extra, "duplicate_of": repeat_of}
            if row.triage == "pending":
                row.triage = "none"  # its first notification waits in triage already
            row.case_id = _open_case_id(s, row.fingerprint)
            row.routed_at = now
            s.add(row)
            made.append(row)
            continue
        if not verdict.verified and row.status != "problem" and triage == "none":
            # recorded, shown on the open case it names, and ignored for state
            row.extra = {**row.extra, "ignored": "source non vérifiée"}
            row.case_id = _open_case_id(s, row.fingerprint)
            s.add(row)
            made.append(row)
            continue
        # maintenance window
        silence = silence_event(s, row, view.silences) if monitored else None
        s.add(row)
        made.append(row)
        s.flush()
        if silence is not None:
            record_hit(s, silence, event_id=row.id, summary=row.summary)
        if not verdict.verified or not monitored:
            continue  # unverified: its case only, no other state; out of contract: nothing
        if silence is None and triage == "none":
            site_outage(s, row, view)  # a child of its site's incident, or the link's return
            inhibit_event(s, row, view.rules)  # an administrator's rule: muted under its cause
        if ev.family == "backup" and ev.backup_result is not None:
            run = BackupRun(
                event_id=row.id or 0,
                client_id=m.client_id,
                server_id=m.server_id,
                job_name=ev.target,
                product=ev.product,
                result=str(ev.backup_result),
                occurred_at=ev.occurred_at,
                received_at=raw.received_at,
            )
            s.add(run)
            observe_backup_run(s, run, raw.received_at)  # an unknown job is proposed
        if ev.family == "heartbeat" and m.server_id is not None:
            srv = s.get(Server, m.server_id)
            if srv is not None and (
                srv.last_heartbeat_at is None or srv.last_heartbeat_at < raw.received_at
            ):
                srv.last_heartbeat_at = raw.received_at
                s.add(srv)
        if ev.family in ("heartbeat", "disk_space") and m.matched:
            # the absence sweep's due time moves on (or the expectation is proposed)
            kind = "heartbeat" if ev.family == "heartbeat" else "disk_report"
            note_report(s, kind, client_id=m.client_id or 0, server_id=m.server_id or 0,
                        at=raw.received_at, fingerprint=row.fingerprint if kind == "heartbeat"
                        else "")
    raw.parsed_at = now
    s.add(raw)
    s.flush()
    return made


def site_outage(s: Session, row: AlertEventRow, view: BatchView | None = None) -> None:
    """A verified event and its site's outage (``records.incidents``): a server's problem
    or recovery while its site's incident is open becomes a child of it; a heartbeat of the
    site, or the link case's own recovery, is the link's return and releases the children."""
    if row.server_id is None and row.family != LINK_FAMILY:
        return
    view = view if view is not None else BatchView()
    known = view.parents
    if row.family == "heartbeat" or (row.family == LINK_FAMILY and row.status != "problem"):
        for parent in open_parents(s, row.client_id or 0, known):
            back = (parent.family == LINK_FAMILY and parent.fingerprint == row.fingerprint) or (
                parent.family == SITE_FAMILY and row.family == "heartbeat"
                and parent_for_server(s, row.server_id, known) is parent)
            if back:
                release(s, parent, row.received_at, row.id)
                view.released.add(row.id or 0)
                if parent.family == SITE_FAMILY:
                    row.extra = {**row.extra, "site_return": parent.workflow_id}
        return
    if row.family in CHILD_FAMILIES_EXCLUDED:
        return
    sites = view.silences.sites if view.silences is not None else {}
    if row.server_id in sites and sites[row.server_id] is None:
        return  # a server behind no site (reference data: no statement)
    parent = parent_for_server(s, row.server_id, known)
    if parent is not None and parent.fingerprint != row.fingerprint:
        attach_event(s, parent, row)


@dataclass(frozen=True)
class CasePolicy:
    """The case rules in effect, copied into every case the router opens.

    The newest saved policy version (administration page) wins over the environment's
    settings; a case keeps the rules it was opened under, and its ledger says which version.
    """

    l1_minutes: int = 60
    auto_close_hours: int = 72
    timezone: str = "Europe/Paris"
    business_start: str = "09:00"
    business_end: str = "18:00"
    version: str = "env"
    open_in_one_step: bool = True  # VIGIE_CASE_OPENING (legacy: measurement only)
    late_margin_seconds: int = 120  # VIGIE_LATE_ARRIVAL_MARGIN_SECONDS

    def in_effect(self, s: Session) -> CasePolicy:
        row = s.exec(select(Policy).order_by(col(Policy.version).desc()).limit(1)).first()
        if row is None:
            return self
        return replace(
            self,
            l1_minutes=row.l1_minutes,
            auto_close_hours=row.auto_close_hours,
            business_start=row.business_start,
            business_end=row.business_end,
            version=str(row.version),
        )


_SAME_ALERT_WINDOW = 50  # newest rows of one problem and status searched for the same alert


def _same_alert_seen(s: Session, row: AlertEventRow) -> int | None:
    """The earlier event of the same Alertmanager alert notification (same fingerprint,
    status, ``startsAt``, ``endsAt``: ``intake.webhook.alert_identity``) from the same
    client, if any. Alertmanager re-sends a whole group when any alert of it changes (and
    every ``repeat_interval``): the unchanged alerts in it are no new occurrence, so they
    neither repeat nor reopen a case. Other sources have no such identity: None."""
    key = (row.extra or {}).get("am_key")
    if row.product != "alertmanager" or not key:
        return None
    earlier = s.exec(
        select(AlertEventRow.id, AlertEventRow.extra).where(
            AlertEventRow.fingerprint == row.fingerprint,
            AlertEventRow.client_id == row.client_id,
            AlertEventRow.status == row.status,
            AlertEventRow.product == "alertmanager")
        .order_by(col(AlertEventRow.id).desc()).limit(_SAME_ALERT_WINDOW)
    ).all()
    for event_id, extra in earlier:
        if (extra or {}).get("am_key") == key:
            return (extra or {}).get("duplicate_of") or event_id
    return None


def _open_case_id(s: Session, fingerprint: str) -> int | None:
    found = s.exec(
        select(Case.id).where(Case.fingerprint == fingerprint, Case.closed == False)  # noqa: E712
        .order_by(col(Case.id).desc()).limit(1)
    ).first()
    return found


def route_for(row: AlertEventRow, policy: CasePolicy = CasePolicy()) -> Route | None:
    """Step 2's decision for one event row; None when no case is concerned.

    An event whose source failed verification may open a case (flagged, never preset) or
    repeat one; anything else from it (recovery, heartbeat, successful backup) is not sent.
    """
    if row.triage in ("pending", SILENCED, OUT_OF_CONTRACT, CHILD, INHIBITED) \
            or row.routed_at is not None:
        return None
    if row.family == REPLY_FAMILY:
        told = reply_signal(row)
        return Route(row.id or 0, told[0], told[1], None, REPLY_SIGNAL,
                     stored_at=row.received_at) if told else None
    verified = row.source_check != UNVERIFIED
    if not verified and row.status != "problem":
        return None
    signal = AlertSignal(
        event_id=row.id,
        status="problem" if row.status == "problem" else "recovery",
        received_at=row.received_at,
        summary=row.summary,
        severity=row.severity,
        verified=verified,
        occurred_at=row.occurred_at or row.received_at,  # the source's own time, else receipt
    )
    wid = case_workflow_id(row.fingerprint)
    if row.status == "problem":
        signal = replace(signal, opening=True)
        title = f"{row.host or '?'} — {row.summary or row.check}"[:300]
        start = CaseInput(
            fingerprint=row.fingerprint,
            client_id=row.client_id,
            server_id=row.server_id,
            host=row.host,
            family=row.family,
            check=row.check,
            target=row.target,
            title=title,
            opened_at=row.received_at,
            l1_minutes=policy.l1_minutes,
            auto_close_hours=policy.auto_close_hours,
            timezone=policy.timezone,
            business_start=policy.business_start,
            business_end=policy.business_end,
            policy_version=policy.version,
            source_verified=verified,
            source_check=row.source_check,
            open_in_one_step=policy.open_in_one_step,
            late_margin_seconds=policy.late_margin_seconds,
            path=CASE_PATH,
        )
        if row.family == LINK_FAMILY:  # a site's link down: major until restored (3.2.2)
            start = replace(start, preset_criticality=Criticality.MAJOR,
                            preset_reason=LINK_CLAUSE)
        return Route(row.id or 0, wid, signal, start, fingerprint=row.fingerprint,
                     stored_at=row.received_at)
    if row.status == "recovery" or row.family in ("heartbeat", "backup"):
        # a heartbeat that returns, or a backup that succeeds, ends the matching open case
        return Route(row.id or 0, wid, signal, None, fingerprint=row.fingerprint,
                     stored_at=row.received_at)
    return None


def promotion_route(s: Session, child: IncidentChild, at: datetime, policy: CasePolicy
                    ) -> Route | None:
    """A child still failing when its site's link came back: its own case, opened from its
    last problem but at the return, so its clocks never count the outage."""
    last = s.get(AlertEventRow, child.last_event_id) if child.last_event_id else None
    if last is None:
        return None
    as_open = AlertEventRow(**{**last.model_dump(), "triage": "none", "routed_at": None})
    route = route_for(as_open, policy)
    if route is None or route.start is None:
        return None
    return replace(route, start=replace(route.start, opened_at=at),
                   signal=replace(route.signal, received_at=at))


def router_name() -> str:
    """Who holds a claim: host, process and a random part (a restarted process is another
    holder; its predecessor's claims expire)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def outbox_stats(engine: Engine) -> tuple[int, float]:
    """Messages not yet routed, and the age in seconds of the oldest (for the gauges)."""
    with Session(engine) as s:
        count, oldest = s.exec(
            select(func.count(Outbox.id), func.min(Outbox.created_at))  # type: ignore[arg-type]
            .where(Outbox.done_at.is_(None))  # type: ignore[union-attr]
        ).one()
    age = 0.0
    if oldest is not None:
        if isinstance(oldest, str):  # SQLite hands the aggregate back as stored text
            oldest = datetime.fromisoformat(oldest)
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        age = max(0.0, (utcnow() - oldest).total_seconds())
    return int(count or 0), age


def refresh_outbox_gauges(engine: Engine) -> None:
    depth, age = outbox_stats(engine)
    OUTBOX_DEPTH.set(depth)
    OUTBOX_AGE.set(age)


class Router:
    """Drains the outbox into Temporal: inside each intake process, or as separate
    ``vigie router`` processes, as many as wanted on one database (claims with a lease,
    renewed while a batch is in hand; see the module's docstring)."""

    def __init__(
        self,
        engine: Engine,
        client: Client,
        task_queue: str,
        *,
        check_ip: bool = False,
        batch: int = 200,
        policy: CasePolicy = CasePolicy(),
        dkim_dns: Any = None,
        ref_key: bytes | None = None,
        name: str | None = None,
        lease: timedelta = LEASE,
        gather: timedelta = timedelta(0),
    ) -> None:
        """``check_ip``: strict source checking (``VIGIE_CHECK_SOURCE_IP``): a client with no
        registered source is unverified too. ``dkim_dns``: dkimpy's resolver hook (tests)."""
        self.engine = engine
        self.name = name or router_name()
        self.lease = lease
        self.gather = gather.total_seconds()  # VIGIE_ROUTER_GATHER_MS: see ``run``
        self.client = client  # the desk's, from ``vigie.temporal.connect``: with the codec
        self.task_queue = task_queue
        self.check_ip = check_ip
        self.batch = batch
        self.policy = policy
        self.dkim_dns = dkim_dns
        self.ref_key = ref_key  # None: base.refkey's, from the environment
        self.wake = asyncio.Event()
        self._ref: Reference | None = None
        # set by each claim: an older message not done (else no case can wait behind one)
        self._held_elsewhere = True
        # a told batch's outcome not written yet (``run``): routed, done, deferred, waiting
        self._pending: tuple[list[int], list[int], dict[int, str], list[int]] | None = None
        self.claimed = 0  # rows the last claim took (a full batch: claim again at once)

    # --- database side (runs in a thread) ------------------------------------------------

    def _claim(self) -> list[int]:
        """Claims up to ``batch`` claimable rows, oldest first: not done, due, and either never
        claimed or past their lease. The conditional UPDATE is the claim (two routers that read
        the same candidates on SQLite cannot both win); PostgreSQL's ``SKIP LOCKED`` makes
        them read different candidates in the first place."""
        with session_scope(self.engine) as s:
            return self._claim_in(s)

    def _claim_in(self, s: Session) -> list[int]:
        now = utcnow()
        c = s.connection()
        pg = self.engine.dialect.name == "postgresql"
        found = c.execute(sql.candidates(self.batch, pg), {"now": now}).all()
        if not found:
            return []
        candidates = [(oid, holder) for oid, holder in found]
        # the rows the conditional UPDATE changed are the claim: RETURNING names them
        # without reading them again
        mine = sorted(oid for (oid,) in c.execute(sql.CLAIM, {
            "ids": [oid for oid, _ in candidates], "now": now, "me": self.name,
            "until": now + self.lease}))
        others = {oid for oid, holder in candidates if holder and holder != self.name}
        taken_over = len(others.intersection(mine))
        if taken_over:
            BATCHES_TAKEN_OVER.inc(taken_over)
            log.warning("router %s: %s messages repris après expiration d'un bail",
                        self.name, taken_over)
        return mine  # type: ignore[return-value]

    def _renew(self, ids: list[int]) -> int:
        """Extends this router's lease on the rows of its batch still in its hands: a batch
        that outlasts its lease (Temporal slow to answer, a large batch) is not taken over
        and told twice. A row another router took meanwhile (our lease had run out) is not
        ours any more and stays theirs."""
        with session_scope(self.engine) as s:
            return self._extend(s, ids)

    def _extend(self, s: Session, ids: list[int]) -> int:
        """On PostgreSQL the rows are locked ``SKIP LOCKED`` first: a row locked now is being
        released (:meth:`_record`, done or deferred) and needs no longer lease, and a renewal
        that waited for it while holding other rows of the batch could deadlock with that
        release (issue 21, finding 14). In the transaction that claimed them the rows are
        this transaction's own, and none is skipped."""
        mine = (col(Outbox.id).in_(ids), Outbox.claimed_by == self.name,
                Outbox.done_at.is_(None))  # type: ignore[union-attr]
        if self.engine.dialect.name == "postgresql":
            free = (select(Outbox.id).where(*mine).order_by(Outbox.id)  # type: ignore[arg-type]
                    .with_for_update(skip_locked=True))
            mine = (col(Outbox.id).in_(free),)
        result = s.exec(  # type: ignore[call-overload]
            update(Outbox).where(*mine).values(lease_until=utcnow() + self.lease)
        )
        return int(result.rowcount or 0)

    async def _keep_lease(self, ids: list[int]) -> None:
        """Renews the batch's lease every third of it until cancelled (the batch recorded)."""
        every = max(0.05, self.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(every)
            try:
                renewed = await asyncio.to_thread(self._renew, ids)
            except Exception:  # the lease then simply runs out: worst case, told twice
                log.exception("router %s: bail non prolongé", self.name)
                continue
            LEASES_RENEWED.inc()
            log.debug("router %s: bail prolongé pour %s messages", self.name, renewed)

    def _older_elsewhere(self, firsts: dict[str, int], mine: set[int]) -> set[str]:
        """The fingerprints of ``firsts`` (fingerprint -> oldest outbox id in this batch)
        that have an event in an older message another router holds, not routed yet."""
        if not firsts:
            return set()
        with Session(self.engine) as s:
            rows = s.exec(
                select(AlertEventRow.fingerprint, func.min(Outbox.id))
                .join(Outbox, Outbox.raw_message_id == AlertEventRow.raw_message_id)
                .where(
                    col(AlertEventRow.fingerprint).in_(list(firsts)),
                    AlertEventRow.routed_at.is_(None),  # type: ignore[union-attr]
                    col(AlertEventRow.triage).not_in(("pending", SILENCED)),
                    Outbox.done_at.is_(None),  # type: ignore[union-attr]
                    col(Outbox.id).not_in(list(mine)),
                )
                .group_by(AlertEventRow.fingerprint)
            ).all()
        return {fp for fp, oldest in rows if oldest is not None and oldest < firsts[fp]}

    @staticmethod
    def _older_pending(s: Session, mine: list[int]) -> bool:
        """Whether a message older than this batch's newest, not in it, is not done yet
        (another router's, or one deferred or held back): only then can a case of the batch
        have an older event still to tell (:meth:`_older_elsewhere`). One indexed look
        (``ix_outbox_pending``); a single router keeping up finds none."""
        return s.connection().execute(
            sql.OLDER_PENDING, {"newest": max(mine), "ids": mine}).first() is not None

    def _claim_and_materialize(self) -> tuple[list[int], list[tuple[int, list[Route]]]]:
        """Claim and parse in one transaction: one commit (one disk sync) per batch. A router
        dying half-way leaves nothing claimed (rolled back), so nothing waits for a lease.

        The previous batch's outcome, when ``run`` held it back (``_pending``), is written
        first in the same transaction: at a steady rate, one transaction per batch instead of
        two. It is forgotten only once committed."""
        started = time.monotonic()
        pending = self._pending
        with session_scope(self.engine) as s:
            if pending is not None:
                self._record_in(s, *pending)
            ids = self._claim_in(s)
            self._held_elsewhere = bool(ids) and self._older_pending(s, ids)
            batch = self._materialize_in(s, ids) if ids else []
            # the lease runs from the commit: parsing a large batch may outlast it (a batch
            # parsed within a tenth of it keeps nine tenths: no statement spent on it)
            if ids and time.monotonic() - started > self.lease.total_seconds() / 10:
                self._extend(s, ids)
        if self._pending is pending:
            self._pending = None
        return ids, batch

    def _reference(self, s: Session) -> Reference:
        """What every message is judged against, kept while its generation stays put (read
        before the data, so a change committed in between only costs one more reload)."""
        gen = generation(s)
        now = utcnow()
        kept = self._ref
        if kept is not None and gen is not None and kept.generation == gen \
                and now - kept.loaded_at < REFERENCE_MAX_AGE:
            return kept
        since = now - KEEP_RULES_FOR
        self._ref = Reference(
            generation=gen,
            loaded_at=now,
            matcher=Matcher.load(s),
            verifier=SourceVerifier.load(s, strict=self.check_ip, dkim_dns=self.dkim_dns),
            policy=self.policy.in_effect(s),
            unmonitored=unmonitored_client_ids(s),
            silences=KnownSilences.load(s, since) if gen is not None else None,
            rules=(since, rules_in_force(s, since)) if gen is not None else None,
        )
        REFERENCE_LOADS.inc()
        return self._ref

    def _materialize(self, outbox_ids: list[int]) -> list[tuple[int, list[Route]]]:
        """One transaction for the whole batch: one commit (one disk sync) per batch."""
        with session_scope(self.engine) as s:
            return self._materialize_in(s, outbox_ids)

    def _materialize_in(self, s: Session, outbox_ids: list[int]
                        ) -> list[tuple[int, list[Route]]]:
        """The batch's outbox rows and messages are read in one statement, and the events
        a message has just been turned into are used as they are; only a message parsed
        before (a batch retried) has its events read back."""
        out: list[tuple[int, list[Route]]] = []
        ref = self._reference(s)
        matcher, policy, unmonitored = ref.matcher, ref.policy, ref.unmonitored
        # the rules are shared; the DKIM key lookups are remembered for this batch only
        verifier = replace(ref.verifier, _dns_cache={})
        view = BatchView(silences=ref.silences, rules=ref.rules)
        pairs = s.execute(sql.LOAD, {"ids": outbox_ids}).all() if outbox_ids else []
        found = {ob.id: (ob, raw) for ob, raw in pairs}
        for oid in outbox_ids:
            ob, raw = found.get(oid, (None, None))
            if ob is None or raw is None or ob.done_at is not None \
                    or ob.claimed_by != self.name:
                continue  # done meanwhile, or our lease ran out and another router has it
            made = materialize(s, raw, matcher, self.check_ip, verifier, self.ref_key,
                               unmonitored, view)
            retried = made is None
            rows = made if made is not None else s.exec(
                select(AlertEventRow)
                .where(AlertEventRow.raw_message_id == raw.id)
                .order_by(AlertEventRow.idx)  # type: ignore[arg-type]
            ).all()
            out.append((oid, self._still_to_tell(rows, policy)
                        + self._site_returns(s, rows, policy,
                                             None if retried else view.released)))
        return out

    @staticmethod
    def _site_returns(s: Session, rows: Sequence[AlertEventRow], policy: CasePolicy,
                      released: set[int] | None = None) -> list[Route]:
        """What a link's return tells besides its own event: the site incident that it is
        back, and the cases of the children still failing, opened at the return. Built again
        while the message is retried (the request ids drop what Temporal already has).
        ``released``: the events that released children as they were parsed in this batch
        (their rows just made); None: any row may have (a message parsed before)."""
        routes: list[Route] = []
        for row in rows:
            if released is not None and row.id not in released:
                continue  # parsed just now, and released nothing
            wid = (row.extra or {}).get("site_return")
            if wid:
                routes.append(Route(row.id or 0, wid, AlertSignal(
                    event_id=row.id, status="recovery", received_at=row.received_at,
                    summary=f"lien du site rétabli : battement reçu de {row.host or '?'}",
                    severity="info"), None, fingerprint=wid, stored_at=row.received_at))
            for child in promoted_children(s, row.id or 0):
                route = promotion_route(s, child, row.received_at, policy)
                if route is not None:
                    routes.append(route)
        return routes

    @staticmethod
    def _still_to_tell(rows: Sequence[AlertEventRow], policy: CasePolicy) -> list[Route]:
        """The routes of a message's events, less the openings a case has already taken in.

        An opening linked to its case was told by a router that died before it wrote
        ``routed_at``. Temporal's request id drops a repeat only within the run, and once
        that case has closed its id may start again (a new problem on the same check is a
        new case): told again, the same mail would open a second case. So the mark is
        written here instead. Repeats and recoveries are plain signals: the request id
        covers them, and a closed case refuses them.
        """
        routes: list[Route] = []
        for row in rows:
            route = route_for(row, policy)
            if route is None:
                continue
            if route.start is not None and row.case_id is not None:
                row.routed_at = utcnow()  # committed with the batch's materializing
                continue
            routes.append(route)
        return routes

    def _record(self, routed: list[int], done: list[int], deferred: dict[int, str],
                waiting: list[int] = ()) -> None:  # type: ignore[assignment]
        """What Temporal acknowledged, written down in one transaction; every row of the
        batch is released (done, deferred with a back-off, or waiting a moment).

        Two statements for a batch told without trouble (its events routed, its messages
        done), whatever its size; a deferred or held-back message is written on its own.
        Rows are written in one order, events then outbox rows, each by ascending id (on
        PostgreSQL the statements lock them in that order first: ``router_sql``), the order
        a renewal or a claim locks them in: two transactions of the desk never wait on each
        other in a circle (issue 21, finding 14)."""
        with session_scope(self.engine) as s:
            self._record_in(s, routed, done, deferred, waiting)

    def _record_in(self, s: Session, routed: list[int], done: list[int],
                   deferred: dict[int, str], waiting: list[int]) -> None:
        now = utcnow()
        errors = dict(deferred)
        waits = set(waiting) - set(done) - set(errors)
        finished = sorted(set(done) - set(errors))
        pg = self.engine.dialect.name == "postgresql"
        c = s.connection()
        if routed:
            c.execute(sql.mark_routed(pg), {"ids": sorted(set(routed)), "now": now})
        if finished:  # the common case: one statement for the batch
            c.execute(sql.mark_done(pg), {"ids": finished, "now": now})
        for oid in sorted(set(errors) | waits):  # rare: row by row, as each needs
            ob = s.get(Outbox, oid)
            if ob is None:
                continue
            if oid in errors:
                ob.attempts += 1
                delay = min(60.0, 0.5 * 2 ** min(ob.attempts, 7))
                ob.next_attempt_at = now + timedelta(seconds=delay)
                ob.last_error = errors[oid][:2000]
            else:
                if ob.done_at is not None:
                    continue
                ob.next_attempt_at = now + WAIT_FOR_OLDER
                ob.last_error = WAITING
            ob.lease_until = None
            s.add(ob)

    # --- Temporal side ----------------------------------------------------------------------

    async def dispatch(self, route: Route) -> None:
        """Tells Temporal of one event, at most once however often it is called: the
        requests are built here rather than by ``Client.start_workflow``/``signal``, which
        draw a fresh request id per call, so that they carry ``route.request_id``."""
        workflow_service = self.client.workflow_service
        # in the case's serialization context, as ``Client.signal`` would: the codec seals
        # each payload under the case's client key (not the desk's)
        encode = for_workflow(self.client, route.workflow_id).encode
        if route.start is not None:
            await workflow_service.signal_with_start_workflow_execution(
                SignalWithStartWorkflowExecutionRequest(
                    namespace=self.client.namespace,
                    workflow_id=route.workflow_id,
                    workflow_type=WorkflowType(name=CASE_WORKFLOW),
                    task_queue=TaskQueue(name=self.task_queue),
                    input=Payloads(payloads=await encode([route.start])),
                    signal_name=route.signal_name,
                    signal_input=Payloads(payloads=await encode([route.signal])),
                    identity=self.client.identity,
                    request_id=route.request_id,
                    workflow_id_reuse_policy=ALLOW_DUPLICATE,
                    search_attributes=self._start_attributes(route.start),
                ),
                retry=True,
                timeout=RPC_TIMEOUT,
            )
            return
        try:
            await workflow_service.signal_workflow_execution(
                SignalWorkflowExecutionRequest(
                    namespace=self.client.namespace,
                    workflow_execution=WorkflowExecution(workflow_id=route.workflow_id),
                    signal_name=route.signal_name,
                    input=Payloads(payloads=await encode([route.signal])),
                    identity=self.client.identity,
                    request_id=route.request_id,
                ),
                retry=True,
                timeout=RPC_TIMEOUT,
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            # no open case for this recovery: nothing to end

    def _start_attributes(self, start: CaseInput) -> SearchAttributes | None:
        """A new-path case's client code, class and state, given with its start (ignored by
        Temporal when the case is already open): its first workflow task then upserts its
        reference only. The client code is the reference data's (the batch's), "" if unknown
        (the case then upserts it: a missing one costs an event, never a wrong value)."""
        if not start.path:
            return None
        codes = self._ref.matcher.codes if self._ref is not None else {}
        code = codes.get(start.client_id, "") if start.client_id is not None else ""
        out = SearchAttributes()
        encode_search_attributes(
            search.at_start(code, start.preset_criticality, start.source_verified), out)
        return out

    async def drain_once(self, hold: bool = False) -> int:
        """Process one batch; returns how many outbox rows were completed.

        Cases are told concurrently, each case's own events in arrival order. A message
        whose routing fails is deferred with a back-off; the events Temporal did
        acknowledge are recorded all the same, so they are not sent again.

        ``hold`` (``run`` only): the outcome is kept in ``_pending`` and written with the next
        claim, or on its own within ``RECORD_HOLD``. Until then the batch's rows stay under
        its lease: a router dying meanwhile has them told again after it, which the request
        ids make harmless, as for a death before the record.
        """
        ids, batch = await asyncio.to_thread(self._claim_and_materialize)
        self.claimed = len(ids)
        if not ids:
            return 0
        keeper = asyncio.create_task(self._keep_lease(ids))
        try:
            return await self._route_batch(ids, batch, hold)
        finally:
            keeper.cancel()

    async def _route_batch(self, ids: list[int], batch: list[tuple[int, list[Route]]],
                           hold: bool = False) -> int:
        firsts: dict[str, int] = {}
        for oid, routes in batch:
            for route in routes:
                if route.fingerprint:
                    firsts.setdefault(route.fingerprint, oid)
        behind = (await asyncio.to_thread(self._older_elsewhere, firsts, set(ids))
                  if self._held_elsewhere else set())
        waiting = sorted({oid for oid, routes in batch
                          if any(r.fingerprint in behind for r in routes)})
        per_case: dict[str, list[tuple[int, Route]]] = {}
        for oid, routes in batch:
            if oid in waiting:
                continue  # a case of this message has an older one in another router's hands
            for route in routes:
                per_case.setdefault(route.workflow_id, []).append((oid, route))
        routed: list[int] = []
        failed: dict[int, str] = {}
        gate = asyncio.Semaphore(DISPATCH_CONCURRENCY)

        trouble = asyncio.Event()  # after one failure (Temporal away?) the rest waits

        async def tell(case_routes: list[tuple[int, Route]]) -> None:
            async with gate:
                for oid, route in case_routes:
                    if trouble.is_set() or oid in failed:
                        failed.setdefault(oid, "reporté : échec d'un envoi du même lot")
                        continue
                    try:
                        await self.dispatch(route)
                    except Exception as exc:
                        log.warning("router: outbox %s deferred: %s", oid, exc)
                        failed[oid] = f"{type(exc).__name__}: {exc}"
                        trouble.set()
                        continue
                    routed.append(route.event_id)
                    EVENTS_ROUTED.inc()
                    if route.stored_at is not None:
                        ROUTING_LATENCY.observe(
                            max(0.0, (utcnow() - route.stored_at).total_seconds()))

        await asyncio.gather(*(tell(r) for r in per_case.values()))
        done = [oid for oid, _ in batch if oid not in failed and oid not in waiting]
        if hold:
            self._pending = (routed, done, failed, waiting)
        else:
            await asyncio.to_thread(self._record, routed, done, failed, waiting)
        return len(done)

    async def _flush_pending(self) -> None:
        """Writes a held-back outcome on its own (no claim followed soon enough)."""
        pending = self._pending
        if pending is None:
            return
        try:
            await asyncio.to_thread(self._record, *pending)
        except Exception:  # kept: written with the next claim, or at the next look
            log.exception("router %s: issue du lot non enregistrée ; nouvel essai", self.name)
            return
        if self._pending is pending:
            self._pending = None

    async def run(self, idle: float = 0.5) -> None:
        """Drain forever, looking again every ``idle`` seconds when there was nothing to do;
        woken early by the intake after each accepted message (``wake``: in its process, or
        a nudge from another one, see ``intake.wake``).

        The wake flag is cleared before each claim, never after: a nudge that comes while a
        batch is claimed or told is kept, and the next claim follows at once. (Clearing it
        after an empty claim lost the nudges that came during that claim: their messages
        then waited for the next look.) A batch that was not full took everything claimable
        at its claim, so the router waits for a nudge instead of claiming again for nothing.

        A batch's outcome (events routed, messages done) is written with the next claim when
        one follows within ``RECORD_HOLD`` (a nudge, or a full batch), else on its own.

        Woken by a nudge, it waits ``gather`` (``VIGIE_ROUTER_GATHER_MS``, a few ms) before
        claiming: the messages of a burst then share one batch, one claim and one record,
        instead of one each (a batch costs about as much as the events in it at 20/s).
        """
        nudged = False
        try:
            while True:
                if nudged and self.gather > 0:
                    await asyncio.sleep(self.gather)
                self.wake.clear()
                try:
                    await self.drain_once(hold=True)
                    full = self.claimed >= self.batch
                except Exception:
                    log.exception("router: batch failed; retrying")
                    full = False
                nudged = False
                if full:
                    continue  # the held outcome goes with the next claim, at once
                if self._pending is not None:  # a next message soon: one transaction
                    try:
                        await asyncio.wait_for(self.wake.wait(),
                                               timeout=min(idle, RECORD_HOLD.total_seconds()))
                        nudged = True
                        continue
                    except TimeoutError:
                        await self._flush_pending()
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=idle)
                    nudged = True
                except TimeoutError:
                    pass
        finally:  # stopped: what Temporal acknowledged is written down before leaving
            if self._pending is not None:
                with contextlib.suppress(Exception):
                    self._record(*self._pending)
                self._pending = None
