"""One serializer for a contract, shared by its page, the portal and the JSON API, so the API
never shows more than the page (the client's view drops evidence authors and the timeline's
internal lines)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from console.i18n import gettext
from contracts import store
from domain.contract import OPTIONS, ContractStatus
from models.contracts import Contract, Prerequisite, SensorDeployment
from models.tables import Client, Server

# Timeline lines a client user is shown (status changes and the checklist's progress).
CLIENT_TIMELINE = frozenset({"created", "status", "prerequisite_met", "prerequisite_waived",
                             "onboarding_activate"})


@dataclass
class ContractPage:
    contract: Contract
    client: Client
    prerequisites: list[Prerequisite]
    blockers: list[store.Blocker]
    timeline: list[Any]
    sensors: list[tuple[SensorDeployment, str]] = field(default_factory=list)


def load_contract(s: Session, contract_id: int, client_scope: int | None) -> ContractPage | None:
    contract = s.get(Contract, contract_id)
    if contract is None or (client_scope is not None and contract.client_id != client_scope):
        return None
    client = s.get(Client, contract.client_id)
    assert client is not None
    hosts = {srv.id: srv.hostname for srv in s.exec(
        select(Server).where(Server.client_id == contract.client_id))}
    events = store.timeline(s, contract_id)
    if client_scope is not None:
        events = [e for e in events if e.action in CLIENT_TIMELINE]
    return ContractPage(
        contract=contract,
        client=client,
        prerequisites=store.prerequisites(s, contract_id),
        blockers=store.blockers(s, contract),
        timeline=events,
        sensors=[(d, hosts.get(d.server_id, "?")) for d in store.sensors(s, contract_id)],
    )


def contract_rows(s: Session) -> list[dict[str, Any]]:
    """Every client with its contract status (a client without contract row: active)."""
    contracts = {c.client_id: c for c in s.exec(select(Contract))}
    out = []
    for client in s.exec(select(Client).order_by(col(Client.name))):
        c = contracts.get(client.id or 0)
        out.append({
            "client": client,
            "contract": c,
            "status": c.status if c else ContractStatus.ACTIVE,
            "blockers": store.blockers(s, c) if c else [],
        })
    return out


def serialize(page: ContractPage, *, for_client: bool) -> dict[str, Any]:
    """The contract as its page shows it. A client gets exactly what the portal's contract
    page shows (its state and the 3.1 items with their status), nothing of the desk's side."""
    c = page.contract
    if for_client:
        return {
            "id": c.id,
            "status": c.status,
            "prerequisites": [
                {"code": p.code, "label": p.label, "status": p.status}
                for p in page.prerequisites
            ],
        }
    prereqs = []
    for p in page.prerequisites:
        item: dict[str, Any] = {"code": p.code, "label": p.label, "mandatory": p.mandatory,
                                "status": p.status, "value": p.value}
        if not for_client:
            item.update(evidence=p.evidence, checked_by=p.checked_by,
                        checked_at=p.checked_at.isoformat() if p.checked_at else None,
                        waiver_reason=p.waiver_reason, waived_by=p.waived_by)
        prereqs.append(item)
    data: dict[str, Any] = {
        "id": c.id,
        "client": {"id": page.client.id, "code": page.client.code, "name": page.client.name},
        "status": c.status,
        "start_date": c.start_date.isoformat(),
        "options": list(c.options),
        "policies": list(c.policies),
        "activated_at": c.activated_at.isoformat() if c.activated_at else None,
        "terminated_at": c.terminated_at.isoformat() if c.terminated_at else None,
        "prerequisites": prereqs,
        "blockers": [{"what": b.what, "who": b.who} for b in page.blockers],
        "timeline": [{"at": e.at.isoformat(), "action": e.action, "to_status": e.to_status,
                      **({} if for_client else {"actor": e.actor, "reason": e.reason})}
                     for e in page.timeline],
    }
    if not for_client:
        data.update(users=c.users, servers=c.servers, contracted_days=c.contracted_days,
                    onboarding_days=c.onboarding_days, onboarding_rule=c.onboarding_rule,
                    onboarding_decided_by=c.onboarding_decided_by,
                    onboarding_visit_id=c.onboarding_visit_id,
                    technical_document=c.technical_document,
                    notice_received_on=c.notice_received_on.isoformat()
                    if c.notice_received_on else None,
                    notice_effective_at=c.notice_effective_at.isoformat()
                    if c.notice_effective_at else None,
                    sensors=[{"id": d.id, "server": host, "element": d.element,
                              "status": d.status} for d, host in page.sensors])
    return data


def option_label(key: str, lang: str) -> str:
    """A contract option in the page's language (the catalog's words; unknown keys as is)."""
    return gettext(lang, OPTIONS.get(key, key))
