"""The client's personal data, as its data processor must handle it (articles 5-7).

* **Access log**: every time staff read a client's case, a raw message or its contacts, one
  ``data_access`` row (who, role, which client, what, when); managers read it, and it is in
  the client's export.
* **Export**: one ZIP of JSON and CSV files with everything about one client, with or
  without a contract record: contacts, client users, raw messages (bodies as received),
  communications, cases and their ledger, visits and their ledger, checklists, visit reports,
  every technical-document version, the contract and its checklist, and the access log. A
  raw message is included only when every event parsed from it belongs to that client (or
  its webhook token names it), so nothing of another client can ride along.
* **Erasure** (:func:`erase_client`): every store of ``contracts.inventory`` reached through
  ``contracts.forget``; stable pseudonyms keep the ledgers' shape, so the SLA figures
  recompute identically; the client's payload key is destroyed (Temporal histories become
  unreadable). Requests, holds and the retention sweep: ``contracts.requests``.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from contracts.client_rows import (
    client_case_ids,
    client_communications,
    client_raw_message_ids,
    client_visits,
)
from domain.contract import ContractStatus
from domain.csv_export import csv_text
from messages.words import NC_, Contextual
from models.contracts import Contract, ContractEvent, DataAccess, Prerequisite
from models.db import session_scope
from models.tables import (
    AuditEvent,
    Case,
    Client,
    Contact,
    Demande,
    RawMessage,
    User,
)
from models.types import utcnow
from models.visits import TechDocVersion, Visit, VisitReport

# what the access log page calls each subject, in French under a context of their own,
# "journal" ("cas" alone is "cases" elsewhere in the console): the catalog says it in the
# page's language
SUBJECT_LABELS: dict[str, Contextual] = {
    "case": NC_("journal", "cas"), "raw_message": NC_("journal", "message brut"),
    "contacts": NC_("journal", "contacts"),
    "communications": NC_("journal", "liste des communications"),
    "communication": NC_("journal", "communication"), "visit": NC_("journal", "visite"),
    "visit_report": NC_("journal", "fiche de visite"),
    "techdoc": NC_("journal", "dossier technique"),
    "export": NC_("journal", "export"), "erasure": NC_("journal", "effacement"),
    "queue": NC_("journal", "file d'attente"), "portal": NC_("journal", "portail client"),
    "sla": NC_("journal", "chiffres SLA"),
}


class PrivacyError(ValueError):
    pass


# --- access log ----------------------------------------------------------------------------


def record_access(engine: Engine, *, username: str, role: str, client_id: int | None,
                  subject: str, subject_id: int | None = None, path: str = "") -> None:
    """One line per read of a client's personal data by staff (client users are not logged:
    they read their own company's data)."""
    if role == "client" or client_id is None:
        return
    with session_scope(engine) as s:
        s.add(DataAccess(username=username[:120], role=role[:20], client_id=client_id,
                         subject=subject, subject_id=subject_id, path=path[:300]))


def record_accesses(engine: Engine, *, username: str, role: str,
                    client_ids: list[int | None], subject: str, path: str = "",
                    include_client: bool = False) -> None:
    """One line per client shown by a list (the queue, the SLA cases, the portal), in one
    transaction. ``include_client``: the portal, where client users read their company's
    cases (its people's replies among them), is logged too."""
    ids = sorted({c for c in client_ids if c is not None and c > 0})
    if not ids or (role == "client" and not include_client):
        return
    with session_scope(engine) as s:
        for client_id in ids:
            s.add(DataAccess(username=username[:120], role=role[:20], client_id=client_id,
                             subject=subject, path=path[:300]))


def access_log(s: Session, client_id: int | None = None, limit: int = 500) -> list[DataAccess]:
    q = select(DataAccess).order_by(col(DataAccess.at).desc(), col(DataAccess.id).desc())
    if client_id is not None:
        q = q.where(DataAccess.client_id == client_id)
    return list(s.exec(q.limit(limit)).all())


# --- export --------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _rows(objs: list[Any], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{f: _plain(getattr(o, f)) for f in fields} for o in objs]


def _csv(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> str:
    """Formula-like cells neutralized, as in every CSV of the desk (domain/csv_export.py)."""
    return csv_text(list(fields), ([r.get(k) for k in fields] for r in rows))


CONTACT_FIELDS = ("id", "name", "email", "phone", "role", "rank")
USER_FIELDS = ("id", "username", "full_name", "role", "active")
MESSAGE_FIELDS = ("id", "message_id", "received_at", "peer_ip", "mail_from", "rcpt_to",
                  "channel", "size", "data")
COMM_FIELDS = ("id", "key", "case_id", "channel", "recipient", "subject", "body", "status",
               "created_at", "sent_at", "step", "transport", "message_id", "contact_id")
ACCESS_FIELDS = ("id", "at", "username", "role", "client_id", "subject", "subject_id", "path")
PREREQ_FIELDS = ("code", "label", "mandatory", "status", "value", "evidence", "checked_by",
                 "checked_at", "waiver_reason", "waived_by", "waived_at")


CASE_FIELDS = ("id", "ref", "workflow_id", "host", "family", "check", "target", "title",
               "state", "closed", "criticality", "assignee", "repeat_count", "recovered",
               "demande_ref", "opened_at", "last_seen", "l1_deadline", "updated_at")
LEDGER_FIELDS = ("id", "case_id", "seq", "at", "action", "actor", "from_state", "to_state",
                 "reason", "data", "policy_version")
VISIT_FIELDS = ("id", "kind", "site_id", "days", "contract_year", "due_start", "due_end",
                "date", "consultant_id", "state", "reason", "advice", "questions",
                "open_items", "started_at", "finished_at", "created_at")
VISIT_LEDGER_FIELDS = ("id", "visit_id", "seq", "at", "action", "actor", "from_state",
                       "to_state", "reason", "data")
CHECKLIST_FIELDS = ("id", "visit_id", "template_version", "item_key", "answer", "notes",
                    "case_id", "updated_by", "updated_at")
REPORT_FIELDS = ("id", "visit_id", "written_at", "sent_at", "html")
TECHDOC_FIELDS = ("id", "version", "sections", "diagram_name", "visit_id", "created_by",
                  "created_at")


def _flat(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """CSV cells: JSON columns written as JSON text."""
    return [{k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
             for k, v in r.items()} for r in rows]


def _sections(s: Session, client_id: int) -> dict[str, tuple[list[dict[str, Any]],
                                                             tuple[str, ...]]]:
    """Every section of the export, by file stem: rows and their columns."""
    from models.visits import ChecklistAnswer, VisitEvent

    def rows(model: Any, fields: tuple[str, ...], *where: Any) -> list[dict[str, Any]]:
        return _rows(list(s.exec(select(model).where(*where).order_by(col(model.id)))),
                     fields)

    case_ids = client_case_ids(s, client_id)
    visit_ids = [v.id for v in client_visits(s, client_id) if v.id]
    msg_ids = client_raw_message_ids(s, client_id)
    return {
        "contacts": (rows(Contact, CONTACT_FIELDS, Contact.client_id == client_id),
                     CONTACT_FIELDS),
        "users": (rows(User, USER_FIELDS, User.client_id == client_id), USER_FIELDS),
        "messages": (rows(RawMessage, MESSAGE_FIELDS, col(RawMessage.id).in_(msg_ids or [-1])),
                     MESSAGE_FIELDS),
        "communications": (_rows(client_communications(s, client_id), COMM_FIELDS),
                           COMM_FIELDS),
        "cases": (rows(Case, CASE_FIELDS, Case.client_id == client_id), CASE_FIELDS),
        "case_ledger": (rows(AuditEvent, LEDGER_FIELDS,
                             col(AuditEvent.case_id).in_(case_ids or [-1])), LEDGER_FIELDS),
        "visits": (rows(Visit, VISIT_FIELDS, Visit.client_id == client_id), VISIT_FIELDS),
        "visit_ledger": (rows(VisitEvent, VISIT_LEDGER_FIELDS,
                              col(VisitEvent.visit_id).in_(visit_ids or [-1])),
                         VISIT_LEDGER_FIELDS),
        "checklists": (rows(ChecklistAnswer, CHECKLIST_FIELDS,
                            col(ChecklistAnswer.visit_id).in_(visit_ids or [-1])),
                       CHECKLIST_FIELDS),
        "visit_reports": (rows(VisitReport, REPORT_FIELDS,
                               col(VisitReport.visit_id).in_(visit_ids or [-1])),
                          REPORT_FIELDS),
        "techdoc_versions": (rows(TechDocVersion, TECHDOC_FIELDS,
                                  TechDocVersion.client_id == client_id), TECHDOC_FIELDS),
        "access_log": (_rows(access_log(s, client_id, limit=100_000), ACCESS_FIELDS),
                       ACCESS_FIELDS),
    }


def export_client(engine: Engine, client_id: int, *, by: str, role: str) -> bytes:
    """Everything about one client as a ZIP, each section in JSON and CSV (the visit
    reports' PDFs beside them), for any client, with or without a contract record; the
    export itself is logged."""
    with Session(engine) as s:
        client = s.get(Client, client_id)
        if client is None:
            raise PrivacyError(f"Client {client_id} inconnu")
        record_access(engine, username=by, role=role, client_id=client_id, subject="export")
        sections = _sections(s, client_id)
        contract = s.exec(select(Contract).where(Contract.client_id == client_id)).first()
        prereqs = (_rows(list(s.exec(select(Prerequisite).where(
            Prerequisite.contract_id == contract.id)).all()), PREREQ_FIELDS)
            if contract is not None else [])
        contract_info = ({k: _plain(v) for k, v in contract.model_dump().items()}
                         if contract is not None else None)
        visit_ids = [v["id"] for v in sections["visits"][0]]
        pdfs = [(r.visit_id, r.pdf) for r in s.exec(select(VisitReport).where(
            col(VisitReport.visit_id).in_(visit_ids or [-1]))) if r.pdf]
    files = [f"{stem}.{ext}" for stem in sections for ext in ("json", "csv")]
    files += ["contract.json", *(f"visit_reports/visit-{v}.pdf" for v, _ in pdfs)]
    manifest = {
        "client": {"id": client.id, "code": client.code, "name": client.name},
        "exported_at": utcnow().isoformat(),
        "exported_by": by,
        "files": files,
        "counts": {stem: len(rows) for stem, (rows, _) in sections.items()},
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        def put(name: str, data: Any) -> None:
            z.writestr(name, json.dumps(data, ensure_ascii=False, indent=1))

        put("manifest.json", manifest)
        for stem, (rows, fields) in sections.items():
            put(f"{stem}.json", rows)
            z.writestr(f"{stem}.csv", _csv(_flat(rows), fields))
        put("contract.json", {"contract": contract_info, "prerequisites": prereqs})
        for visit_id, pdf in pdfs:
            z.writestr(f"visit_reports/visit-{visit_id}.pdf", pdf)
    return buf.getvalue()


# --- erasure -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureSummary:
    client_id: int
    contacts: int = 0
    messages: int = 0
    communications: int = 0
    ledger_lines: int = 0
    already: bool = False

    def describe(self) -> str:
        if self.already:
            return "données déjà effacées"
        return (f"{self.contacts} contact(s) supprimé(s), {self.messages} message(s) et "
                f"{self.communications} communication(s) vidés, {self.ledger_lines} ligne(s) "
                "du journal anonymisées ; chiffres SLA conservés")


def erasable_from(contract: Contract, retention_days: int) -> datetime | None:
    if contract.status != ContractStatus.TERMINATED or contract.terminated_at is None:
        return None
    return contract.terminated_at + timedelta(days=retention_days)


def hold_reason(s: Session, client_id: int) -> str | None:
    """Why the client's data may not be erased now: a legal hold set by a manager, or a
    Demande still open (its case is not closed); None when nothing holds it."""
    from models.privacy import LegalHold

    hold = s.exec(select(LegalHold).where(LegalHold.client_id == client_id,
                                          col(LegalHold.released_at).is_(None))).first()
    if hold is not None:
        return f"Conservation légale (posée par {hold.set_by}) : {hold.reason}"
    open_demande = s.exec(select(Demande.ref).join(Case, col(Case.id) == Demande.case_id)
                          .where(Case.client_id == client_id, col(Case.closed).is_(False))
                          ).first()
    if open_demande is not None:
        return f"Demande {open_demande} encore ouverte : effacement après sa clôture"
    return None


def already_erased(s: Session, client_id: int) -> bool:
    from models.privacy import ErasureRequest

    return s.exec(select(ErasureRequest.id).where(
        ErasureRequest.client_id == client_id, col(ErasureRequest.contact_id).is_(None),
        ErasureRequest.outcome == "done")).first() is not None


def erase_client(engine: Engine, client_id: int, *, by: str, at: datetime | None = None,
                 retention_days: int, reason: str = "", on_request: bool = False
                 ) -> ErasureSummary:
    """Erases the client's personal data from every store of the inventory; keeps the
    ledger's times, actions, classes and outcomes (SLA figures) under stable pseudonyms.
    Without ``on_request``: once its contract is terminated and the retention passed.
    With it (the client's instruction): at any time. A hold refuses either way."""
    from contracts import erasure, forget, keys
    from models.privacy import ErasureRequest

    at = at or utcnow()
    with session_scope(engine) as s:
        client = s.get(Client, client_id)
        contract = s.exec(select(Contract).where(Contract.client_id == client_id)).first()
        if client is None or (contract is None and not on_request):
            raise PrivacyError("Client ou contrat introuvable")
        if (contract is not None and contract.erased_at is not None) or already_erased(
                s, client_id):
            return ErasureSummary(client_id, already=True)
        if not on_request:
            assert contract is not None
            since = erasable_from(contract, retention_days)
            if since is None:
                raise PrivacyError("Effacement possible après la résiliation seulement")
            if at < since:
                raise PrivacyError(f"Durée de conservation en cours jusqu'au {since:%d/%m/%Y}")
        held = hold_reason(s, client_id)
        if held is not None:
            s.add(ErasureRequest(client_id=client_id, requested_by=by[:120], reason=reason,
                                 requested_at=at, outcome="refused", detail=held))
            s.commit()
            raise PrivacyError(held)
        touched = forget.erase_client_rows(s, client_id)
        rows = touched.rows
        summary = ErasureSummary(client_id, rows.get("contact", 0), rows.get("raw_message", 0),
                                 rows.get("communication", 0), rows.get("audit_event", 0))
        client = s.get(Client, client_id)
        assert client is not None
        client.code, client.active = f"efface-{client.id}", False
        s.add(client)
        if contract is not None:
            contract.erased_at = at
            s.add(contract)
            s.add(ContractEvent(key=f"contract:{contract.id}:erased",
                                contract_id=contract.id or 0, client_id=client_id, at=at,
                                action="erased", actor=by, reason=summary.describe()))
        s.add(ErasureRequest(client_id=client_id, requested_by=by[:120], reason=reason,
                             requested_at=at, outcome="done", detail=summary.describe(),
                             done_at=at))
        s.add(DataAccess(username=by[:120], role="system" if by == "system" else "",
                         client_id=client_id, subject="erasure", at=at))
        keys.destroy(s, client_id)  # its Temporal histories can no longer be read
    keys.forget_cached(client_id)
    erasure.compact(engine, [*touched.tables, "client_key"])
    return summary
