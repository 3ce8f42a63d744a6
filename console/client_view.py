"""What a client user may know about its cases: one serializer for the portal and the API.

The portal pages and ``/api/cases`` for a client role are both built from these functions, so
the API can never show more than the page. Everything else stays on the desk's side: internal
notes, assignments, next steps, the ledger's actors, reasons and data, raw alert mails, the
level-2 team's own mail. Values keep their Python types (the templates format dates); the API
turns them into JSON with ``console.api.jsonable``.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from domain.refs import client_ref
from messages.comms import CommStep
from models.tables import AuditEvent, Case, Client, Communication

# Ledger actions a client is shown (no notes, assignments or internal repeats).
CLIENT_VISIBLE = frozenset(
    {"open", "classify", "record_contact", "register_demande", "start_l1", "escalate_l2",
     "recovery", "resolve", "close", "reopen"}
)  # fmt: skip
# Mail of the desk that never went to the client.
INTERNAL_STEPS = frozenset({CommStep.L2_HANDOVER.value})
# The only keys a client's case may carry (tests assert on this set).
SUMMARY_FIELDS = ("id", "ref", "title", "criticality", "state", "closed", "opened_at",
                  "demande_ref")
DETAIL_FIELDS = (*SUMMARY_FIELDS, "history", "messages")


def client_case_summary(c: Case, key: bytes) -> dict[str, Any]:
    """A line of the portal's lists; the reference as the desk's mails write it (tagged,
    ``domain/refs.py``), so a mail quoting it is recognised."""
    return {
        "id": c.id,
        "ref": client_ref(c.ref, key) if c.ref else c.ref,
        "title": c.title,
        "criticality": c.criticality,
        "state": c.state,
        "closed": c.closed,
        "opened_at": c.opened_at,
        "demande_ref": c.demande_ref,
    }


def client_case_detail(s: Session, c: Case, client: Client | None, key: bytes) -> dict[str, Any]:
    """The portal's case page: what happened to the case, when, and the messages sent."""
    history = [
        {"at": a.at, "action": a.action, "from_state": a.from_state, "to_state": a.to_state}
        for a in s.exec(
            select(AuditEvent)
            .where(AuditEvent.case_id == c.id)
            .order_by(col(AuditEvent.at), col(AuditEvent.seq))
        ).all()
        if a.action in CLIENT_VISIBLE
    ]
    messages = [
        {"at": m.sent_at or m.created_at, "channel": m.channel, "subject": m.subject}
        for m in s.exec(
            select(Communication)
            .where(Communication.case_id == c.id)
            .order_by(col(Communication.created_at))
        ).all()
        if m.step not in INTERNAL_STEPS
    ]
    return {**client_case_summary(c, key), "history": history, "messages": messages}
