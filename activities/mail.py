"""Client mail: French templates per class and purpose, sent through the SMTP relay (or kept
by the capture transport), each a communication recorded before it is sent.

Delivery guarantee, per (case, step, attempt): **at most once**. The protocol of
``records.communications`` makes every retry a no-op once the relay has answered; the one window it
cannot close is a worker that dies after the relay's ``250`` and before the mark. An SMTP
relay offers no way to ask "did you take message X?", so the row found at ``sending`` is marked
``unknown``, shown on the case as an uncertain send to verify, and **not** resent: a duplicate
mail to a client is a broken promise too, and the relay's log (searchable by the Message-ID,
derived from the key) settles it. The window is narrowed to the end of DATA: a failure before
it (connection refused, a refusal at MAIL/RCPT, a 4xx) puts the row back to ``pending`` and
Temporal's retry sends; a 5xx refusal is final (``failed``).

The capture transport stores the message and marks the row in one transaction: exactly once.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from base.refkey import reference_key
from domain.refs import client_ref
from messages.cases import ActivityName
from messages.comms import Channel, CommStatus, MailRequest, SendResult
from models.db import session_scope
from models.tables import Case, Client, Communication, Contact
from records.communications import (
    Draft,
    SendInFlight,
    begin_send,
    comm_key,
    crash_point,
    find,
    finish,
    message_id_for,
    record,
    release,
    result_of,
    still_in_flight,
    thread_id_for,
)

TEMPLATES = Path(__file__).resolve().parent / "templates" / "mail"
CONTACT_ORDER = ("primary", "backup", "after_hours")
DESK_NAME = "Vigie — Télésurveillance"


@dataclass(frozen=True)
class MailConfig:
    """How client mail leaves the desk (``VIGIE_MAIL_*`` and ``VIGIE_SMTP_RELAY_*``)."""

    transport: str = "capture"  # smtp | capture
    relay_host: str = ""
    relay_port: int = 25
    tls: str = "starttls"  # starttls | tls | none
    user: str = ""
    password: str = ""
    timeout: float = 20.0
    mail_from: str = "vigie@desk.example"
    reply_to: str = ""
    level2_email: str = ""
    timezone: str = "Europe/Paris"
    # key of the references' unguessable tags (domain/refs.py); empty: base.refkey's own
    ref_key: bytes = b""

    @classmethod
    def from_settings(cls, settings: Any) -> MailConfig:
        reply_to = settings.mail_reply_to or next(iter(sorted(settings.mailbox_set)), "")
        return cls(
            transport=settings.mail_transport,
            relay_host=settings.smtp_relay_host,
            relay_port=settings.smtp_relay_port,
            tls=settings.smtp_relay_tls,
            user=settings.smtp_relay_user,
            password=settings.smtp_relay_password,
            timeout=settings.smtp_relay_timeout,
            mail_from=settings.mail_from,
            reply_to=reply_to,
            level2_email=settings.level2_email,
            timezone=settings.timezone,
            ref_key=reference_key(settings),
        )

    @property
    def domain(self) -> str:
        return self.mail_from.rsplit("@", 1)[-1] or "desk.example"

    def shown_ref(self, case_ref: str) -> str:
        """The reference as the client sees it, with its unguessable tag."""
        return client_ref(case_ref, self.ref_key or reference_key())


# --- rendering -------------------------------------------------------------------------------

_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=False,  # plain-text mail: nothing is interpreted as markup by the reader
    undefined=StrictUndefined,  # a missing fact fails the test, not the client's mail
    keep_trailing_newline=True,
)


def render(step: str, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of the mail for ``step`` (``activities/templates/mail/<step>.txt.j2``,
    whose ``subject`` block is set at its top)."""
    module = _ENV.get_template(f"{step}.txt.j2").make_module(context)
    subject = " ".join(str(getattr(module, "subject", "")).split())
    body = re.sub(r"\n{3,}", "\n\n", str(module).strip())  # optional lines leave gaps
    return subject, body + "\n"


def local_time(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%d/%m/%Y à %H:%M")


def choose_contact(
    s: Session, client_id: int | None, channel: Channel, contact_id: int | None = None
) -> Contact | None:
    """The named contact, else the first one reachable on ``channel``: primary, backup, then
    after-hours, each by rank."""
    if contact_id is not None:
        return s.get(Contact, contact_id)
    if client_id is None:
        return None
    contacts = list(s.exec(select(Contact).where(Contact.client_id == client_id)).all())
    usable = [c for c in contacts if (c.email if channel == Channel.EMAIL else c.phone)]
    usable.sort(key=lambda c: (_role_rank(c.role), c.rank, c.id or 0))
    return usable[0] if usable else None


def _role_rank(role: str) -> int:
    return CONTACT_ORDER.index(role) if role in CONTACT_ORDER else len(CONTACT_ORDER)


def build_message(row: Communication, cfg: MailConfig, case_ref: str) -> EmailMessage:
    """The RFC 5322 message for a recorded mail: everything comes from the row, so the same
    row always gives the same message (same Message-ID, same Date)."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = mailbox(DESK_NAME, cfg.mail_from)
    msg["To"] = row.recipient
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.created_at)
    msg["Message-ID"] = row.message_id
    msg["References"] = thread_id_for(cfg.shown_ref(case_ref), cfg.domain)
    if cfg.reply_to:
        msg["Reply-To"] = cfg.reply_to
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies in loops
    msg["Content-Language"] = "fr"
    msg["X-Vigie-Case"] = case_ref
    msg["X-Vigie-Step"] = row.step
    msg.set_content(row.body, charset="utf-8", cte="quoted-printable")
    return msg


# --- the relay -------------------------------------------------------------------------------


class UncertainSend(Exception):
    """The connection broke after the message body was sent: the relay may have taken it."""


def relay_send(cfg: MailConfig, recipient: str, data: bytes) -> str:
    """One SMTP transaction, step by step so that a failure *before* the end of DATA (safe to
    retry) is told apart from one after it (:class:`UncertainSend`). Returns the relay's
    answer to DATA, kept as delivery evidence."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if cfg.tls == "tls":
        smtp = smtplib.SMTP_SSL(cfg.relay_host, cfg.relay_port, timeout=cfg.timeout,
                                context=context)
    else:
        smtp = smtplib.SMTP(cfg.relay_host, cfg.relay_port, timeout=cfg.timeout)
    try:
        smtp.ehlo()
        if cfg.tls == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if cfg.user:
            smtp.login(cfg.user, cfg.password)
        code, answer = smtp.mail(cfg.mail_from)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, answer, cfg.mail_from)
        code, answer = smtp.rcpt(recipient)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({recipient: (code, answer)})
        try:
            code, answer = smtp.data(data)
        except smtplib.SMTPResponseException:
            raise  # the relay said no: nothing was accepted
        except (OSError, smtplib.SMTPException) as exc:
            raise UncertainSend(f"{type(exc).__name__}: {exc}") from exc
        return f"{code} {answer.decode('utf-8', 'replace')}"
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def _permanent(exc: Exception) -> bool:
    """A 5xx refusal: sending the same message again would be refused again."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


# --- the activity ----------------------------------------------------------------------------


class MailActivities:
    def __init__(self, engine: Engine, cfg: MailConfig) -> None:
        self.engine = engine
        self.cfg = cfg

    def all(self) -> list:
        return [self.send_mail]

    @activity.defn(name=ActivityName.SEND_MAIL)
    def send_mail(self, req: MailRequest) -> SendResult:
        """Send one mail of a case, at most once (see the module's docstring)."""
        key = comm_key(req.case_ref, req.step, req.attempt)
        row = find(self.engine, key) or record(self.engine, self._draft(req, key))
        if row.status not in ("pending", "sending"):
            return result_of(row)  # an earlier attempt finished: the same answer again
        if not row.recipient:
            return result_of(finish(self.engine, row.id or 0, CommStatus.NO_RECIPIENT,
                                    sent=False, evidence=_no_recipient(req)))
        if row.status == "sending":
            if still_in_flight(row):
                raise SendInFlight(f"{key} : une autre tentative envoie peut-être encore")
            return result_of(finish(
                self.engine, row.id or 0, CommStatus.UNKNOWN, sent=False,
                evidence="envoi interrompu (arrêt du worker) après la remise au relais "
                f"possible : non renvoyé ; vérifier au relais le Message-ID {row.message_id}"))
        if self.cfg.transport == "smtp" and not self.cfg.relay_host:
            return result_of(finish(self.engine, row.id or 0, CommStatus.FAILED, sent=False,
                                    evidence="relais SMTP non configuré (VIGIE_SMTP_RELAY_HOST)"))
        if not begin_send(self.engine, row.id or 0):
            return result_of(find(self.engine, key) or row)  # another attempt holds it
        message = build_message(row, self.cfg, req.case_ref)
        raw = message.as_string()
        if self.cfg.transport != "smtp":  # capture: stored and marked in one transaction
            return result_of(finish(self.engine, row.id or 0, CommStatus.SENT, raw=raw,
                                    source="capture",
                                    evidence="conservé par la boîte de capture locale "
                                    "(VIGIE_MAIL_TRANSPORT=capture) ; rien n'a quitté la machine"))
        try:
            answer = relay_send(self.cfg, _address(row.recipient), message.as_bytes())
        except UncertainSend as exc:
            return result_of(finish(self.engine, row.id or 0, CommStatus.UNKNOWN, raw=raw,
                                    evidence=f"connexion perdue pendant DATA : {exc} ; non "
                                    f"renvoyé, vérifier au relais le Message-ID {row.message_id}"))
        except (OSError, smtplib.SMTPException) as exc:
            if _permanent(exc):
                return result_of(finish(self.engine, row.id or 0, CommStatus.FAILED, sent=False,
                                        source="relay", evidence=f"refusé par le relais : {exc}"))
            release(self.engine, row.id or 0, f"relais indisponible : {exc}")
            raise  # nothing was accepted: Temporal's retry sends again
        crash_point()
        return result_of(finish(self.engine, row.id or 0, CommStatus.SENT, raw=raw,
                                source="relay",
                                evidence=f"accepté par le relais {self.cfg.relay_host}:"
                                f"{self.cfg.relay_port} : {answer}"))

    def _draft(self, req: MailRequest, key: str) -> Draft:
        """Recipient and text, decided once: a retry sends what was recorded."""
        with session_scope(self.engine) as s:
            case = s.get(Case, req.case_id)
            client = s.get(Client, case.client_id) if case and case.client_id else None
            contact = None
            if req.to_level2:
                recipient = self.cfg.level2_email
            else:
                contact = choose_contact(s, case.client_id if case else None, Channel.EMAIL,
                                         req.contact_id)
                recipient = mailbox(contact.name, contact.email) if contact else ""
            context = {
                "ref": self.cfg.shown_ref(req.case_ref),
                "title": (case.title if case else "") or req.title,
                "host": (case.host or "") if case else "",
                "opened_at": local_time(case.opened_at if case else req.at, self.cfg.timezone),
                "demande_ref": req.demande_ref or (case.demande_ref if case else None) or "",
                "client_name": client.name if client else "",
                "contact_name": contact.name if contact else "",
                "text": req.text.strip(),
                "after_calls": req.after_calls,
            }
        if req.step not in _STEPS:
            raise ApplicationError(f"aucun modèle de mail pour l'étape {req.step}",
                                   non_retryable=True)
        subject, body = render(req.step, context)
        return Draft(
            key=key,
            case_id=req.case_id,
            channel=Channel.EMAIL,
            step=req.step,
            attempt=req.attempt,
            transport=self.cfg.transport,
            workflow_id=req.workflow_id,
            recipient=recipient,
            contact_id=contact.id if contact else None,
            subject=subject,
            body=body,
            # tagged: a reply quoting it proves the sender saw this very mail
            message_id=message_id_for(self.cfg.shown_ref(req.case_ref), req.step, req.attempt,
                                      self.cfg.domain),
        )


_STEPS = frozenset(p.name.removesuffix(".txt.j2") for p in TEMPLATES.glob("[!_]*.txt.j2"))


def mailbox(name: str, address: str) -> str:
    """``Name <address>``, quoted where the name needs it, kept in Unicode (the header is
    encoded when the message is built); a name stored with a line break (before issue 21's
    input check) is put on one line."""
    return str(Address(display_name=" ".join(name.split()), addr_spec=address))


def _address(recipient: str) -> str:
    return parseaddr(recipient)[1]


def _no_recipient(req: MailRequest) -> str:
    if req.to_level2:
        return "aucune adresse du niveau 2 (VIGIE_LEVEL2_EMAIL)"
    return "aucun contact du client n'a d'adresse e-mail"
