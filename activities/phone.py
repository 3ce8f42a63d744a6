"""Calls and SMS to clients through Twilio's real SDK, or recorded only (dry-run).

Each call and SMS is a communication recorded before the SDK is called (``records.communications``).
Twilio accepts no idempotency key on ``Calls``/``Messages`` create, but its API can be asked
what exists: a row found at ``sending`` (the worker died between Twilio's answer and the mark)
is **reconciled** against Twilio's own list (a message to that number from ours with exactly
the recorded body, which carries the row's reply code; or a call to that number from ours
created after the row) that no other row claims. Found: the row takes its SID, nothing is sent
again. Not found: Twilio never got it, and it is sent now. Any failure that might have reached
Twilio (timeout, 5xx) likewise leaves the row at ``sending`` for the retry to reconcile, so a
call or SMS is sent exactly once as far as Twilio's API can tell.

The SDK is pointed at another base URL (the tests' fake REST API on loopback) through its
documented extension point, a custom ``http_client``: :class:`RebasedHttpClient` rewrites the
scheme and host of each request. ``edge``/``region`` only build ``*.twilio.com`` host names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio import activity
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client as TwilioClient

from activities.mail import choose_contact
from base.refkey import reference_key
from base.settings import same_names
from domain.calendar import default_calendar
from domain.refs import client_ref
from messages.cases import ActivityName
from messages.comms import (
    CallMode,
    CallRequest,
    Channel,
    CommStatus,
    ContactInfo,
    ContactPlan,
    PlanRequest,
    SendResult,
    SmsRequest,
)
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
    record,
    reply_code,
    result_of,
    still_in_flight,
)

SMS_TEXT_MAX = 300
AUTOMATED_SUBJECT = "Appel automatisé (message lu, touche 1 pour confirmer)"
CLICK_SUBJECT = "Mise en relation technicien - client"
RECONCILE_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class PhoneConfig:
    """How calls and SMS leave the desk (``VIGIE_PHONE_TRANSPORT``, ``VIGIE_TWILIO_*``,
    ``VIGIE_CALL_*``)."""

    transport: str = "dry-run"  # twilio | dry-run
    account_sid: str = ""
    auth_token: str = ""
    from_number: str = ""
    callback_base: str = ""
    api_base: str = ""
    technician_phone: str = ""
    call_mode: str = "automated"
    call_attempts: int = 2
    call_retry_seconds: int = 300
    call_ring_seconds: int = 30
    call_answer_wait_seconds: int = 600

    @classmethod
    def from_settings(cls, settings: Any) -> PhoneConfig:
        return cls(
            transport=settings.phone_transport,
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            from_number=settings.twilio_from_number,
            callback_base=settings.twilio_callback_base.rstrip("/"),
            api_base=settings.twilio_api_base.rstrip("/"),
            **same_names(settings, "technician_phone", "call_mode", "call_attempts",
                "call_retry_seconds", "call_ring_seconds", "call_answer_wait_seconds"),
        )

    def missing(self, mode: CallMode | None = None) -> str:
        """The settings a real send lacks (French, for the evidence), or ''."""
        names = [
            name
            for name, value in (
                ("VIGIE_TWILIO_ACCOUNT_SID", self.account_sid),
                ("VIGIE_TWILIO_AUTH_TOKEN", self.auth_token),
                ("VIGIE_TWILIO_FROM_NUMBER", self.from_number),
                ("VIGIE_TWILIO_CALLBACK_BASE", self.callback_base),
            )
            if not value
        ]
        if mode == CallMode.CLICK_TO_CALL and not self.technician_phone:
            names.append("VIGIE_TECHNICIAN_PHONE")
        return ", ".join(names)


class RebasedHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, sending every request to ``base`` instead of Twilio's hosts.

    A custom ``http_client`` is the SDK's supported way to change transport behaviour; the
    path (``/2010-04-01/Accounts/...``), query, body and authentication are left untouched.
    """

    def __init__(self, base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base = base.rstrip("/")

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urlsplit(url)
        rebased = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        return super().request(method, rebased, *args, **kwargs)


def twilio_client(cfg: PhoneConfig) -> TwilioClient:
    http = RebasedHttpClient(cfg.api_base, timeout=20) if cfg.api_base else TwilioHttpClient(
        timeout=20)
    return TwilioClient(cfg.account_sid, cfg.auth_token, http_client=http)


# --- what is said and written ----------------------------------------------------------------


def sms_body(case_ref: str, text: str, code: str) -> str:
    """Short instructions; the case reference and the code let the client's answer
    ("OK 1234") be matched to this very SMS."""
    text = " ".join(text.split())
    if len(text) > SMS_TEXT_MAX:
        text = text[: SMS_TEXT_MAX - 1].rstrip() + "…"
    return f"Vigie {case_ref} : {text} Répondez OK {code} pour confirmer la réception."


def call_script(step: str, case_ref: str, title: str, demande_ref: str | None, text: str,
                client_name: str) -> str:
    """The French message an automated call reads (the keypress prompt is added by the
    TwiML route)."""
    who = f", pour {client_name}" if client_name else ""
    spoken_ref = " ".join(case_ref)  # read out letter by letter
    if step == "instructions":
        return (
            f"Bonjour. Ici le centre de télésurveillance Vigie{who}. Concernant l'incident "
            f"{title}, voici les consignes à appliquer de votre côté : {text.strip()}. "
            f"Référence du cas : {spoken_ref}."
        )
    demande = f" sous la référence {' '.join(demande_ref)}" if demande_ref else ""
    return (
        f"Bonjour. Ici le centre de télésurveillance Vigie{who}. Nous avons détecté un "
        f"incident majeur sur votre système : {title}. Une demande d'intervention a été "
        f"enregistrée{demande}. Un technicien doit organiser avec vous, dès maintenant, un "
        f"diagnostic de niveau 1 d'une durée inférieure à une heure."
    )


# --- the activities --------------------------------------------------------------------------


class PhoneActivities:
    def __init__(self, engine: Engine, cfg: PhoneConfig) -> None:
        self.engine = engine
        self.cfg = cfg

    def all(self) -> list:
        return [self.send_sms, self.place_call, self.plan_contacts]

    @activity.defn(name=ActivityName.PLAN_CONTACTS)
    def plan_contacts(self, req: PlanRequest) -> ContactPlan:
        """The client's contacts with a phone number, in calling order: during business hours
        primary then backup; outside them the after-hours contacts first."""
        contacts: list[Contact] = []
        if req.client_id is not None:
            with session_scope(self.engine) as s:
                contacts = list(s.exec(
                    select(Contact).where(Contact.client_id == req.client_id)).all())
        business = default_calendar().is_business_time(req.at)
        order = ("primary", "backup") if business else ("after_hours", "primary", "backup")
        phoned = [c for c in contacts if c.phone and c.role in order]
        phoned.sort(key=lambda c: (order.index(c.role), c.rank, c.id or 0))
        return ContactPlan(
            contacts=[
                ContactInfo(c.id or 0, c.name, c.role, c.rank, c.email, c.phone) for c in phoned
            ],
            mode=CallMode(self.cfg.call_mode),
            attempts_per_contact=max(1, self.cfg.call_attempts),
            retry_seconds=max(0, self.cfg.call_retry_seconds),
            answer_wait_seconds=max(self.cfg.call_answer_wait_seconds,
                                    self.cfg.call_ring_seconds + 30),
        )

    @activity.defn(name=ActivityName.SEND_SMS)
    def send_sms(self, req: SmsRequest) -> SendResult:
        key = comm_key(req.case_ref, req.step, req.attempt)
        row = find(self.engine, key)
        if row is None:
            with session_scope(self.engine) as s:
                case = s.get(Case, req.case_id)
                contact = choose_contact(s, case.client_id if case else None, Channel.SMS,
                                         req.contact_id)
            code = reply_code()
            row = record(self.engine, Draft(
                key=key, case_id=req.case_id, channel=Channel.SMS, step=req.step,
                attempt=req.attempt, transport=self.cfg.transport, workflow_id=req.workflow_id,
                recipient=contact.phone if contact else "",
                contact_id=contact.id if contact else None, subject="SMS",
                body=sms_body(client_ref(req.case_ref, reference_key()), req.text, code),
                code=code))
        return self._send(row, lambda client: client.messages.create(
            to=row.recipient, from_=self.cfg.from_number, body=row.body,
            status_callback=f"{self.cfg.callback_base}/twilio/status/sms/{row.id}"))

    @activity.defn(name=ActivityName.PLACE_CALL)
    def place_call(self, req: CallRequest) -> SendResult:
        key = comm_key(req.case_ref, req.step, req.attempt)
        row = find(self.engine, key)
        if row is None:
            with session_scope(self.engine) as s:
                contact = s.get(Contact, req.contact_id)
                case = s.get(Case, req.case_id)
                client = s.get(Client, case.client_id) if case and case.client_id else None
                script = call_script(req.step, req.case_ref, (case.title if case else "")
                                     or req.title, req.demande_ref, req.text,
                                     client.name if client else "")
            row = record(self.engine, Draft(
                key=key, case_id=req.case_id, channel=Channel.PHONE, step=req.step,
                attempt=req.attempt, transport=self.cfg.transport, workflow_id=req.workflow_id,
                recipient=contact.phone if contact else "",
                contact_id=contact.id if contact else None,
                subject=CLICK_SUBJECT if req.mode == CallMode.CLICK_TO_CALL
                else AUTOMATED_SUBJECT,
                body=script, code=reply_code()))
        base = self.cfg.callback_base
        click = row.subject == CLICK_SUBJECT
        params: dict[str, Any] = {
            "to": self.cfg.technician_phone if click else row.recipient,
            "from_": self.cfg.from_number,
            "url": f"{base}/twilio/{'bridge' if click else 'voice'}/{row.id}",
            "status_callback": f"{base}/twilio/status/call/{row.id}",
            "status_callback_event": ["initiated", "ringing", "answered", "completed"],
            "status_callback_method": "POST",
            "timeout": self.cfg.call_ring_seconds,
        }
        if not click:
            params["machine_detection"] = "Enable"  # AnsweredBy: human, machine_start, fax
        return self._send(row, lambda client: client.calls.create(**params),
                          mode=CallMode.CLICK_TO_CALL if click else CallMode.AUTOMATED)

    # --- the protocol, shared by SMS and calls ------------------------------------------

    def _send(self, row: Communication, create: Any, mode: CallMode | None = None) -> SendResult:
        comm_id = row.id or 0
        if row.status not in ("pending", "sending"):
            return result_of(row)
        if not row.recipient:
            return result_of(finish(self.engine, comm_id, CommStatus.NO_RECIPIENT, sent=False,
                                    evidence="aucun numéro de téléphone pour ce contact"))
        if self.cfg.transport != "twilio":
            what = "appel" if row.channel == Channel.PHONE else "SMS"
            return result_of(finish(
                self.engine, comm_id, CommStatus.DRY_RUN, sent=False, source="dry-run",
                raw=json.dumps({"to": row.recipient, "body": row.body}, ensure_ascii=False),
                evidence=f"dry-run : {what} vers {row.recipient} enregistré, non envoyé "
                "(VIGIE_PHONE_TRANSPORT=dry-run)"))
        missing = self.cfg.missing(mode)
        if missing:
            return result_of(finish(self.engine, comm_id, CommStatus.FAILED, sent=False,
                                    evidence=f"Twilio non configuré : {missing}"))
        client = twilio_client(self.cfg)
        if row.status == "sending":  # an attempt died after calling Twilio, or before
            if still_in_flight(row):  # or is still waiting for Twilio's answer
                raise SendInFlight(f"{row.key} : une autre tentative attend encore Twilio")
            sid = self._twin(client, row, mode)
            if sid is not None:
                return result_of(finish(
                    self.engine, comm_id, CommStatus.QUEUED, provider_id=sid, source="twilio",
                    evidence=f"repris après interruption : déjà chez Twilio ({sid}), non "
                    "renvoyé"))
        elif not begin_send(self.engine, comm_id):
            return result_of(find(self.engine, row.key) or row)
        try:
            created = create(client)
        except TwilioRestException as exc:
            if exc.status < 500 and exc.status != 429:
                return result_of(finish(self.engine, comm_id, CommStatus.FAILED, sent=False,
                                        source="twilio",
                                        evidence=f"refusé par Twilio ({exc.status}, "
                                        f"code {exc.code}) : {exc.msg}"))
            raise  # left at sending: the retry asks Twilio before sending again
        # Any other failure (timeout, connection lost) also leaves the row at ``sending``.
        crash_point()
        return result_of(finish(
            self.engine, comm_id, CommStatus.QUEUED, provider_id=created.sid, source="twilio",
            raw=json.dumps({"sid": created.sid, "to": created.to, "status": created.status}),
            evidence=f"confié à Twilio : {created.sid} ({created.status})"))

    def _twin(self, client: TwilioClient, row: Communication, mode: CallMode | None) -> str | None:
        """The Twilio resource an interrupted attempt created for ``row``, if any."""
        from_ = self.cfg.from_number
        if row.channel == Channel.SMS:
            items = client.messages.list(to=row.recipient, from_=from_, limit=50)
            found = [m.sid for m in items if m.body == row.body]
        else:
            to = self.cfg.technician_phone if mode == CallMode.CLICK_TO_CALL else row.recipient
            since = row.created_at - RECONCILE_SKEW
            items = client.calls.list(to=to, from_=from_, limit=50)
            found = [c.sid for c in items if c.date_created is None or c.date_created >= since]
        if not found:
            return None
        with session_scope(self.engine) as s:
            claimed = set(s.exec(
                select(Communication.provider_id).where(
                    col(Communication.provider_id).in_(found), Communication.id != row.id)
            ).all())
        free = [sid for sid in found if sid not in claimed]
        return free[-1] if free else None  # Twilio lists newest first: the oldest free one
