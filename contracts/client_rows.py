"""Which rows are one client's: its raw messages, cases, visits and communications.

Both the access export (``contracts.privacy``) and erasure (``contracts.forget``) select a
client's rows the same way; this module is what they share, so neither imports the other
(erasure runs from ``contracts.privacy.erase_client``).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from models.tables import AlertEventRow, Case, Communication, Contact, RawMessage
from models.visits import Visit


def client_raw_message_ids(s: Session, client_id: int) -> list[int]:
    """Raw messages whose every event belongs to the client, or named by its token (and
    carrying no event of anyone else)."""
    mine = select(AlertEventRow.raw_message_id).where(AlertEventRow.client_id == client_id)
    owners: dict[int, set[int | None]] = {}
    for mid, cid in s.exec(select(AlertEventRow.raw_message_id, AlertEventRow.client_id)
                           .where(col(AlertEventRow.raw_message_id).in_(mine))).all():
        owners.setdefault(mid, set()).add(cid)
    hinted = [h for h in s.exec(select(RawMessage.id).where(
        RawMessage.client_hint_id == client_id)).all() if h is not None]
    for mid, cid in s.exec(select(AlertEventRow.raw_message_id, AlertEventRow.client_id)
                           .where(col(AlertEventRow.raw_message_id).in_(hinted))).all() \
            if hinted else []:
        owners.setdefault(mid, set()).add(cid)
    ids = {mid for mid, who in owners.items() if who == {client_id}}
    ids |= {h for h in hinted if h not in owners}
    return sorted(ids)


def client_case_ids(s: Session, client_id: int) -> list[int]:
    return [i for i in s.exec(select(Case.id).where(Case.client_id == client_id)).all() if i]


def client_visits(s: Session, client_id: int) -> list[Visit]:
    return list(s.exec(select(Visit).where(Visit.client_id == client_id)).all())


def client_communications(s: Session, client_id: int) -> list[Communication]:
    case_ids = client_case_ids(s, client_id)
    contact_ids = [i for i in s.exec(select(Contact.id).where(Contact.client_id == client_id))
                   .all() if i]
    rows: dict[int, Communication] = {}
    visit_workflows = [v.workflow_id for v in client_visits(s, client_id) if v.workflow_id]
    if visit_workflows:  # the visits' mails (proposals, reminders, reports)
        for c in s.exec(select(Communication).where(
                col(Communication.workflow_id).in_(visit_workflows))):
            rows[c.id or 0] = c
    if case_ids:
        for c in s.exec(select(Communication).where(col(Communication.case_id).in_(case_ids))):
            rows[c.id or 0] = c
    if contact_ids:
        for c in s.exec(select(Communication).where(
                col(Communication.contact_id).in_(contact_ids))):
            rows[c.id or 0] = c
    return [rows[k] for k in sorted(rows)]
