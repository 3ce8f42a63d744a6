"""The contract workflows' activities: thin Temporal wrappers over ``contracts.store``.

Every one is idempotent: timeline lines and status changes carry a key (written once),
the onboarding visit is booked once per contract (its id is kept on the contract in the
same transaction), expectations are created only where missing, visits already cancelled
are skipped, and erasure of data already erased changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.mail import MailConfig, UncertainSend, relay_send
from contracts import privacy, store
from messages.comms import Channel, CommStatus
from messages.contracts import (
    CancelVisitsInput,
    ContractActivity,
    ContractFacts,
    DocumentInput,
    EraseInput,
    EventInput,
    ExpectationsInput,
    ScheduleInput,
    SizingDecision,
    StatusInput,
    StopInput,
)
from models.contracts import Contract
from models.db import session_scope
from models.expectations import Expectation
from models.tables import BackupJob, Client
from models.types import utcnow
from records.absence import expect_defaults
from records.communications import Draft, begin_send, find, finish, record, release

log = logging.getLogger(__name__)
ONBOARDING_WINDOW_DAYS = 30  # the onboarding visit is due within a month of the start


def _contract(s: Session, contract_id: int) -> Contract:
    c = s.get(Contract, contract_id)
    if c is None:
        raise store.ContractError(f"Contrat {contract_id} introuvable")
    return c


def technical_document(engine: Engine, contract_id: int, client_id: int, actor: str) -> str:
    """The first technical document (3.2.1) from the inventory and the checklist, version 1
    of the visits' versioned document; a client that already has one keeps it."""
    try:
        from planning import techdoc
    except ImportError:  # the visits' document module is not installed
        note = "document technique à créer (module des visites absent)"
        store.update_contract(engine, contract_id, technical_document=note)
        return note
    with session_scope(engine) as s:
        contract = _contract(s, contract_id)
        if techdoc.latest(s, client_id) is not None:
            note = f"document technique existant (version {techdoc.latest(s, client_id).version})"  # type: ignore[union-attr]
        else:
            client = s.get(Client, client_id)
            ips = client.fixed_ips if client is not None else ""
            row = techdoc.save_version(s, client_id, {
                "network": f"Accès internet professionnel, IP fixe : {ips or 'à préciser'}",
                "monitoring": "Battement horaire de l'agent ; rapport d'espace disque à 03:00 ; "
                              "sauvegardes attendues selon leur planification",
                "antivirus": "Service antivirus souscrit" if "antivirus" in contract.options
                else "",
            }, actor)
            note = f"document technique créé (version {row.version})"
        contract.technical_document = note
        s.add(contract)
    return note


def set_up_expectations(engine: Engine, client_id: int, actor: str) -> int:
    """Heartbeat and disk report for every server, and the client's backup jobs confirmed
    (the audit judges only confirmed jobs)."""
    made = len(expect_defaults(engine, client_id, actor))
    with session_scope(engine) as s:
        for exp in s.exec(select(Expectation).where(Expectation.client_id == client_id,
                                                    Expectation.state == "disabled")).all():
            exp.state = "ok"  # a contract active again after a stop
            s.add(exp)
        for job in s.exec(select(BackupJob).where(BackupJob.client_id == client_id,
                                                  BackupJob.confirmed == False)).all():  # noqa: E712
            job.confirmed = True
            s.add(job)
            made += 1
    return made


def stop_monitoring(engine: Engine, client_id: int) -> int:
    """No more absence cases for the client: its expectations are disabled."""
    with session_scope(engine) as s:
        rows = s.exec(select(Expectation).where(Expectation.client_id == client_id,
                                                Expectation.state != "disabled")).all()
        for exp in rows:
            exp.state = "disabled"
            exp.case_workflow_id, exp.case_opened, exp.muted_by_case_id = None, False, None
            s.add(exp)
        return len(rows)


def first_entitlement(engine: Engine, client_id: int, today: date) -> int:
    """The visits owed for the contract year the service starts in (3.2.4), counted from
    the contract's start date: computed and stored by the visits' entitlement module, so the
    planner sees it at once."""
    from base.settings import get_settings
    from planning import entitlement as ent

    settings = get_settings()
    with session_scope(engine) as s:
        start = ent.year_start_for(s, client_id, settings.contract_year_start)
        row = ent.entitlement_for(s, client_id, ent.year_containing(today, start),
                                  settings.visit_counting, settings.contract_year_start)
        return row.owed


def mail_planner(engine: Engine, cfg: MailConfig, recipient: str, contract_id: int,
                 key: str, subject: str, body: str) -> str:
    """The planners' mail about a terminated contract, at most once (the row is written
    before the send, like every client mail): captured, or through the relay."""
    row = find(engine, key) or record(engine, Draft(
        key=key, case_id=None, channel=Channel.EMAIL, step="contract_planner_notice",
        attempt="1", transport=cfg.transport, recipient=recipient, subject=subject, body=body,
        message_id=make_msgid(f"contract-{contract_id}", domain=cfg.domain)))
    if row.status not in ("pending", "sending") or not begin_send(engine, row.id or 0):
        return row.status
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = cfg.mail_from, recipient, subject
    msg["Message-ID"] = row.message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(body)
    if cfg.transport != "smtp":
        return finish(engine, row.id or 0, CommStatus.SENT, raw=msg.as_string(),
                      source="capture", evidence="conservé par la boîte de capture").status
    try:
        answer = relay_send(cfg, recipient, msg.as_bytes())
    except UncertainSend as exc:
        return finish(engine, row.id or 0, CommStatus.UNKNOWN, raw=msg.as_string(),
                      evidence=f"connexion perdue pendant DATA : {exc}").status
    except (OSError, smtplib.SMTPException) as exc:
        release(engine, row.id or 0, f"relais indisponible : {exc}")
        raise
    return finish(engine, row.id or 0, CommStatus.SENT, raw=msg.as_string(), source="relay",
                  evidence=answer).status


class ContractActivities:
    def __init__(self, engine: Engine, *, timezone: str = "Europe/Paris",
                 mail: MailConfig | None = None, planner_email: str = "") -> None:
        self.engine = engine
        self.tz = ZoneInfo(timezone)
        self.mail = mail or MailConfig(transport="capture")
        self.planner_email = planner_email

    def all(self) -> list:
        return [self.facts, self.event, self.save_sizing, self.blockers,
                self.schedule_onboarding, self.plan_sensors, self.technical_document,
                self.expectations, self.set_status, self.stop_monitoring, self.cancel_visits,
                self.close_cases,
                self.erase, self.entitlement]

    @activity.defn(name=ContractActivity.FACTS)
    def facts(self, contract_id: int) -> ContractFacts:
        with Session(self.engine) as s:
            c = _contract(s, contract_id)
            return ContractFacts(c.id or 0, c.client_id, c.users, c.servers, c.contracted_days,
                                 c.status)

    @activity.defn(name=ContractActivity.EVENT)
    def event(self, e: EventInput) -> None:
        store.append_event(self.engine, e.contract_id, e.key, e.at, e.action, e.actor,
                           reason=e.reason, data=dict(e.data))

    @activity.defn(name=ContractActivity.SAVE_SIZING)
    def save_sizing(self, d: SizingDecision) -> None:
        store.update_contract(self.engine, d.contract_id, onboarding_days=d.days,
                              onboarding_rule=d.rule, onboarding_decided_by=d.decided_by)

    @activity.defn(name=ContractActivity.BLOCKERS)
    def blockers(self, contract_id: int) -> list[str]:
        with Session(self.engine) as s:
            return [p.label for p in store.activation_blockers(s, contract_id)]

    @activity.defn(name=ContractActivity.SCHEDULE_ONBOARDING)
    async def schedule_onboarding(self, inp: ScheduleInput) -> int:
        """Books the onboarding like a visit (``kind='onboarding'``, N days), once."""
        from base.settings import get_settings
        from planning.launch import start_visit_workflow

        visit_id = await asyncio.to_thread(self._book_onboarding, inp)
        if visit_id:
            await start_visit_workflow(activity.client(), self.engine, visit_id, get_settings(),
                                       activity.info().task_queue)
        return visit_id

    def _book_onboarding(self, inp: ScheduleInput) -> int:
        """The visit row and its id on the contract, in one transaction (0: not bookable)."""
        from planning.visits import VisitError, create_visit

        with session_scope(self.engine) as s:
            contract = _contract(s, inp.contract_id)
            if contract.onboarding_visit_id is not None:
                return contract.onboarding_visit_id
            start = max(contract.start_date, utcnow().astimezone(self.tz).date())
            try:
                visit = create_visit(s, inp.client_id, "onboarding", start,
                                     start + timedelta(days=ONBOARDING_WINDOW_DAYS),
                                     days=inp.days)
            except VisitError as exc:
                store._event(s, contract, f"contract:{inp.contract_id}:visit-refused",
                             utcnow(), "onboarding_visit_refused", "system",
                             reason=f"{exc} : à planifier à la main ({inp.days} jours)")
                contract.onboarding_visit_id = 0
                s.add(contract)
                return 0
            contract.onboarding_visit_id = visit.id or 0
            s.add(contract)
            return contract.onboarding_visit_id

    @activity.defn(name=ContractActivity.PLAN_SENSORS)
    def plan_sensors(self, contract_id: int) -> int:
        return store.plan_sensors(self.engine, contract_id)

    @activity.defn(name=ContractActivity.TECHNICAL_DOCUMENT)
    def technical_document(self, inp: DocumentInput) -> str:
        return technical_document(self.engine, inp.contract_id, inp.client_id, inp.actor)

    @activity.defn(name=ContractActivity.EXPECTATIONS)
    def expectations(self, inp: ExpectationsInput) -> int:
        return set_up_expectations(self.engine, inp.client_id, inp.actor)

    @activity.defn(name=ContractActivity.SET_STATUS)
    def set_status(self, inp: StatusInput) -> None:
        fields: dict[str, object] = {}
        if inp.activated:
            fields["activated_at"] = inp.at
        if inp.notice_workflow_id:
            fields["notice_workflow_id"] = inp.notice_workflow_id
            fields["notice_received_on"] = (date.fromisoformat(inp.notice_received_on)
                                            if inp.notice_received_on else None)
            fields["notice_effective_at"] = inp.notice_effective_at
        if inp.terminated:
            fields["terminated_at"] = inp.at
            fields["termination_reason"] = inp.reason
        store.set_status(self.engine, inp.contract_id, inp.status, key=inp.key, at=inp.at,
                         actor=inp.actor, reason=inp.reason, **fields)

    @activity.defn(name=ContractActivity.STOP_MONITORING)
    def stop_monitoring(self, inp: StopInput) -> int:
        n = stop_monitoring(self.engine, inp.client_id)
        store.append_event(self.engine, inp.contract_id, f"contract:{inp.contract_id}:stopped:"
                           f"{inp.at.isoformat()}", inp.at, "monitoring_stopped", inp.actor,
                           reason=f"{n} attente(s) désactivée(s) ; les messages reçus restent "
                                  "enregistrés et marqués")
        return n

    @activity.defn(name=ContractActivity.CANCEL_VISITS)
    async def cancel_visits(self, inp: CancelVisitsInput) -> list[int]:
        """Each planned visit cancelled through its own workflow (``cancel`` update), then
        one notice to the planners on the timeline and the planning page."""
        from messages.visits import CancelVisit
        from planning.launch import visit_handle
        from planning.visits import open_visits

        def listed_visits() -> list[tuple[int, str, date]]:
            with Session(self.engine) as s:
                return [(v.id or 0, v.kind, v.due_start) for v in open_visits(s, inp.client_id)]

        visits = await asyncio.to_thread(listed_visits)
        client = activity.client()
        cancelled: list[int] = []
        refused: list[str] = []
        for visit_id, _kind, _due in visits:
            activity.heartbeat(visit_id)
            try:
                await visit_handle(client, visit_id).execute_update(
                    "cancel", CancelVisit(inp.actor, inp.reason))
            except WorkflowUpdateFailedError as exc:  # already past cancelling: say so
                refused.append(f"n°{visit_id} : {getattr(exc.cause, 'message', exc)}")
                continue
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                refused.append(f"n°{visit_id} : aucun processus de visite en cours")
                continue
            cancelled.append(visit_id)
        listed = ", ".join(f"n°{v} ({k}, {d:%d/%m/%Y})" for v, k, d in visits
                           if v in cancelled) or "aucune"
        reason = f"Contrat résilié : visites annulées — {listed}"
        if refused:
            reason += " ; à reprendre à la main — " + " ; ".join(refused)
        key = f"contract:{inp.contract_id}:planner-notice:{inp.at.isoformat()}"
        await asyncio.to_thread(
            store.append_event, self.engine, inp.contract_id, key, inp.at, "planner_notice",
            inp.actor, reason=reason, data={"visits": ",".join(str(v) for v in cancelled)})
        if self.planner_email:
            name = await asyncio.to_thread(self._client_name, inp.client_id)
            await asyncio.to_thread(
                mail_planner, self.engine, self.mail, self.planner_email, inp.contract_id, key,
                f"[Vigie] Contrat résilié : {name} — visites annulées",
                f"Le contrat de {name} est résilié ({inp.reason}).\n\n{reason}\n")
        return cancelled

    @activity.defn(name=ContractActivity.CLOSE_CASES)
    async def close_cases(self, inp: CancelVisitsInput) -> list[str]:
        """The client's open cases closed through their workflows; those refused go to the
        planners' notice on the timeline."""
        from contracts.closing import close_open_cases

        closed, by_hand = await close_open_cases(
            activity.client(), self.engine, inp.client_id,
            f"Contrat résilié : {inp.reason}" if inp.reason else "Contrat résilié")
        if closed or by_hand:
            reason = "Cas clôturés : " + (", ".join(closed) or "aucun")
            if by_hand:
                reason += " ; à transmettre à la main — " + " ; ".join(by_hand)
            await asyncio.to_thread(
                store.append_event, self.engine, inp.contract_id,
                f"contract:{inp.contract_id}:cases-closed:{inp.at.isoformat()}", inp.at,
                "cases_closed", inp.actor, reason=reason)
        return closed

    @activity.defn(name=ContractActivity.ENTITLEMENT)
    def entitlement(self, inp: ExpectationsInput) -> int:
        return first_entitlement(self.engine, inp.client_id, utcnow().astimezone(self.tz).date())

    def _client_name(self, client_id: int) -> str:
        with Session(self.engine) as s:
            client = s.get(Client, client_id)
            return client.name if client is not None else str(client_id)

    @activity.defn(name=ContractActivity.ERASE)
    async def erase(self, inp: EraseInput) -> str:
        """Waits for the client's visit workflows to end (a cancelled visit still writes its
        reason), then erases; a hold answers its reason (the retention Schedule tries again
        once it is lifted)."""
        from temporalio.client import WorkflowExecutionStatus
        from temporalio.exceptions import ApplicationError

        from models.visits import Visit

        def visit_workflows() -> list[str]:
            with Session(self.engine) as s:
                return [v.workflow_id for v in s.exec(select(Visit).where(
                    Visit.client_id == inp.client_id)) if v.workflow_id]

        client = activity.client()
        for wid in await asyncio.to_thread(visit_workflows):
            try:
                status = (await client.get_workflow_handle(wid).describe()).status
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    continue
                raise
            if status == WorkflowExecutionStatus.RUNNING:
                raise ApplicationError(f"visite {wid} encore en cours : effacement ensuite")
        try:
            summary = await asyncio.to_thread(
                privacy.erase_client, self.engine, inp.client_id, by=inp.actor, at=inp.at,
                retention_days=0, reason="fin de la durée de conservation")
        except privacy.PrivacyError as exc:
            return f"effacement refusé : {exc}"
        return summary.describe()


def contract_activities(engine: Engine, timezone: str = "Europe/Paris",
                        mail: MailConfig | None = None, planner_email: str = "") -> list:
    return ContractActivities(engine, timezone=timezone, mail=mail,
                              planner_email=planner_email).all()

