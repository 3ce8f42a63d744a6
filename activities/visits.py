"""The visit workflow's activities: thin wrappers over the ``planning`` data layer.

Every one is idempotent: ledger lines are unique per (visit, seq); the projection is
overwritten in order; each mail is a ``communication`` row keyed ``VIS-00012:step:attempt``
written before anything is sent (``activities.comms``' protocol, at most once); the report is
rebuilt from the same data on a retry and replaces its own row.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio import activity

from activities.mail import DESK_NAME, MailConfig, UncertainSend, _permanent, mailbox, relay_send
from messages.comms import Channel, CommStatus
from messages.visits import (
    ReportRequest,
    ReportResult,
    VisitActivity,
    VisitEventInput,
    VisitMailRequest,
    VisitMailResult,
    VisitSnapshot,
    VisitStep,
)
from models.db import session_scope
from models.tables import Communication
from models.visits import VisitReport
from planning import report as reports
from planning import visits as data
from planning.links import link_secret, public_base
from planning.notify import VisitMailConfig, compose, visit_ref
from records.communications import (
    Draft,
    begin_send,
    find,
    finish,
    record,
    release,
    still_in_flight,
)


def visit_mail_config(settings: Any) -> VisitMailConfig:
    return VisitMailConfig(
        secret=link_secret(settings),
        base_url=public_base(settings),
        timezone=settings.timezone,
        planner_email=settings.planner_email or settings.team_email,
        report_email=settings.visit_report_email or settings.team_email,
        mail_from=settings.mail_from,
    )


class VisitActivities:
    def __init__(self, engine: Engine, mail: MailConfig, cfg: VisitMailConfig) -> None:
        self.engine = engine
        self.mail = mail
        self.cfg = cfg

    def all(self) -> list:
        return [self.append_event, self.save, self.send_mail, self.build_report]

    @activity.defn(name=VisitActivity.APPEND)
    def append_event(self, ev: VisitEventInput) -> None:
        with session_scope(self.engine) as s:
            data.append_event(s, ev)

    @activity.defn(name=VisitActivity.SAVE)
    def save(self, snap: VisitSnapshot) -> None:
        with session_scope(self.engine) as s:
            data.save_snapshot(s, snap)

    @activity.defn(name=VisitActivity.BUILD_REPORT)
    def build_report(self, req: ReportRequest) -> ReportResult:
        return reports.build_visit_report(self.engine, req.visit_id, req.actor, req.at,
                                          self.cfg.timezone)

    @activity.defn(name=VisitActivity.SEND_MAIL)
    def send_mail(self, req: VisitMailRequest) -> VisitMailResult:
        """One mail of a visit, at most once (see ``activities.mail``)."""
        ref = visit_ref(req.visit_id)
        key = f"{ref}:{req.step}:{req.attempt}"
        row = find(self.engine, key) or record(self.engine, self._draft(req, key, ref))
        if row.status not in ("pending", "sending"):
            return _result(row)
        if not row.recipient:
            return _result(finish(self.engine, row.id or 0, CommStatus.NO_RECIPIENT, sent=False,
                                  evidence="aucune adresse pour ce message"))
        if row.status == "sending":
            if still_in_flight(row):
                raise RuntimeError(f"{key} : une autre tentative envoie peut-être encore")
            return _result(finish(self.engine, row.id or 0, CommStatus.UNKNOWN, sent=False,
                                  evidence="envoi interrompu : non renvoyé, à vérifier au relais"))
        if self.mail.transport == "smtp" and not self.mail.relay_host:
            return _result(finish(self.engine, row.id or 0, CommStatus.FAILED, sent=False,
                                  evidence="relais SMTP non configuré (VIGIE_SMTP_RELAY_HOST)"))
        if not begin_send(self.engine, row.id or 0):
            return _result(find(self.engine, key) or row)
        message = self._message(row, ref, req)
        if self.mail.transport != "smtp":
            return _result(finish(self.engine, row.id or 0, CommStatus.SENT,
                                  raw=message.as_string(), source="capture",
                                  evidence="conservé par la boîte de capture locale"))
        try:
            answer = relay_send(self.mail, parseaddr(row.recipient)[1], message.as_bytes())
        except UncertainSend as exc:
            return _result(finish(self.engine, row.id or 0, CommStatus.UNKNOWN,
                                  raw=message.as_string(),
                                  evidence=f"connexion perdue pendant DATA : {exc}"))
        except OSError as exc:
            release(self.engine, row.id or 0, f"relais indisponible : {exc}")
            raise
        except Exception as exc:
            if _permanent(exc):
                return _result(finish(self.engine, row.id or 0, CommStatus.FAILED, sent=False,
                                      source="relay", evidence=f"refusé par le relais : {exc}"))
            release(self.engine, row.id or 0, f"relais indisponible : {exc}")
            raise
        return _result(finish(self.engine, row.id or 0, CommStatus.SENT,
                              raw=message.as_string(), source="relay",
                              evidence=f"accepté par le relais : {answer}"))

    def _draft(self, req: VisitMailRequest, key: str, ref: str) -> Draft:
        with session_scope(self.engine) as s:
            composed = compose(s, req, self.cfg)
        return Draft(
            key=key, case_id=None, channel=Channel.EMAIL, step=req.step, attempt=req.attempt,
            transport=self.mail.transport, workflow_id=req.workflow_id,
            recipient=composed.recipient, subject=composed.subject, body=composed.body,
            message_id=f"<{ref}.{req.step}.{req.attempt}@{self.mail.domain}>",
        )

    def _message(self, row: Communication, ref: str, req: VisitMailRequest) -> EmailMessage:
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = mailbox(DESK_NAME, self.mail.mail_from)
        msg["To"] = row.recipient
        msg["Subject"] = row.subject
        msg["Date"] = format_datetime(row.created_at)
        msg["Message-ID"] = row.message_id
        msg["References"] = f"<{ref}@{self.mail.domain}>"
        if self.mail.reply_to:
            msg["Reply-To"] = self.mail.reply_to
        msg["Auto-Submitted"] = "auto-generated"
        msg["Content-Language"] = "fr"
        msg["X-Vigie-Visit"] = ref
        msg["X-Vigie-Step"] = row.step
        msg.set_content(row.body, charset="utf-8", cte="quoted-printable")
        if req.step == VisitStep.REPORT:
            with session_scope(self.engine) as s:
                found = s.exec(
                    select(VisitReport).where(VisitReport.visit_id == req.visit_id)
                ).first()
                pdf = found.pdf if found else None
            if pdf:
                msg.add_attachment(pdf, maintype="application", subtype="pdf",
                                   filename=f"fiche-visite-{ref}.pdf")
        return msg


def _result(row: Communication) -> VisitMailResult:
    return VisitMailResult(communication_id=row.id or 0, status=row.status,
                           recipient=row.recipient, detail=row.evidence)
