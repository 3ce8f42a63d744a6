"""Client replies: a mail or SMS that answers the desk is attached to its case, **only** when
it provably comes from the client (issue 11).

The desk's mails carry the client-facing reference with its unguessable tag in their subject
(``[VIG-000123-k3f9qa]``, see ``domain/refs.py``) and tagged Message-IDs
(``<VIG-000123-k3f9qa.resolution.1@desk.example>``, thread root in ``References``). A reply is
attached to the case when

* its ``In-Reply-To``/``References`` quote a Message-ID the desk sent for that case (stored on
  the communication) and carrying the tag (method ``message_id``); an older untagged one
  counts only from a contact; or
* its subject names the case with the right tag **and** its ``From:`` address is a contact of
  the case's client (method ``contact``).

Anything else that names one of our cases (a stranger, a wrong or missing tag, a contact of
another client) is kept in the triage queue, marked unverified with the reason, for a
technician to attach or dismiss: never on the case, never silently dropped.

Both methods rest on headers the sender writes, so a reply must also pass the **same source
verification as an alert** of the case's client (``records/sources.py``: its fixed IPs, relays,
DKIM or SPF, issue 21 finding 2). A mail sent from client A's address with ``From:`` a client
B contact and B's tagged reference names B's case rightly, but its source is A's: it goes to
triage, flagged with the verifier's evidence, and never reaches B's case. A message naming
no case of ours is no reply at all: it is parsed as an alert. Headers only: no parser.

The reply is stored as an event row of family ``client_reply`` linked to the case (the console
shows it with the case's messages) and routed to the open case as a ``client_reply`` signal,
which writes it on the timeline. A reply to a closed case stays attached, unsignalled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import parseaddr

from sqlmodel import Session, col, select

from domain.refs import refs_in, tag_ok
from messages.cases import ClientReplySignal
from messages.comms import Channel
from models.tables import AlertEventRow, Case, Communication, Contact, RawMessage
from models.types import utcnow
from records.sources import SourceVerifier

REPLY_FAMILY = "client_reply"
REPLY_SIGNAL = "client_reply"
UNVERIFIED = "unverified"
_MSG_IDS = re.compile(r"<[^<>\s]+>")
_TEXT_CHARS = 400


def case_ref_of(data: bytes) -> str | None:
    """The case a message names, from its headers (our Message-IDs first, then subject)."""
    head = BytesHeaderParser(policy=default_policy).parsebytes(data)
    for name in ("In-Reply-To", "References", "Subject"):
        found = refs_in(str(head.get(name, "")))
        if found:
            return found[0][0]
    return None


@dataclass(frozen=True)
class Judgement:
    """Where a reply goes: ``case`` with ``method``, or triage with ``reason``."""

    case: Case
    method: str  # message_id | contact | unverified
    reason: str = ""

    @property
    def attached(self) -> bool:
        return self.method != UNVERIFIED


def _is_contact(s: Session, client_id: int | None, *, email: str = "", phone: str = "") -> bool:
    if client_id is None:
        return False
    contacts = s.exec(select(Contact).where(Contact.client_id == client_id)).all()
    if email:
        return any(c.email.strip().lower() == email for c in contacts if c.email)
    digits = _digits(phone)
    return bool(digits) and any(_digits(c.phone) == digits for c in contacts if c.phone)


def judge_mail(s: Session, data: bytes, key: bytes) -> Judgement | None:
    """The case a mail answers and whether it is attached; None: it names no case of ours."""
    head = BytesHeaderParser(policy=default_policy).parsebytes(data)
    quoted = " ".join(str(head.get(n, "")) for n in ("In-Reply-To", "References"))
    sender = parseaddr(str(head.get("From", "")))[1].strip().lower()
    ids = _MSG_IDS.findall(quoted)
    if ids:
        sent = s.exec(
            select(Communication).where(col(Communication.message_id).in_(ids),
                                        col(Communication.case_id).is_not(None))
            .order_by(col(Communication.id).desc())
        ).first()
        if sent is not None:
            case = s.get(Case, sent.case_id)
            if case is not None:
                tagged = any(t and tag_ok(r, t, key) for r, t in refs_in(sent.message_id))
                if tagged or _is_contact(s, case.client_id, email=sender):
                    return Judgement(case, "message_id")
    named = refs_in(quoted) + refs_in(str(head.get("Subject", "")))
    for ref, tag in named:
        case = s.exec(select(Case).where(Case.ref == ref)).first()
        if case is None:
            continue
        contact = _is_contact(s, case.client_id, email=sender)
        if tag_ok(ref, tag, key) and contact:
            return Judgement(case, "contact")
        if not contact:
            reason = f"expéditeur {sender or '?'} : pas un contact du client de ce cas"
        elif tag is None:
            reason = "référence sans code de contrôle (et aucun Message-ID envoyé par le desk)"
        else:
            reason = "code de contrôle de la référence faux"
        return Judgement(case, UNVERIFIED, reason)
    return None


def attach_reply(s: Session, raw: RawMessage, key: bytes | None = None,
                 verifier: SourceVerifier | None = None) -> bool:
    """Store ``raw`` as a reply to the case it names (attached, or in triage if it cannot be
    shown to come from the client); False when it names no case of ours (then it is an
    alert, parsed as usual). ``verifier``: the batch's source rules (loaded when absent)."""
    if raw.channel != "smtp":
        return False
    if key is None:
        from base.refkey import reference_key

        key = reference_key()
    judged = judge_mail(s, raw.data, key)
    if judged is None:
        return False
    if judged.attached:
        verdict = (verifier or SourceVerifier.load(s)).verify(raw, judged.case.client_id)
        if not verdict.verified:  # right headers, wrong source: a technician decides
            judged = Judgement(judged.case, UNVERIFIED,
                               f"source non vérifiée pour le client de ce cas : "
                               f"{verdict.detail}")
    case = judged.case
    msg = BytesHeaderParser(policy=default_policy).parsebytes(raw.data)
    subject = str(msg.get("Subject", ""))
    sender = str(msg.get("From", "")) or raw.mail_from
    extra = {"case_ref": case.ref, "workflow_id": case.workflow_id, "sender": sender,
             "envelope": raw.mail_from, "in_reply_to": str(msg.get("In-Reply-To", "")),
             "verification": judged.method}
    if not judged.attached:
        extra["reason"] = judged.reason
    s.add(AlertEventRow(
        raw_message_id=raw.id or 0,
        idx=0,
        family=REPLY_FAMILY,
        status="reply",
        host=case.host,
        check=REPLY_FAMILY,
        summary=f"{subject} — {_first_text(raw.data)}"[:2000],
        extra=extra,
        fingerprint=case.fingerprint if judged.attached else "",
        client_id=case.client_id if judged.attached else None,
        server_id=case.server_id if judged.attached else None,
        case_id=case.id if judged.attached else None,
        received_at=raw.received_at,
        source_check=judged.method,
        source_detail=judged.reason[:300],
        triage="none" if judged.attached else "pending",
        # a closed case hears nothing more
        routed_at=utcnow() if judged.attached and case.closed else None,
    ))
    raw.parsed_at = utcnow()
    s.add(raw)
    return True


def judge_sms(s: Session, sender: str, body: str, key: bytes) -> Judgement | None:
    """The case an SMS answers. Attached when the number is a contact of the case's client
    and it names the case (tag or not: the number is what Twilio signed), or names none but
    the desk's latest SMS to this very number was about an open case."""
    for ref, _tag in refs_in(body):
        case = s.exec(select(Case).where(Case.ref == ref)).first()
        if case is None:
            continue
        if _is_contact(s, case.client_id, phone=sender):
            return Judgement(case, "contact")
        return Judgement(case, UNVERIFIED, f"numéro {sender or '?'} : pas un contact du "
                                           "client de ce cas")
    digits = _digits(sender)
    if not digits:
        return None
    for row in s.exec(select(Communication).where(Communication.channel == Channel.SMS)
                      .order_by(col(Communication.id).desc()).limit(500)).all():
        if _digits(row.recipient) == digits and row.case_id is not None:
            case = s.get(Case, row.case_id)
            if case is not None and not case.closed and _is_contact(s, case.client_id,
                                                                     phone=sender):
                return Judgement(case, "contact")
            return None
    return None


def store_sms_reply(s: Session, judged: Judgement, sender: str, body: str, sid: str) -> int:
    """An incoming SMS kept as a reply event (attached, or waiting in triage); its id, negated
    when the same SMS (same MessageSid) was already stored."""
    data = f"From: {sender}\r\nX-Twilio-MessageSid: {sid}\r\n\r\n{body}\r\n".encode()
    if sid:  # Twilio delivering the same SMS again: the first record stands
        known = s.exec(select(AlertEventRow.id).join(
            RawMessage, col(RawMessage.id) == AlertEventRow.raw_message_id).where(
            RawMessage.channel == "sms", RawMessage.message_id == sid[:998])).first()
        if known is not None:
            return -int(known)
    raw = RawMessage(message_id=sid[:998], sha256=_sha(data), peer_ip="", mail_from=sender,
                     channel="sms", size=len(data), data=data, parsed_at=utcnow())
    s.add(raw)
    s.flush()
    case = judged.case
    extra = {"case_ref": case.ref, "workflow_id": case.workflow_id, "sender": sender,
             "verification": judged.method, "channel": "sms"}
    if not judged.attached:
        extra["reason"] = judged.reason
    row = AlertEventRow(
        raw_message_id=raw.id or 0, idx=0, family=REPLY_FAMILY, status="reply",
        host=case.host, check=REPLY_FAMILY, summary=f"SMS — {body}"[:2000], extra=extra,
        fingerprint=case.fingerprint if judged.attached else "",
        client_id=case.client_id if judged.attached else None,
        case_id=case.id if judged.attached else None, received_at=raw.received_at,
        source_check=judged.method, source_detail=judged.reason[:300],
        triage="none" if judged.attached else "pending",
        routed_at=utcnow(),  # the console signals an attached SMS itself
    )
    s.add(row)
    s.flush()
    return row.id or 0


def reply_signal(row: AlertEventRow) -> tuple[str, ClientReplySignal] | None:
    """The case workflow to tell, and what; None for an event that is not a reply."""
    if row.family != REPLY_FAMILY:
        return None
    extra = row.extra or {}
    return str(extra.get("workflow_id", "")), ClientReplySignal(
        event_id=row.id,
        received_at=row.received_at,
        sender=str(extra.get("sender", "")),
        summary=row.summary[:500],
        channel=Channel.SMS if extra.get("channel") == "sms" else Channel.EMAIL,
    )


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number or "")


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _first_text(data: bytes) -> str:
    """The start of the reply's text, for the timeline (the whole message stays stored)."""
    from email import message_from_bytes

    msg = message_from_bytes(data, policy=default_policy)
    part = msg.get_body(preferencelist=("plain", "html")) if msg.is_multipart() else msg
    try:
        text = part.get_content() if part is not None else ""  # type: ignore[union-attr]
    except (LookupError, ValueError):
        text = ""
    lines = [ln for ln in str(text).splitlines() if ln.strip() and not ln.startswith(">")]
    return " ".join(" ".join(lines).split())[:_TEXT_CHARS]
