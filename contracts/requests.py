"""Erasure on request and by itself: one contact, a whole client, the expired ones.

* **One contact** (left the company): at any time, the client staying in service; the person
  is replaced by the contact's pseudonym wherever named (``contracts.forget``).
* **A whole client** on its instruction: at any time once its contract is terminated (no
  retention wait), or at once for a client with no contract record; a client still under
  contract is refused (terminate first: the termination closes its cases and visits, and
  erasure must not race it).
* **Expired**: every terminated client past ``VIGIE_DATA_RETENTION_DAYS``, from the
  ``vigie-erasure`` Temporal Schedule (``vigie.schedules``).

Every request is kept in ``erasure_request`` with its requester, its reason and its outcome;
a hold (a manager's legal hold, an open Demande) refuses with its reason.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from contracts import erasure, forget
from contracts.privacy import ErasureSummary, PrivacyError, erasable_from, erase_client, hold_reason
from domain.contract import ContractStatus
from models.contracts import Contract, ContractEvent, DataAccess
from models.db import session_scope
from models.privacy import ErasureRequest, LegalHold
from models.tables import Contact
from models.types import utcnow


def set_hold(engine: Engine, client_id: int, *, reason: str, by: str) -> int:
    if not reason.strip():
        raise PrivacyError("Indiquez la raison de la conservation (référence du dossier)")
    with session_scope(engine) as s:
        hold = LegalHold(client_id=client_id, reason=reason.strip(), set_by=by[:120])
        s.add(hold)
        s.flush()
        return hold.id or 0


def release_hold(engine: Engine, hold_id: int, *, by: str) -> None:
    with session_scope(engine) as s:
        hold = s.get(LegalHold, hold_id)
        if hold is None or hold.released_at is not None:
            return  # released already: nothing to do twice
        hold.released_at, hold.released_by = utcnow(), by[:120]
        s.add(hold)


def holds(s: Session, client_id: int) -> list[LegalHold]:
    return list(s.exec(select(LegalHold).where(LegalHold.client_id == client_id)
                       .order_by(col(LegalHold.id).desc())))


def requests_of(s: Session, client_id: int) -> list[ErasureRequest]:
    return list(s.exec(select(ErasureRequest).where(ErasureRequest.client_id == client_id)
                       .order_by(col(ErasureRequest.id).desc())))


def _refuse(engine: Engine, client_id: int, contact_id: int | None, by: str, reason: str,
            why: str) -> PrivacyError:
    with session_scope(engine) as s:
        s.add(ErasureRequest(client_id=client_id, contact_id=contact_id,
                             subject=f"contact-{contact_id}" if contact_id else "",
                             requested_by=by[:120], reason=reason, outcome="refused",
                             detail=why))
    return PrivacyError(why)


def erase_contact(engine: Engine, contact_id: int, *, by: str, reason: str) -> str:
    """One person erased wherever named; the client stays in service. A repeated request
    for a contact already erased answers so, without error."""
    with session_scope(engine) as s:
        contact = s.get(Contact, contact_id)
        if contact is None:
            done = s.exec(select(ErasureRequest).where(
                ErasureRequest.contact_id == contact_id, ErasureRequest.outcome == "done")
            ).first()
            if done is not None:
                return "contact déjà effacé"
            raise PrivacyError(f"Contact {contact_id} inconnu")
        client_id = contact.client_id
        held = hold_reason(s, client_id)
    if held is not None:
        raise _refuse(engine, client_id, contact_id, by, reason, held)
    if not reason.strip():
        raise PrivacyError("Indiquez le demandeur et la raison de l'effacement")
    with session_scope(engine) as s:
        contact = s.get(Contact, contact_id)
        assert contact is not None
        touched = forget.erase_contact_rows(s, contact)
        detail = ", ".join(f"{t} : {n}" for t, n in sorted(touched.rows.items()))
        s.add(ErasureRequest(client_id=client_id, contact_id=contact_id,
                             subject=f"contact-{contact_id}", requested_by=by[:120],
                             reason=reason, outcome="done", detail=detail, done_at=utcnow()))
        s.add(DataAccess(username=by[:120], role="", client_id=client_id, subject="erasure",
                         subject_id=contact_id))
    erasure.compact(engine, touched.tables)
    return detail


def erase_client_on_request(engine: Engine, client_id: int, *, by: str, reason: str
                            ) -> ErasureSummary:
    """The client's instruction: no retention wait; not while a contract is in force."""
    if not reason.strip():
        raise PrivacyError("Indiquez le demandeur et la raison de l'effacement")
    with Session(engine) as s:
        contract = s.exec(select(Contract).where(Contract.client_id == client_id)).first()
    if contract is not None and contract.status != ContractStatus.TERMINATED:
        raise _refuse(engine, client_id, None, by, reason,
                      "Contrat en cours : résiliez-le d'abord (la résiliation clôt les cas et "
                      "annule les visites avant l'effacement)")
    if contract is not None and not termination_done(engine, contract.id or 0):
        raise _refuse(engine, client_id, None, by, reason,
                      "Résiliation en cours : effacement possible quand elle aura clos les cas "
                      "et annulé les visites")
    return erase_client(engine, client_id, by=by, retention_days=0, reason=reason,
                        on_request=True)


def termination_done(engine: Engine, contract_id: int) -> bool:
    """The termination workflow's last step before its erase timer (cases closed, visits
    cancelled, the planners told) is on the timeline: erasure no longer races it."""
    with Session(engine) as s:
        return s.exec(select(ContractEvent.id).where(
            ContractEvent.contract_id == contract_id,
            ContractEvent.action == "planner_notice")).first() is not None


def erase_expired(engine: Engine, retention_days: int, at: datetime | None = None
                  ) -> list[str]:
    """Every terminated client past the retention, erased (the Schedule's job); a held one
    is left for the next run, its refusal recorded."""
    at = at or utcnow()
    with Session(engine) as s:
        due = [c.client_id for c in s.exec(select(Contract).where(
            Contract.status == ContractStatus.TERMINATED, col(Contract.erased_at).is_(None)))
            if (since := erasable_from(c, retention_days)) is not None and since <= at]
    done = []
    for client_id in due:
        try:
            summary = erase_client(engine, client_id, by="system", at=at,
                                   retention_days=retention_days,
                                   reason="fin de la durée de conservation")
            done.append(f"client {client_id} : {summary.describe()}")
        except PrivacyError as exc:
            done.append(f"client {client_id} : refusé — {exc}")
    return done
