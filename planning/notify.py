"""The mails of a visit: who receives each one and what it says (French, plain text).

Decided once per (visit, step, attempt) by the mail activity, which records the result before
sending it (``records.communications``' protocol): a retry sends what was recorded, never twice.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email.headerregistry import Address
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlmodel import Session, select

from messages.visits import VisitMailRequest, VisitStep
from models.tables import Client, Contact, Site, User
from models.visits import ConsultantProfile, Visit
from planning.links import answer_url, sign_answer

TEMPLATES = Path(__file__).resolve().parents[1] / "activities" / "templates" / "visit"
DAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
             "septembre", "octobre", "novembre", "décembre")
CLIENT_STEPS = frozenset({VisitStep.PROPOSAL, VisitStep.REMINDER, VisitStep.CONFIRMED,
                          VisitStep.DAY_BEFORE_CLIENT, VisitStep.DATE_DROPPED})

_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=False,
                   undefined=StrictUndefined, keep_trailing_newline=True,
                   trim_blocks=True, lstrip_blocks=True)


@dataclass(frozen=True)
class VisitMailConfig:
    secret: str
    base_url: str
    timezone: str = "Europe/Paris"
    planner_email: str = ""
    report_email: str = ""
    mail_from: str = "vigie@desk.example"


@dataclass(frozen=True)
class Composed:
    recipient: str
    subject: str
    body: str


def mailbox(name: str, address: str) -> str:
    """``Name <address>``, quoted where the name needs it; a name stored with a line break
    before input refused them (issue 21) is put on one line, or the mail could not go."""
    return str(Address(display_name=" ".join(name.split()), addr_spec=address))


def visit_ref(visit_id: int) -> str:
    return f"VIS-{visit_id:05d}"


def day_label(iso: str | None) -> str:
    """"mardi 16 mars 2027"."""
    if not iso:
        return "—"
    d = dt.date.fromisoformat(iso)
    return f"{DAYS_FR[d.weekday()]} {d.day} {MONTHS_FR[d.month - 1]} {d.year}"


def primary_contact(s: Session, client_id: int) -> Contact | None:
    rows = [c for c in s.exec(select(Contact).where(Contact.client_id == client_id)).all()
            if c.email]
    order = {"primary": 0, "backup": 1, "after_hours": 2}
    rows.sort(key=lambda c: (order.get(c.role, 3), c.rank, c.id or 0))
    return rows[0] if rows else None


def consultant_address(s: Session, user_id: int | None) -> tuple[str, str]:
    """(name, address) of a consultant; the address from their profile, else their user
    name when it is an address."""
    if user_id is None:
        return "", ""
    user = s.get(User, user_id)
    profile = s.get(ConsultantProfile, user_id)
    name = (user.full_name or user.username) if user else ""
    email = profile.email if profile and profile.email else ""
    if not email and user and "@" in user.username:
        email = user.username
    return name, email


def compose(s: Session, req: VisitMailRequest, cfg: VisitMailConfig) -> Composed:
    visit = s.get(Visit, req.visit_id)
    if visit is None:
        raise ValueError(f"visite {req.visit_id} introuvable")
    client = s.get(Client, visit.client_id)
    site = s.get(Site, visit.site_id) if visit.site_id else None
    contact = primary_contact(s, visit.client_id)
    consultant_name, consultant_email = consultant_address(s, visit.consultant_id)
    ref = visit_ref(visit.id or 0)
    deadline = req.deadline
    choices = []
    none_url = ""
    if req.step in (VisitStep.PROPOSAL, VisitStep.REMINDER) and deadline is not None:
        for d in req.dates:
            token = sign_answer(cfg.secret, visit.id or 0, req.proposal, d, deadline)
            choices.append({"label": day_label(d), "url": answer_url(cfg.base_url, token)})
        none_url = answer_url(cfg.base_url, sign_answer(cfg.secret, visit.id or 0,
                                                        req.proposal, None, deadline))
    context: dict[str, Any] = {
        "ref": ref,
        "client_name": client.name if client else "",
        "site_name": site.name if site else (client.name if client else ""),
        "contact_name": contact.name if contact else "",
        "consultant_name": consultant_name,
        "choices": choices,
        "none_url": none_url,
        "deadline": deadline.astimezone(ZoneInfo(cfg.timezone)).strftime("%d/%m/%Y à %H:%M")
        if deadline else "—",
        "text": req.text,
        "proposal": req.proposal,
        "dates_text": ", ".join(day_label(d) for d in req.dates) or "—",
        "due_start": f"{visit.due_start:%d/%m/%Y}",
        "due_end": f"{visit.due_end:%d/%m/%Y}",
        "date_label": day_label(req.date),
        "visit_url": f"{cfg.base_url.rstrip('/')}/visits/{visit.id}",
    }
    module = _ENV.get_template(f"{req.step}.txt.j2").make_module(context)
    subject = " ".join(str(getattr(module, "subject", "")).split())
    body = re.sub(r"\n{3,}", "\n\n", str(module).strip()) + "\n"
    if req.step in CLIENT_STEPS:
        recipient = mailbox(contact.name, contact.email) if contact else ""
    elif req.step == VisitStep.DAY_BEFORE_CONSULTANT:
        recipient = mailbox(consultant_name, consultant_email) if consultant_email else ""
    elif req.step == VisitStep.PLANNER_ALERT:
        recipient = cfg.planner_email
    else:  # the report, to the monitoring team
        recipient = cfg.report_email
    return Composed(recipient, subject, body)
