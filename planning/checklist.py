"""The on-site checklist: a versioned template of the contract's items (3.2.4), and each
answer saved as the consultant types it.

A template version is never changed once a visit used it; a new list of items is a new
version, and each answer row remembers the version it was given against. ``save_answer`` is
called for every change (the console's page posts each field as it changes, and queues what
a lost connection could not send), so an answer already saved is never lost.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from models.types import utcnow
from models.visits import ChecklistAnswer, ChecklistTemplate

ANSWERS = ("ok", "ko", "na", "")
# an answer as the visit report writes it (French; the report is the contract's document)
ANSWER_LABELS = {"ok": "OK", "ko": "KO", "na": "n.a.", "": "à faire"}

# The contract's checklist (3.2.4), version 1: key, French label, English label, clause.
CONTRACT_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("alerting", "Outils d'alerte installés, vérifiés et à jour",
     "Alerting tools installed, checked and up to date"),
    ("access_control", "Contrôle d'accès (domaine, annuaire)",
     "Access control (domain, directory)"),
    ("redundancy", "Redondance des serveurs", "Server redundancy"),
    ("backups", "Sauvegardes des serveurs", "Server backups"),
    ("antivirus", "Antivirus des serveurs", "Server antivirus"),
    ("firewall", "Équipement de sécurité internet (pare-feu)",
     "Internet security appliance (firewall)"),
    ("ups", "Onduleurs", "UPS"),
    ("performance", "Performances et disponibilité des serveurs et du réseau",
     "Server and network performance and availability"),
    ("updates", "Mises à jour de sécurité appliquées (ou personnel formé)",
     "Security updates applied (or staff trained)"),
)


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    label_en: str
    answer: str = ""
    notes: str = ""
    case_id: int | None = None


def current_template(s: Session) -> ChecklistTemplate:
    """The newest template; version 1 (the contract's items) is written on first use."""
    found = s.exec(select(ChecklistTemplate).order_by(col(ChecklistTemplate.version).desc())
                   ).first()
    if found is not None:
        return found
    template = ChecklistTemplate(version=1, items=[
        {"key": k, "label": fr, "label_en": en, "clause": "3.2.4"} for k, fr, en in CONTRACT_ITEMS
    ])
    s.add(template)
    s.flush()
    return template


def template_for(s: Session, visit_id: int) -> ChecklistTemplate:
    """The version this visit's answers were given against (the newest if none yet)."""
    first = s.exec(select(ChecklistAnswer.template_version)
                   .where(ChecklistAnswer.visit_id == visit_id)).first()
    if first is not None:
        found = s.exec(select(ChecklistTemplate).where(ChecklistTemplate.version == first)
                       ).first()
        if found is not None:
            return found
    return current_template(s)


def items_of(s: Session, visit_id: int) -> list[Item]:
    template = template_for(s, visit_id)
    answers = {a.item_key: a for a in s.exec(
        select(ChecklistAnswer).where(ChecklistAnswer.visit_id == visit_id)).all()}
    out = []
    for it in template.items:
        a = answers.get(it["key"])
        out.append(Item(it["key"], it["label"], it.get("label_en", it["label"]),
                        a.answer if a else "", a.notes if a else "",
                        a.case_id if a else None))
    return out


def save_answer(s: Session, visit_id: int, key: str, answer: str | None, notes: str | None,
                by: str) -> ChecklistAnswer:
    """Saves one item (answer, notes, or both); ``None`` keeps what was saved before."""
    template = template_for(s, visit_id)
    if key not in {it["key"] for it in template.items}:
        raise ValueError(f"élément de check-list inconnu : {key}")
    if answer is not None and answer not in ANSWERS:
        raise ValueError(f"réponse invalide : {answer} (ok, ko, na)")
    row = s.exec(select(ChecklistAnswer).where(ChecklistAnswer.visit_id == visit_id,
                                               ChecklistAnswer.item_key == key)).first()
    if row is None:
        row = ChecklistAnswer(visit_id=visit_id, item_key=key,
                              template_version=template.version)
    if answer is not None:
        row.answer = answer
    if notes is not None:
        row.notes = notes[:4000]
    row.updated_by = by
    row.updated_at = utcnow()
    s.add(row)
    s.flush()
    return row


def link_case(s: Session, visit_id: int, key: str, case_id: int, by: str) -> None:
    row = save_answer(s, visit_id, key, None, None, by)
    row.case_id = case_id
    s.add(row)


def open_items(s: Session, visit_id: int) -> list[str]:
    """Items not answered yet: listed on a report written at the end of the visit's day."""
    return [it.label for it in items_of(s, visit_id) if not it.answer]
