"""Client replies: a mail that answers one of the desk's messages is attached to its case.

The desk's mails carry the case reference in their subject (``[VIG-000123]``) and a
Message-ID derived from the case and step (``<VIG-000123.resolution.1@desk.example>``), with
the case's thread root (``<VIG-000123@desk.example>``) in ``References``. A reply quotes them:
``In-Reply-To``/``References`` are checked first (what mail programs keep even when the
subject is rewritten), then the subject. Headers only: no parser is involved, so a reply is
never mistaken for an alert and never lands in the triage queue.

The reply is stored as an event row of family ``client_reply`` linked to the case (the
console shows it with the case's messages) and routed to the open case as a ``client_reply``
signal, which writes it on the timeline. A reply to a closed case stays attached, unsignalled.
"""

from __future__ import annotations

import re
from email.parser import BytesHeaderParser
from email.policy import default as default_policy

from sqlmodel import Session, select

from models.tables import AlertEventRow, Case, RawMessage
from models.types import utcnow
from workflows.shared import ClientReplySignal

REPLY_FAMILY = "client_reply"
REPLY_SIGNAL = "client_reply"
_OUR_ID = re.compile(r"<(VIG-\d{6})(?:\.[\w.-]+)?@", re.I)
_REF = re.compile(r"\bVIG-\d{6}\b", re.I)
_TEXT_CHARS = 400


def case_ref_of(data: bytes) -> str | None:
    """The case a message answers, from its headers (our Message-IDs first, then subject)."""
    head = BytesHeaderParser(policy=default_policy).parsebytes(data)
    for name in ("In-Reply-To", "References"):
        found = _OUR_ID.search(str(head.get(name, "")))
        if found:
            return found.group(1).upper()
    found = _REF.search(str(head.get("Subject", "")))
    return found.group(0).upper() if found else None


def attach_reply(s: Session, raw: RawMessage) -> bool:
    """Store ``raw`` as a reply to the case it names; False when it names no case of ours
    (then it is an alert, parsed as usual)."""
    if raw.channel != "smtp":
        return False
    ref = case_ref_of(raw.data)
    if ref is None:
        return False
    case = s.exec(select(Case).where(Case.ref == ref)).first()
    if case is None:
        return False
    msg = BytesHeaderParser(policy=default_policy).parsebytes(raw.data)
    subject = str(msg.get("Subject", ""))
    sender = str(msg.get("From", "")) or raw.mail_from
    s.add(AlertEventRow(
        raw_message_id=raw.id or 0,
        idx=0,
        family=REPLY_FAMILY,
        status="reply",
        host=case.host,
        check=REPLY_FAMILY,
        summary=f"{subject} — {_first_text(raw.data)}"[:2000],
        extra={"case_ref": ref, "workflow_id": case.workflow_id, "sender": sender,
               "in_reply_to": str(msg.get("In-Reply-To", ""))},
        fingerprint=case.fingerprint,
        client_id=case.client_id,
        server_id=case.server_id,
        case_id=case.id,
        received_at=raw.received_at,
        routed_at=utcnow() if case.closed else None,  # a closed case hears nothing more
    ))
    raw.parsed_at = utcnow()
    s.add(raw)
    return True


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
    )


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
