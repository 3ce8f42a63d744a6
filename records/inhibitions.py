"""Inhibition rules: while a cause is open, the alerts it explains page nobody.

Alertmanager's inhibition, on the desk's cases: an administrator writes "while a case of
*source* (family, check) is open, alerts of *target* (family, check) in the same client (or
the same site) are muted", with an expiry and a name. A muted alert is still recorded, with
triage ``inhibited``, linked to the source case's timeline, and says which rule muted it and
under which case; it opens no case. Site incidents do this on their own for a site's outage
(``records.incidents``); rules are for the causes the desk cannot guess (a backup server
that, when down, makes every job of the client fail). Every change of a rule is audited.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.db import session_scope
from models.incidents import InhibitionAudit, InhibitionRule
from models.tables import AlertEventRow, Case, Client, Server
from models.types import utcnow
from records.incidents import PARENT_FAMILIES

INHIBITED = "inhibited"
EQUALS = ("client", "site")
_CLOSED = ("resolved", "closed")
_EDITABLE = ("name", "expires_at")


@dataclass(frozen=True)
class RuleRequest:
    name: str
    expires_at: datetime
    created_by: str
    source_family: str = ""
    source_check: str = ""
    target_family: str = ""
    target_check: str = ""
    equal: str = "client"
    client_code: str = ""  # empty: every client


def _norm(value: str) -> str:
    return value.strip().lower()


def _snapshot(rule: InhibitionRule) -> dict[str, str]:
    return {k: str(getattr(rule, k)) for k in (
        "name", "client_id", "source_family", "source_check", "target_family", "target_check",
        "equal", "expires_at")}


def create_rule(engine: Engine, req: RuleRequest, at: datetime | None = None) -> InhibitionRule:
    """Validates and stores a rule (and its first audit line)."""
    at = at or utcnow()
    if not req.name.strip():
        raise ValueError("Nommez la règle d'inhibition")
    if not req.created_by.strip():
        raise ValueError("L'auteur de la règle doit être indiqué")
    if req.expires_at.tzinfo is None:
        raise ValueError("L'échéance de la règle doit avoir un fuseau horaire")
    if req.expires_at <= at:
        raise ValueError("L'échéance de la règle doit être dans le futur")
    if req.equal not in EQUALS:
        raise ValueError("Portée inconnue : client ou site")
    if not (req.source_family.strip() or req.source_check.strip()):
        raise ValueError("Indiquez la source (famille ou contrôle) de la règle")
    if not (req.target_family.strip() or req.target_check.strip()):
        raise ValueError("Indiquez la cible (famille ou contrôle) de la règle")
    with session_scope(engine) as s:
        client_id = None
        if req.client_code.strip():
            client_id = s.exec(select(Client.id).where(
                Client.code == req.client_code.strip())).first()
            if client_id is None:
                raise ValueError("Client inconnu")
        rule = InhibitionRule(
            name=req.name.strip()[:200], client_id=client_id,
            source_family=_norm(req.source_family), source_check=_norm(req.source_check),
            target_family=_norm(req.target_family), target_check=_norm(req.target_check),
            equal=req.equal, expires_at=req.expires_at, created_by=req.created_by,
            created_at=at)
        s.add(rule)
        s.flush()
        s.add(InhibitionAudit(rule_id=rule.id or 0, at=at, actor=req.created_by,
                              action="create", detail=_snapshot(rule)))
        return rule


def edit_rule(engine: Engine, rule_id: int, by: str, *, name: str | None = None,
              expires_at: datetime | None = None) -> InhibitionRule:
    """A new name or expiry; the audit keeps what it was."""
    with session_scope(engine) as s:
        rule = s.get(InhibitionRule, rule_id)
        if rule is None:
            raise LookupError("Règle d'inhibition introuvable")
        if rule.revoked_at is not None:
            raise ValueError("La règle est révoquée")
        before = _snapshot(rule)
        if name is not None and name.strip():
            rule.name = name.strip()[:200]
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ValueError("L'échéance de la règle doit avoir un fuseau horaire")
            rule.expires_at = expires_at
        after = _snapshot(rule)
        if after != before:
            s.add(rule)
            s.add(InhibitionAudit(rule_id=rule_id, actor=by, action="edit",
                                  detail={"before": before, "after": after}))
        return rule


def revoke_rule(engine: Engine, rule_id: int, by: str) -> InhibitionRule:
    """Ends a rule now (kept for the audit); revoking twice changes nothing."""
    with session_scope(engine) as s:
        rule = s.get(InhibitionRule, rule_id)
        if rule is None:
            raise LookupError("Règle d'inhibition introuvable")
        if rule.revoked_at is None:
            rule.revoked_at = utcnow()
            rule.revoked_by = by
            s.add(rule)
            s.add(InhibitionAudit(rule_id=rule_id, actor=by, action="revoke",
                                  detail=_snapshot(rule)))
        return rule


def list_rules(engine: Engine) -> list[InhibitionRule]:
    with Session(engine) as s:
        return list(s.exec(select(InhibitionRule).order_by(col(InhibitionRule.id).desc())))


def audit_of(engine: Engine) -> list[InhibitionAudit]:
    with Session(engine) as s:
        return list(s.exec(select(InhibitionAudit).order_by(col(InhibitionAudit.at).desc(),
                                                            col(InhibitionAudit.id).desc())))


def _matches(family: str, check: str, want_family: str, want_check: str) -> bool:
    return (not want_family or want_family == family.lower()) and (
        not want_check or want_check == check.lower())


def rules_in_force(s: Session, since: datetime) -> tuple[InhibitionRule, ...]:
    """Every rule that can mute an event received at ``since`` or later. The router keeps
    them with its reference data: a rule created, edited or revoked moves the reference
    generation (``models.refstamp``), so the next batch sees it."""
    return tuple(s.exec(select(InhibitionRule).where(
        InhibitionRule.expires_at > since, col(InhibitionRule.revoked_at).is_(None))
        .order_by(col(InhibitionRule.id))).all())


def inhibit_event(s: Session, row: AlertEventRow,
                  known: tuple[datetime, Sequence[InhibitionRule]] | None = None
                  ) -> InhibitionRule | None:
    """The router's hook: a problem that a rule in force mutes, under an open source case
    of the same client (or site), is flagged ``inhibited`` and linked to that case.

    ``known``: the rules in force since a time (:func:`rules_in_force`), kept by the router
    with its reference data; none, or an event older than that time: read here."""
    if row.status != "problem" or row.client_id is None or row.triage != "none":
        return None
    at = row.received_at
    if known is not None and at >= known[0]:
        candidates: Iterable[InhibitionRule] = known[1]
    else:
        candidates = s.exec(select(InhibitionRule).where(
            InhibitionRule.expires_at > at, col(InhibitionRule.revoked_at).is_(None)))
    rules = [r for r in candidates
             if r.expires_at > at and r.revoked_at is None
             and r.client_id in (None, row.client_id)
             and _matches(row.family, row.check, r.target_family, r.target_check)]
    if not rules:
        return None
    open_cases = list(s.exec(select(Case).where(
        Case.client_id == row.client_id, Case.closed == False,  # noqa: E712
        col(Case.state).not_in(_CLOSED), col(Case.family).not_in(PARENT_FAMILIES),
        Case.fingerprint != row.fingerprint).order_by(col(Case.opened_at))))
    site = _site_of(s, row.server_id)
    for rule in sorted(rules, key=lambda r: r.id or 0):
        for case in open_cases:
            if not _matches(case.family, case.check, rule.source_family, rule.source_check):
                continue
            if rule.equal == "site" and (site is None or _site_of(s, case.server_id) != site):
                continue
            row.triage = INHIBITED
            row.case_id = case.id
            row.extra = {**row.extra, "inhibited_by": rule.id, "inhibition": rule.name,
                         "inhibited_under": case.ref or str(case.id)}
            return rule
    return None


def _site_of(s: Session, server_id: int | None) -> int | None:
    srv = s.get(Server, server_id) if server_id else None
    return srv.site_id if srv is not None else None
