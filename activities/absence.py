"""Temporal side of the absence checks: the sweep, the repeat watch, the backup audit and the
daily report mail, as activities over the data layer of :mod:`records.absence`.

The activities plan in the database (``records.absence``), tell Temporal (signal-with-start,
updates), then write down what Temporal acknowledged, so a crash in between is retried by the
next sweep rather than lost. The report mail goes through the client mail's relay
(``activities.mail.relay_send``).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio import activity
from temporalio.client import Client as TemporalClient
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.mail import MailConfig, relay_send
from base.metrics import SWEEP_SECONDS
from domain.absence import render_backup_report
from messages.absence import (
    AUDIT_BACKUPS,
    SEND_BACKUP_REPORT,
    SWEEP_ABSENCES,
    WATCH_REPEATS,
    AuditRequest,
    AuditSummary,
    ReportRequest,
    SweepRequest,
    SweepSummary,
)
from messages.cases import ActionInput
from models.db import session_scope
from models.tables import Communication
from models.types import utcnow
from records.absence import (
    CASE_WORKFLOW,
    OPEN_CHUNK,
    SYSTEM,
    AbsencePolicy,
    NoteOrder,
    OpenOrder,
    audit_backup_days,
    backup_report,
    mark_noted,
    mark_opened_many,
    mark_resolved,
    plan_repeat_notes,
    plan_sweep,
)

__all__ = ["AbsenceActivities", "AbsencePolicy", "mail_backup_report"]

def report_message(policy: AbsencePolicy, subject: str, text: str,
                   html_body: str) -> EmailMessage:
    """The team's mail: plain text and HTML alternatives."""
    msg = EmailMessage()
    msg["From"] = policy.mail_from
    msg["To"] = policy.team_email
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=policy.mail_from.rsplit("@", 1)[-1] or None)
    msg.set_content(text)
    msg.add_alternative(html_body, subtype="html")
    return msg


def send_report_mail(policy: AbsencePolicy, msg: EmailMessage) -> str:
    """Through the relay the client mail uses (same TLS, login and timeout:
    ``activities.mail.relay_send``); returns the relay's answer to DATA."""
    cfg = MailConfig(transport="smtp", relay_host=policy.smtp_relay_host,
                     relay_port=policy.smtp_relay_port, tls=policy.smtp_relay_tls,
                     user=policy.smtp_relay_user, password=policy.smtp_relay_password,
                     timeout=policy.smtp_relay_timeout, mail_from=policy.mail_from)
    answer = relay_send(cfg, policy.team_email, msg.as_bytes(policy=email_policy.SMTP))
    if not answer.startswith("250"):  # the relay refused the message at the end of DATA
        raise RuntimeError(f"relais SMTP : {answer}")
    return answer


def mail_backup_report(engine: Engine, policy: AbsencePolicy, last_day: date,
                       at: datetime, focus: list[date] | None = None) -> str:
    """Sends the day's report to the team once (``communication`` row keyed by the day).

    A relay failure raises, and Temporal retries the activity; a break after the relay took
    the message may send it twice, which for an internal report beats not sending it.
    """
    if not policy.team_email or not policy.smtp_relay_host:
        return "désactivé (VIGIE_TEAM_EMAIL ou VIGIE_SMTP_RELAY_HOST vide)"
    key = f"backup-report:{last_day.isoformat()}"
    with session_scope(engine) as s:
        comm = s.exec(select(Communication).where(Communication.key == key)).first()
        if comm is not None and comm.status == "sent":
            return "déjà envoyé"
    report = backup_report(engine, last_day, now=at)
    subject, text, html_body = render_backup_report(report, focus)
    msg = report_message(policy, subject, text, html_body)
    with session_scope(engine) as s:
        comm = s.exec(select(Communication).where(Communication.key == key)).first()
        if comm is None:
            comm = Communication(key=key, channel="email", step="backup_report",
                                 transport="smtp", recipient=policy.team_email)
        comm.subject, comm.body, comm.status = subject, text, "sending"
        comm.message_id = str(msg["Message-ID"])
        s.add(comm)
    evidence = send_report_mail(policy, msg)
    with session_scope(engine) as s:
        comm = s.exec(select(Communication).where(Communication.key == key)).one()
        comm.status, comm.sent_at, comm.evidence = "sent", utcnow(), evidence[:500]
        s.add(comm)
    return f"envoyé à {policy.team_email}"


# === the activities ==========================================================================


async def _start_case(client: TemporalClient, task_queue: str, order: OpenOrder) -> None:
    """Signal-with-start, as the router does: the alert opens the case (``opening``), or is
    one more repeat of the case already open under that fingerprint."""
    await client.start_workflow(
        CASE_WORKFLOW, order.case, id=order.workflow_id, task_queue=task_queue,
        start_signal="alert", start_signal_args=[replace(order.signal, opening=True)],
    )


async def _update_case(client: TemporalClient, workflow_id: str, update: str,
                       inp: ActionInput) -> bool:
    """Runs a system update on a case; False when the case refuses or no longer runs."""
    try:
        await client.get_workflow_handle(workflow_id).execute_update(update, inp)
        return True
    except WorkflowUpdateFailedError:
        return False  # already resolved, closed: nothing left to say
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            return False
        raise


class AbsenceActivities:
    """Holds the engine and the policy; the Temporal client is the activity's own."""

    def __init__(self, engine: Engine, policy: AbsencePolicy = AbsencePolicy()) -> None:
        self.engine = engine
        self.policy = policy

    def all(self) -> list:
        return [self.sweep_absences, self.watch_repeats, self.audit_backups,
                self.send_backup_report]

    @activity.defn(name=SWEEP_ABSENCES)
    async def sweep_absences(self, req: SweepRequest) -> SweepSummary:
        with SWEEP_SECONDS.time():
            return await self._sweep(req)

    async def _sweep(self, req: SweepRequest) -> SweepSummary:
        plan = await asyncio.to_thread(plan_sweep, self.engine, req.at, self.policy)
        client, queue = activity.client(), activity.info().task_queue
        await self._open_cases(client, queue, plan.opens, req.at)
        notes = await self._notes(client, plan.notes, req.at)
        resolved = 0
        for r in plan.resolves:
            done = await _update_case(client, r.workflow_id, "resolve",
                                      ActionInput(actor=SYSTEM, reason=r.reason))
            resolved += int(done)
            await asyncio.to_thread(mark_resolved, self.engine, r, req.at)
        return SweepSummary(opened=len(plan.opens), resolved=resolved, muted=plan.muted,
                            silenced=plan.silenced, back=plan.back + len(plan.resolves),
                            notes=notes)

    @activity.defn(name=WATCH_REPEATS)
    async def watch_repeats(self, req: SweepRequest) -> SweepSummary:
        orders = await asyncio.to_thread(plan_repeat_notes, self.engine, req.at, self.policy)
        notes = await self._notes(activity.client(), orders, req.at)
        return SweepSummary(notes=notes)

    async def _open_cases(self, client: TemporalClient, queue: str, orders: list[OpenOrder],
                          at: datetime) -> None:
        """Signal-with-start, a few at a time; each chunk acknowledged in one transaction
        (a crash repeats at most a chunk, which the cases ignore by event id)."""
        for i in range(0, len(orders), OPEN_CHUNK):
            chunk = orders[i:i + OPEN_CHUNK]
            await asyncio.gather(*(_start_case(client, queue, o) for o in chunk))
            await asyncio.to_thread(mark_opened_many, self.engine, chunk, at)
            activity.heartbeat(i + len(chunk))

    async def _notes(self, client: TemporalClient, orders: list[NoteOrder],
                     at: datetime) -> int:
        written = 0
        for n in orders:
            written += int(await _update_case(client, n.workflow_id, "add_note",
                                              ActionInput(actor=SYSTEM, text=n.text)))
            await asyncio.to_thread(mark_noted, self.engine, n, at)
        return written

    @activity.defn(name=AUDIT_BACKUPS)
    async def audit_backups(self, req: AuditRequest) -> AuditSummary:
        days = [date.fromisoformat(d) for d in req.days]
        summary, orders = await asyncio.to_thread(
            audit_backup_days, self.engine, days, req.at, self.policy)
        await self._open_cases(activity.client(), activity.info().task_queue, orders, req.at)
        return summary

    @activity.defn(name=SEND_BACKUP_REPORT)
    def send_backup_report(self, req: ReportRequest) -> str:
        focus = [date.fromisoformat(d) for d in req.focus] or None
        return mail_backup_report(self.engine, self.policy, date.fromisoformat(req.last_day),
                                  req.at, focus)
