"""The contract data layer: what the console, the intake and the contract activities share.

The console writes the *facts* here (a prerequisite checked with its evidence, a waiver, a
sensor installed); the *status* of a contract only moves through the contract workflows,
whose activities call :func:`set_status`. Every write that a workflow may retry carries a
key and is recorded once (``contract_event.key``).

The fixed IP recorded on the ``fixed_ip`` prerequisite is written to ``client.fixed_ips``,
the very field the intake's source check reads, so the checklist and the intake never
disagree about which address is the client's.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from domain.contract import (
    FIXED_IP,
    MONITORED,
    PREREQUISITES,
    ContractStatus,
    PrereqStatus,
    blocks_activation,
    initial_status,
    onboarding_sizing,
)
from models.contracts import Contract, ContractEvent, Prerequisite, SensorDeployment
from models.db import session_scope
from models.expectations import Expectation
from models.tables import Client, Server
from models.types import utcnow

SENSOR_ELEMENTS: tuple[str, ...] = ("agent", "hardware", "backup")  # + antivirus if bought
SENSOR_STATUSES = ("planned", "installed", "verified")
WAIVER_ROLES = frozenset({"manager", "admin"})


class ContractError(ValueError):
    """A refused change, with the sentence the console shows."""


def onboarding_workflow_id(contract_id: int) -> str:
    return f"contract-onboarding-{contract_id}"


def notice_workflow_id(contract_id: int, n: int) -> str:
    return f"contract-notice-{contract_id}-{n}"


# --- reading -------------------------------------------------------------------------------


def contract_of_client(s: Session, client_id: int) -> Contract | None:
    return s.exec(select(Contract).where(Contract.client_id == client_id)).first()


def client_status(s: Session, client_id: int) -> str:
    """The client's contract status; a client without a contract row counts as active."""
    c = contract_of_client(s, client_id)
    return c.status if c is not None else ContractStatus.ACTIVE


def unmonitored_client_ids(s: Session) -> frozenset[int]:
    """Clients whose events are stored and flagged but open no case (onboarding, ended)."""
    rows = s.exec(select(Contract.client_id, Contract.status)).all()
    return frozenset(cid for cid, status in rows if status not in MONITORED)


def prerequisites(s: Session, contract_id: int) -> list[Prerequisite]:
    order = {p.code: i for i, p in enumerate(PREREQUISITES)}
    rows = s.exec(select(Prerequisite).where(Prerequisite.contract_id == contract_id)).all()
    return sorted(rows, key=lambda p: (order.get(p.code, 99), p.id or 0))


def activation_blockers(s: Session, contract_id: int) -> list[Prerequisite]:
    return [p for p in prerequisites(s, contract_id) if blocks_activation(p.mandatory, p.status)]


def timeline(s: Session, contract_id: int) -> list[ContractEvent]:
    return list(s.exec(
        select(ContractEvent).where(ContractEvent.contract_id == contract_id)
        .order_by(col(ContractEvent.at), col(ContractEvent.id))
    ).all())


def sensors(s: Session, contract_id: int) -> list[SensorDeployment]:
    return list(s.exec(
        select(SensorDeployment).where(SensorDeployment.contract_id == contract_id)
        .order_by(col(SensorDeployment.server_id), col(SensorDeployment.element))
    ).all())


@dataclass(frozen=True)
class Blocker:
    """One thing that keeps a contract from moving on, and who can lift it."""

    what: str
    who: str  # admin | manager | planner


def blockers(s: Session, contract: Contract) -> list[Blocker]:
    """What blocks the contract now, as the console lists it for each role."""
    out: list[Blocker] = []
    if contract.status == ContractStatus.ONBOARDING:
        for p in activation_blockers(s, contract.id or 0):
            out.append(Blocker(f"Prérequis ouvert : {p.label}", "admin"))
        if contract.onboarding_days is None:
            out.append(Blocker("Durée d'installation à décider (cas non prévu au contrat)",
                               "planner"))
        pending = [d for d in sensors(s, contract.id or 0) if d.status == "planned"]
        if pending:
            out.append(Blocker(f"Sondes à déployer : {len(pending)} élément(s)", "planner"))
    elif contract.status == ContractStatus.NOTICE:
        out.append(Blocker("Mise en demeure en cours : manquement à corriger", "manager"))
    return out


# --- writing -------------------------------------------------------------------------------


def _normalize_options(options: list[str] | tuple[str, ...]) -> list[str]:
    from domain.contract import OPTIONS

    unknown = [o for o in options if o not in OPTIONS]
    if unknown:
        raise ContractError(f"Option inconnue : {', '.join(unknown)}")
    return sorted(set(options))


def create_contract(
    engine: Engine,
    client_id: int,
    start_date: date,
    *,
    by: str,
    users: int | None = None,
    servers: int | None = None,
    options: list[str] | tuple[str, ...] = (),
    policies: list[str] | tuple[str, ...] = (),
    contracted_days: int | None = None,
    at: datetime | None = None,
) -> Contract:
    """A new contract in *onboarding*, with its 3.1 checklist (options not bought: n/a).

    Sizes default to the inventory (the client's user count, its servers)."""
    at = at or utcnow()
    opts = _normalize_options(list(options))
    with session_scope(engine) as s:
        client = s.get(Client, client_id)
        if client is None:
            raise ContractError(f"Client {client_id} inconnu")
        if contract_of_client(s, client_id) is not None:
            raise ContractError(f"{client.name} a déjà un contrat")
        n_servers = len(s.exec(select(Server.id).where(Server.client_id == client_id)).all())
        contract = Contract(
            client_id=client_id,
            start_date=start_date,
            status=ContractStatus.ONBOARDING,
            options=opts,
            policies=[p for p in policies if p],
            users=client.users if users is None else users,
            servers=n_servers if servers is None else servers,
            contracted_days=contracted_days,
            created_by=by,
            created_at=at,
            updated_at=at,
        )
        if contract.users < 0 or contract.servers < 0:
            raise ContractError("Nombres d'utilisateurs et de serveurs positifs")
        s.add(contract)
        s.flush()
        cid = contract.id or 0
        contract.onboarding_workflow_id = onboarding_workflow_id(cid)
        ips = [i.strip() for i in client.fixed_ips.split(",") if i.strip()]
        for spec in PREREQUISITES:
            s.add(Prerequisite(
                contract_id=cid, client_id=client_id, code=spec.code, label=spec.label,
                mandatory=spec.mandatory, status=initial_status(spec, frozenset(opts)),
                value=", ".join(ips) if spec.code == FIXED_IP else "",
            ))
        # not in service yet: what was already watched waits for the activation
        paused = 0
        for exp in s.exec(select(Expectation).where(Expectation.client_id == client_id,
                                                    Expectation.state != "disabled")).all():
            exp.state = "disabled"
            exp.case_workflow_id, exp.case_opened, exp.muted_by_case_id = None, False, None
            s.add(exp)
            paused += 1
        _event(s, contract, f"contract:{cid}:created", at, "created", by,
               to_status=ContractStatus.ONBOARDING,
               data={"users": contract.users, "servers": contract.servers,
                     "options": ",".join(opts), "paused_expectations": paused})
        s.flush()
        s.expunge(contract)
        return contract


def _event(s: Session, contract: Contract, key: str, at: datetime, action: str, actor: str,
           *, reason: str = "", from_status: str | None = None, to_status: str | None = None,
           data: dict[str, Any] | None = None) -> bool:
    """Appends one timeline line unless its key is already there; True if written."""
    if s.exec(select(ContractEvent.id).where(ContractEvent.key == key)).first() is not None:
        return False
    s.add(ContractEvent(
        key=key[:300], contract_id=contract.id or 0, client_id=contract.client_id, at=at,
        action=action, actor=actor, reason=reason[:2000], from_status=from_status,
        to_status=to_status, data={k: str(v) for k, v in (data or {}).items()},
    ))
    return True


def append_event(engine: Engine, contract_id: int, key: str, at: datetime, action: str,
                 actor: str, *, reason: str = "", data: dict[str, Any] | None = None) -> bool:
    with session_scope(engine) as s:
        contract = s.get(Contract, contract_id)
        if contract is None:
            raise ContractError(f"Contrat {contract_id} introuvable")
        try:
            return _event(s, contract, key, at, action, actor, reason=reason, data=data)
        except IntegrityError:  # written by a concurrent retry
            return False


def _fixed_ips(value: str) -> list[str]:
    ips = [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    if not ips:
        raise ContractError("Indiquez l'adresse IP fixe du client")
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError as exc:
            raise ContractError(f"Adresse IP invalide : {ip}") from exc
    return ips


def record_prerequisite(
    engine: Engine,
    contract_id: int,
    code: str,
    *,
    status: str,
    evidence: str,
    by: str,
    value: str = "",
    at: datetime | None = None,
) -> Prerequisite:
    """An administrator records one item as met (with its evidence) or open again."""
    at = at or utcnow()
    if status not in (PrereqStatus.MET, PrereqStatus.OPEN):
        raise ContractError("Statut possible : rempli ou ouvert")
    evidence = evidence.strip()
    if status == PrereqStatus.MET and not evidence:
        raise ContractError("Un prérequis rempli demande sa preuve (document, constat, test)")
    with session_scope(engine) as s:
        contract = s.get(Contract, contract_id)
        item = s.exec(select(Prerequisite).where(Prerequisite.contract_id == contract_id,
                                                 Prerequisite.code == code)).first()
        if contract is None or item is None:
            raise ContractError("Prérequis introuvable")
        if contract.status == ContractStatus.TERMINATED:
            raise ContractError("Contrat résilié : la liste est close")
        if item.status == PrereqStatus.NOT_APPLICABLE:
            raise ContractError("Option non souscrite : sans objet")
        if code == FIXED_IP and status == PrereqStatus.MET:
            ips = _fixed_ips(value or item.value)
            item.value = ", ".join(ips)
            client = s.get(Client, contract.client_id)
            if client is not None:  # the address the intake checks senders against
                client.fixed_ips = ",".join(ips)
                s.add(client)
        item.status = status
        item.evidence = evidence[:4000]
        item.checked_by, item.checked_at = by, at
        if status == PrereqStatus.OPEN:
            item.waiver_reason, item.waived_by, item.waived_at = "", "", None
        s.add(item)
        _event(s, contract, f"prereq:{item.id}:{status}:{at.isoformat()}", at,
               "prerequisite_" + status, by, reason=evidence,
               data={"code": code, "value": item.value} if item.value else {"code": code})
        s.flush()
        s.expunge(item)
        return item


def waive_prerequisite(engine: Engine, contract_id: int, code: str, *, reason: str, by: str,
                       role: str, at: datetime | None = None) -> Prerequisite:
    """A manager lets the service start without one item; the reason is mandatory."""
    at = at or utcnow()
    if role not in WAIVER_ROLES:
        raise ContractError("Seul un responsable peut accorder une dérogation")
    reason = reason.strip()
    if not reason:
        raise ContractError("Une dérogation demande sa raison")
    with session_scope(engine) as s:
        contract = s.get(Contract, contract_id)
        item = s.exec(select(Prerequisite).where(Prerequisite.contract_id == contract_id,
                                                 Prerequisite.code == code)).first()
        if contract is None or item is None:
            raise ContractError("Prérequis introuvable")
        if contract.status != ContractStatus.ONBOARDING:
            raise ContractError("Dérogation possible avant la mise en service seulement")
        if item.status != PrereqStatus.OPEN:
            raise ContractError("Seul un prérequis ouvert peut faire l'objet d'une dérogation")
        item.status = PrereqStatus.WAIVED
        item.waiver_reason, item.waived_by, item.waived_at = reason[:2000], by, at
        s.add(item)
        _event(s, contract, f"prereq:{item.id}:waived:{at.isoformat()}", at,
               "prerequisite_waived", by, reason=reason, data={"code": code})
        s.flush()
        s.expunge(item)
        return item


def set_status(engine: Engine, contract_id: int, status: str, *, key: str, at: datetime,
               actor: str, reason: str = "", data: dict[str, Any] | None = None,
               **fields: Any) -> bool:
    """The contract workflows' projection write: status + fields + one timeline line, once."""
    with session_scope(engine) as s:
        contract = s.get(Contract, contract_id)
        if contract is None:
            raise ContractError(f"Contrat {contract_id} introuvable")
        before = contract.status
        if not _event(s, contract, key, at, "status", actor, reason=reason,
                      from_status=before, to_status=status, data=data):
            return False
        contract.status = status
        for name, value in fields.items():
            setattr(contract, name, value)
        contract.updated_at = at
        s.add(contract)
        return True


def update_contract(engine: Engine, contract_id: int, **fields: Any) -> None:
    with session_scope(engine) as s:
        contract = s.get(Contract, contract_id)
        if contract is None:
            raise ContractError(f"Contrat {contract_id} introuvable")
        for name, value in fields.items():
            setattr(contract, name, value)
        contract.updated_at = utcnow()
        s.add(contract)


def plan_sensors(engine: Engine, contract_id: int) -> int:
    """One *planned* line per monitored element of each server (idempotent)."""
    with session_scope(engine) as s:
        contract = s.get(Contract, contract_id)
        if contract is None:
            raise ContractError(f"Contrat {contract_id} introuvable")
        elements = [*SENSOR_ELEMENTS, *(["antivirus"] if "antivirus" in contract.options else [])]
        have = {(d.server_id, d.element) for d in sensors(s, contract_id)}
        added = 0
        for srv in s.exec(select(Server).where(Server.client_id == contract.client_id)).all():
            for element in elements:
                if (srv.id, element) not in have:
                    s.add(SensorDeployment(contract_id=contract_id, client_id=contract.client_id,
                                           server_id=srv.id or 0, element=element))
                    added += 1
        return added


def record_sensor(engine: Engine, deployment_id: int, status: str, *, by: str,
                  note: str = "", at: datetime | None = None) -> SensorDeployment:
    at = at or utcnow()
    if status not in SENSOR_STATUSES:
        raise ContractError(f"Statut de sonde inconnu : {status}")
    with session_scope(engine) as s:
        d = s.get(SensorDeployment, deployment_id)
        if d is None:
            raise ContractError("Élément introuvable")
        contract = s.get(Contract, d.contract_id)
        assert contract is not None
        d.status, d.by, d.at, d.note = status, by, at, note[:1000]
        s.add(d)
        _event(s, contract, f"sensor:{d.id}:{status}:{at.isoformat()}", at, "sensor_" + status,
               by, reason=note, data={"server_id": d.server_id, "element": d.element})
        s.flush()
        s.expunge(d)
        return d


def sizing_of(contract: Contract) -> Any:
    return onboarding_sizing(contract.users, contract.servers, contract.contracted_days)
