"""The client's technical document (3.2.1), versioned: every change is a new version.

Its sections are the contract's; the servers section is written from the live inventory
(name, kind, role, site, scope dates) each time a version is saved, so it cannot drift from
what the desk monitors. A visit records the version before and the version after it, and
the report shows the difference line by line (``difflib``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from sqlmodel import Session, col, select

from messages.words import N_
from models.tables import Client, Contact, Server, Site
from models.visits import ServerScope, TechDocVersion

# The contract's sections (3.2.1), in its order: key, French title (the console shows it in
# the page's language from its catalog; the report and the document write the French).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("contacts", N_("Contacts")),
    ("servers", N_("Serveurs (implantation, nommage, domaine, rôles)")),
    ("network", N_("Réseau (plan IP, postes clients, routage, accès internet)")),
    ("shares", N_("Partages et scripts")),
    ("security", N_("Sécurité")),
    ("backup", N_("Sauvegarde")),
    ("antivirus", N_("Antivirus")),
    ("mail", N_("Messagerie")),
    ("updates", N_("Politique de mises à jour")),
    ("remote", N_("Outils de télé-assistance")),
    ("devices", N_("Autres équipements (imprimantes, onduleurs)")),
    ("monitoring", N_("Configuration de la télésurveillance")),
    ("diagram", N_("Schéma du réseau")),
)
SECTION_KEYS = tuple(k for k, _ in SECTIONS)
GENERATED = frozenset({"servers", "contacts"})  # written from the inventory, not typed


@dataclass(frozen=True)
class DiffLine:
    section: str  # the section's French title (the report is French)
    kind: str  # added | removed
    text: str
    key: str = ""  # the section's key, for a page in another language


def servers_section(s: Session, client_id: int) -> str:
    rows = s.exec(select(Server, Site, ServerScope)
                  .join(Site, col(Site.id) == Server.site_id, isouter=True)
                  .join(ServerScope, col(ServerScope.server_id) == Server.id, isouter=True)
                  .where(Server.client_id == client_id)
                  .order_by(col(Server.hostname))).all()
    lines = []
    for srv, site, scope in rows:
        name = srv.display_name or srv.hostname.upper()
        parts = [name, "physique" if srv.kind == "physical" else "virtuel"]
        if srv.role:
            parts.append(srv.role)
        if site is not None:
            parts.append(f"site {site.name}")
        if scope is not None:
            since = f"sous contrat depuis le {scope.in_scope_from:%d/%m/%Y}"
            if scope.in_scope_to:
                since += f" jusqu'au {scope.in_scope_to:%d/%m/%Y}"
            parts.append(since)
        lines.append(" — ".join(parts))
    return "\n".join(lines)


# A contact's role in the document's words (the document is French, like the report).
CONTACT_ROLES = {"primary": "principal", "backup": "suppléant", "after_hours": "astreinte"}


def contacts_section(s: Session, client_id: int) -> str:
    rows = s.exec(select(Contact).where(Contact.client_id == client_id)
                  .order_by(col(Contact.rank))).all()
    return "\n".join(f"{c.name} ({CONTACT_ROLES.get(c.role, c.role)}) {c.email} {c.phone}"
                     .strip() for c in rows)


def latest(s: Session, client_id: int) -> TechDocVersion | None:
    return s.exec(select(TechDocVersion).where(TechDocVersion.client_id == client_id)
                  .order_by(col(TechDocVersion.version).desc())).first()


def version(s: Session, client_id: int, number: int | None) -> TechDocVersion | None:
    if number is None:
        return None
    return s.exec(select(TechDocVersion).where(TechDocVersion.client_id == client_id,
                                               TechDocVersion.version == number)).first()


def save_version(s: Session, client_id: int, sections: dict[str, str], by: str,
                 visit_id: int | None = None, diagram: tuple[str, bytes] | None = None,
                 ) -> TechDocVersion:
    """A new version from the typed sections, the inventory's servers and contacts, and the
    diagram (kept from the previous version unless a new file is given). A save that changes
    nothing returns the current version instead of writing a copy."""
    if s.get(Client, client_id) is None:
        raise ValueError(f"client {client_id} introuvable")
    current = latest(s, client_id)
    merged = {k: "" for k in SECTION_KEYS}
    if current is not None:
        merged.update(current.sections)
    merged.update({k: v.strip() for k, v in sections.items() if k in SECTION_KEYS
                   and k not in GENERATED})
    merged["servers"] = servers_section(s, client_id)
    merged["contacts"] = contacts_section(s, client_id)
    name, blob = (current.diagram_name, current.diagram) if current else ("", None)
    if diagram is not None:
        name, blob = diagram
        merged["diagram"] = f"fichier : {name}"
    if current is not None and current.sections == merged and current.diagram == blob:
        return current
    row = TechDocVersion(client_id=client_id, version=(current.version + 1) if current else 1,
                         sections=merged, diagram_name=name, diagram=blob, visit_id=visit_id,
                         created_by=by)
    s.add(row)
    s.flush()
    return row


def diff(before: TechDocVersion | None, after: TechDocVersion | None) -> list[DiffLine]:
    """What changed between two versions, section by section (added and removed lines)."""
    out: list[DiffLine] = []
    old = before.sections if before else {}
    new = after.sections if after else {}
    for key, title in SECTIONS:
        a = (old.get(key) or "").splitlines()
        b = (new.get(key) or "").splitlines()
        for line in difflib.ndiff(a, b):
            if line.startswith("+ "):
                out.append(DiffLine(title, "added", line[2:], key))
            elif line.startswith("- "):
                out.append(DiffLine(title, "removed", line[2:], key))
    return out
