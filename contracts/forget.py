"""Which rows erasure reaches: a whole client's, or everything naming one contact.

The treatments come from the inventory (``contracts.inventory``) and the mechanics from
``contracts.erasure``; this module only knows how each table reaches a client (its id, its
cases, its visits, its communications, its users) and which tables must be searched by the
client's identifiers (triage, the sign-in log) because no client id is written there.
"""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from contracts.client_rows import client_communications, client_raw_message_ids
from contracts.erasure import Identities, Touched, _in, _table, apply, primary, rows_naming
from models.tables import Case, Contact, User

# Tables with no client id: found by the identifiers of the people erased.
SEARCHED = {
    "raw_message": ("data", "mail_from", "rcpt_to"),
    "alert_event": ("summary", "extra", "source_detail"),
    "communication": ("recipient", "body", "subject", "raw"),
    "sign_in_attempt": ("username",),
    "sign_in_lockout": ("subject", "username"),
    "audit_event": ("actor", "reason", "data"),
    "visit_event": ("actor", "reason", "data"),
    "silence_hit": ("summary",),
    "absence_event": ("detail",),
}
LOGIN_TABLES = ("sign_in_attempt", "sign_in_lockout")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def identities_of_client(s: Session, client_id: int, *, logins: bool = True) -> Identities:
    """The client's people: contacts (address, number, name) and client users (full name,
    and with ``logins`` their user names, which are searched in the sign-in log only: a
    login like "client-a" would match other clients' messages)."""
    ids = Identities()
    for c in s.exec(select(Contact).where(Contact.client_id == client_id)).all():
        for value in (c.email, c.phone, c.name):
            ids.add(value, f"contact-{c.id}")
    for u in s.exec(select(User).where(User.client_id == client_id)).all():
        for value in (u.username, u.full_name) if logins else (u.full_name,):
            ids.add(value, f"utilisateur-{u.id}")
    return ids


def identities_of_contact(contact: Contact) -> Identities:
    ids = Identities()
    for value in (contact.email, contact.phone, contact.name):
        ids.add(value, f"contact-{contact.id}")
    return ids


def _ids(s: Session, table: str, column: str, values: list[int] | int) -> list[int]:
    t = _table(table)
    key = primary(t)
    cond = t.c[column].in_(values or [-1]) if isinstance(values, list) else t.c[column] == values
    return [r[0] for r in s.execute(select(key).where(cond)).all()]


def _pseudonymize_addresses(ids: Identities, s: Session, table: str, column: str,
                            rows: list[int]) -> None:
    """Addresses nobody declared (a colleague answering for the client) get a pseudonym too,
    the same for every line they appear in."""
    if not rows:
        return
    t = _table(table)
    key = primary(t)
    for (value,) in s.execute(select(t.c[column]).where(key.in_(rows))).all():
        for found in EMAIL.finditer(value if isinstance(value, str) else str(value or "")):
            ids.add(found.group(0), f"personne-{len(ids.pseudonyms) + 1}")


def erase_client_rows(s: Session, client_id: int) -> Touched:
    """Every store of one client, as the inventory says; returns what was touched."""
    touched = Touched()
    ids = identities_of_client(s, client_id)
    case_ids = _ids(s, "case", "client_id", client_id)
    visit_ids = _ids(s, "visit", "client_id", client_id)
    user_ids = _ids(s, "user", "client_id", client_id)
    site_ids = _ids(s, "site", "client_id", client_id)
    audit = _ids(s, "audit_event", "case_id", case_ids)
    ledger = _ids(s, "visit_event", "visit_id", visit_ids)
    people = identities_of_client(s, client_id, logins=False)
    for found_in in (ids, people):  # the ledgers' actors: a person of the client's, by mail
        _pseudonymize_addresses(found_in, s, "audit_event", "actor", audit)
        _pseudonymize_addresses(found_in, s, "visit_event", "actor", ledger)
    comm_ids = [c.id for c in client_communications(s, client_id) if c.id]
    raw_ids = client_raw_message_ids(s, client_id)
    found = {t: rows_naming(s, t, cols, ids if t in LOGIN_TABLES else people)
             for t, cols in SEARCHED.items()}
    raw_ids = sorted(set(raw_ids) | set(found["raw_message"]))
    events = sorted(set(_ids(s, "alert_event", "client_id", client_id))
                    | set(_ids(s, "alert_event", "raw_message_id", raw_ids))
                    | set(found["alert_event"]))
    comm_ids = sorted(set(comm_ids) | set(found["communication"]))
    silences = _ids(s, "silence", "client_id", client_id)
    rules = _ids(s, "inhibition_rule", "client_id", client_id)  # issue 22's rules and children
    name = {"name": lambda key, _old: f"Client effacé n°{key}"}
    plan: list[tuple[str, list[int], dict | None]] = [
        ("communication_event", _ids(s, "communication_event", "communication_id", comm_ids),
         None),
        ("communication", comm_ids, None),
        ("raw_message", raw_ids, {"message_id": lambda key, _old: f"<efface-{key}>"}),
        ("alert_event", events, None),
        ("silence_hit", sorted(set(_ids(s, "silence_hit", "event_id", events))
                               | set(_ids(s, "silence_hit", "silence_id", silences))
                               | set(found["silence_hit"])), None),
        ("silence", silences, None),
        ("incident_child", _ids(s, "incident_child", "client_id", client_id), None),
        ("inhibition_audit", _ids(s, "inhibition_audit", "rule_id", rules), None),
        ("inhibition_rule", rules, None),
        ("audit_event", sorted(set(audit) | set(found["audit_event"])), None),
        ("case", case_ids, None),
        ("demande", _ids(s, "demande", "case_id", case_ids), None),
        ("visit_event", sorted(set(ledger) | set(found["visit_event"])), None),
        ("visit_report", _ids(s, "visit_report", "visit_id", visit_ids), None),
        ("checklist_answer", _ids(s, "checklist_answer", "visit_id", visit_ids), None),
        ("visit", visit_ids, None),
        ("techdoc_version", _ids(s, "techdoc_version", "client_id", client_id), None),
        ("contract", _ids(s, "contract", "client_id", client_id), None),
        ("contract_event", _ids(s, "contract_event", "client_id", client_id), None),
        ("prerequisite", _ids(s, "prerequisite", "client_id", client_id), None),
        ("sensor_deployment", _ids(s, "sensor_deployment", "client_id", client_id), None),
        ("server", _ids(s, "server", "client_id", client_id), None),
        ("expectation", _ids(s, "expectation", "client_id", client_id), None),
        ("absence_event", sorted(set(_ids(s, "absence_event", "client_id", client_id))
                                 | set(found["absence_event"])), None),
        ("source_rule", _ids(s, "source_rule", "client_id", client_id), None),
        ("source_token", _ids(s, "source_token", "client_id", client_id), None),
        ("sign_in_attempt", found["sign_in_attempt"], None),
        ("sign_in_lockout", found["sign_in_lockout"], None),
        ("user_session", _ids(s, "user_session", "user_id", user_ids), None),
        ("api_token", _ids(s, "api_token", "user_id", user_ids), None),
        ("site_place", _ids(s, "site_place", "site_id", site_ids), None),
        ("site_days", _ids(s, "site_days", "site_id", site_ids), None),
        ("idempotent_request",
         _ids(s, "idempotent_request", "actor", [f"user:{u}" for u in user_ids])
         if user_ids else [], None),
        ("site", site_ids, {"name": lambda key, _old: f"Site n°{key}"}),
        ("sender_domain", _ids(s, "sender_domain", "client_id", client_id), None),
        ("contact", _ids(s, "contact", "client_id", client_id), None),
        ("user", user_ids, {"username": lambda key, _old: f"efface-{key}",
                            "full_name": "", "password_hash": ""}),
        ("client", [client_id], name),
    ]
    contacts = _ids(s, "contact", "client_id", client_id)
    comm = _table("communication")
    s.execute(comm.update().where(comm.c.contact_id.in_(contacts or [-1])).values(
        contact_id=None))  # the contacts go: their mails stay, addressed to nobody
    for table, rows, pseudonym in plan:
        apply(s, table, rows, ids, touched, pseudonym=pseudonym)
    for table in ("sign_in_attempt", "sign_in_lockout"):  # where from: no longer anyone's
        rows = found[table]
        if rows:
            t = _table(table)
            s.execute(t.update().where(_in(table, "id", rows)).values(ip=""))
            if "user_agent" in t.c:
                s.execute(t.update().where(_in(table, "id", rows)).values(user_agent=""))
    for case in s.exec(select(Case).where(col(Case.id).in_(case_ids or [-1]))).all():
        # a title quotes the alert ("échec de connexion de jdupont"): machine words only
        case.title = f"{case.host or '?'} — {case.check or case.family}"[:300]
        s.add(case)
    for u in s.exec(select(User).where(col(User.id).in_(user_ids or [-1]))).all():
        u.active = False
        s.add(u)
    return touched


def erase_contact_rows(s: Session, contact: Contact) -> Touched:
    """One person, wherever named: scrubbed to the contact's pseudonym; the row deleted."""
    touched = Touched()
    ids = identities_of_contact(contact)
    client_id = contact.client_id
    case_ids = _ids(s, "case", "client_id", client_id)
    visit_ids = _ids(s, "visit", "client_id", client_id)
    # the same person's portal account (named after them) goes with them
    users = [u for u in s.exec(select(User).where(User.client_id == client_id)).all()
             if u.id in rows_naming(s, "user", ("username", "full_name"), ids)]
    people = identities_of_contact(contact)
    for u in users:
        for value in (u.username, u.full_name):
            ids.add(value, f"utilisateur-{u.id}")
        people.add(u.full_name, f"utilisateur-{u.id}")
    found = {t: rows_naming(s, t, cols, ids if t in LOGIN_TABLES else people)
             for t, cols in SEARCHED.items()}
    mine = {"communication": sorted(set(found["communication"]) | set(
        _ids(s, "communication", "contact_id", contact.id or -1)))}
    for table, rows in [
        ("communication", mine["communication"]),
        ("communication_event", _ids(s, "communication_event", "communication_id",
                                     mine["communication"])),
        ("raw_message", found["raw_message"]),
        ("alert_event", found["alert_event"]),
        ("audit_event", sorted(set(found["audit_event"])
                               | set(_ids(s, "audit_event", "case_id", case_ids)))),
        ("visit_event", sorted(set(found["visit_event"])
                               | set(_ids(s, "visit_event", "visit_id", visit_ids)))),
        ("visit", visit_ids),
        ("visit_report", _ids(s, "visit_report", "visit_id", visit_ids)),
        ("checklist_answer", _ids(s, "checklist_answer", "visit_id", visit_ids)),
        ("techdoc_version", _ids(s, "techdoc_version", "client_id", client_id)),
        ("demande", _ids(s, "demande", "case_id", case_ids)),
        ("silence_hit", found["silence_hit"]),
        ("absence_event", found["absence_event"]),
        ("case", case_ids),
        ("server", _ids(s, "server", "client_id", client_id)),
        ("expectation", _ids(s, "expectation", "client_id", client_id)),
        ("contract_event", _ids(s, "contract_event", "client_id", client_id)),
        ("prerequisite", _ids(s, "prerequisite", "client_id", client_id)),
        ("sign_in_attempt", found["sign_in_attempt"]),
        ("sign_in_lockout", found["sign_in_lockout"]),
    ]:
        apply(s, table, rows, ids, touched, scrub_only=True)
    user_ids = [u.id for u in users if u.id]
    for table, rows in (("user_session", _ids(s, "user_session", "user_id", user_ids)),
                        ("api_token", _ids(s, "api_token", "user_id", user_ids))):
        apply(s, table, rows, ids, touched)
    apply(s, "user", user_ids, ids, touched, pseudonym={
        "username": lambda key, _old: f"efface-{key}", "full_name": "", "password_hash": ""})
    for u in users:
        u.active = False
        s.add(u)
    comm = _table("communication")
    s.execute(comm.update().where(comm.c.contact_id == contact.id).values(contact_id=None))
    s.execute(_table("contact").delete().where(_table("contact").c.id == contact.id))
    touched.add("contact", 1)
    return touched
