"""Where a person's data can be: the one inventory the erasure, the export and the codec follow.

Every database column that can hold a name, an e-mail address, a phone number, a user name, a
raw message or free text typed about a client is declared here with what erasure does to it,
and so is every file and every workflow payload. ``tests/test_privacy_inventory.py`` walks the
models: a new column whose name or type looks personal and is declared neither here nor in
:data:`NOT_PERSONAL` fails the suite, so nobody adds a store that erasure forgets.

Treatments:

* ``delete``: the row goes (a contact, a sender domain, a session).
* ``blank``: the value is emptied (bodies, free text, reports, addresses).
* ``pseudonym``: the value is replaced by a stable pseudonym (``contact-12``, ``utilisateur-7``)
  where a ledger must keep its shape: the same person keeps the same pseudonym in every line,
  so counts by actor and every SLA figure recompute identically.
* ``ledger``: a ledger line's structured data: its free-text keys dropped, identifiers in the
  rest replaced by pseudonyms (classes, outcomes and times stay for the SLA figures).
* ``crypto``: not readable without the client's key, which erasure destroys (Temporal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DELETE, BLANK, PSEUDONYM, LEDGER, CRYPTO = "delete", "blank", "pseudonym", "ledger", "crypto"
# Free-text keys of ledger lines (never used by SLA figures): dropped by the LEDGER treatment.
FREE_TEXT_KEYS = ("text", "recipient", "summary", "detail", "note", "sender", "reason")


@dataclass(frozen=True)
class Store:
    """One place a person's data can be, what it holds and what erasure does to it."""

    table: str
    column: str
    holds: str
    treatment: str
    # how a client's rows are found: "client" (by its id or through its cases, visits,
    # contract, communications) or "search" (rows of nobody in particular, found by the
    # client's identifiers: triage, the sign-in log)
    scope: str = "client"


def _s(table: str, columns: str, holds: str, treatment: str, scope: str = "client"
       ) -> list[Store]:
    return [Store(table, c, holds, treatment, scope) for c in columns.split()]


COLUMNS: tuple[Store, ...] = tuple([
    *_s("client", "name", "the company's name (may be a person's: sole traders)", PSEUDONYM),
    *_s("client", "fixed_ips", "the client's addresses", BLANK),
    *_s("contact", "name email phone", "the client's people", DELETE),
    *_s("sender_domain", "domain", "a mail domain or a person's full address", DELETE),
    *_s("site", "name", "site names (often a town or a person's premises)", PSEUDONYM),
    *_s("site_place", "postcode", "site address", DELETE),
    *_s("user", "username full_name password_hash", "client users", PSEUDONYM),
    *_s("user_session", "ip user_agent", "a client user's sessions", DELETE),
    *_s("api_token", "name", "a client user's tokens", DELETE),
    *_s("sign_in_attempt", "username ip user_agent", "the sign-in log", PSEUDONYM, "search"),
    *_s("sign_in_lockout", "subject username ip", "sign-in lock-outs", PSEUDONYM, "search"),
    *_s("raw_message", "message_id", "a message's id (names the sender's host)", PSEUDONYM,
        "search"),
    *_s("raw_message", "data mail_from rcpt_to peer_ip helo",
        "messages as received, the client's replies in triage too", BLANK, "search"),
    *_s("alert_event", "summary extra source_detail", "an alert's own words", BLANK, "search"),
    *_s("silence_hit", "summary", "a silenced alert's words", BLANK),
    *_s("silence", "reason", "free text about the client", BLANK),
    *_s("audit_event", "actor", "the case ledger's actor (a client's reply names its sender)",
        PSEUDONYM),
    *_s("audit_event", "reason", "free text", BLANK),
    *_s("audit_event", "data", "the line's facts and the reply's words", LEDGER),
    *_s("case", "title", "the alert's words (rewritten as host and check)", BLANK),
    *_s("demande", "summary transfer_reason", "free text", BLANK),
    *_s("communication", "recipient subject body evidence raw code provider_id",
        "what was sent to the client's people", BLANK),
    *_s("communication_event", "detail payload", "provider callbacks", BLANK),
    *_s("visit", "reason advice questions", "what the client said, what was written", BLANK),
    *_s("visit_event", "actor", "the visit ledger's actor (a contact answering)", PSEUDONYM),
    *_s("visit_event", "reason", "free text of the visit ledger", BLANK),
    *_s("visit_event", "data", "the visit line's facts", LEDGER),
    *_s("visit_report", "html pdf", "the visit record", BLANK),
    *_s("checklist_answer", "notes", "free text typed during a visit", BLANK),
    *_s("techdoc_version", "sections diagram diagram_name",
        "every version of the technical document (servers, contacts, addresses)", BLANK),
    *_s("contract", "termination_reason technical_document", "free text", BLANK),
    *_s("contract_event", "reason", "free text of the contract's timeline", BLANK),
    *_s("contract_event", "data", "the timeline line's facts", LEDGER),
    *_s("prerequisite", "evidence waiver_reason value", "checklist evidence", BLANK),
    *_s("sensor_deployment", "note", "free text", BLANK),
    *_s("server", "display_name role", "names given to servers (often a person's PC)", BLANK),
    *_s("expectation", "confirmed_by", "who confirmed (may be a client user)", PSEUDONYM),
    *_s("absence_event", "detail", "free text", BLANK),
    *_s("source_rule", "note", "free text about the client", BLANK),
    *_s("source_token", "name", "a token's label", BLANK),
    *_s("erasure_request", "subject", "whom an erasure request named", PSEUDONYM),
    *_s("site_days", "note", "free text about a site's own closed or open days", BLANK),
    *_s("incident_child", "title", "a site outage's alerts (the alert's words)", BLANK),
    *_s("inhibition_rule", "name", "an inhibition rule's name (may name the client's people)",
        BLANK),
    *_s("inhibition_audit", "detail", "a rule's fields before and after a change (its name)",
        BLANK),
    *_s("idempotent_request", "body",
        "an action's first answer, kept for repeats (a client user's: deleted at erasure; "
        "everyone's: purged after VIGIE_IDEMPOTENCY_KEEP_HOURS)", DELETE),
])

# Columns whose name or type looks personal but which hold no person's data of a client.
NOT_PERSONAL: dict[tuple[str, str], str] = {
    ("client", "code"): "the company's code: names no person, kept so the ledger stays whole",
    ("policy", "note"): "staff's note on an SLA policy version",
    ("policy", "created_by"): "staff user name",
    ("sla_case", "technician"): "staff user name (SLA figures by technician)",
    ("case", "assignee"): "staff user name",
    ("demande", "opened_by"): "staff user name",
    ("demande", "transferred_by"): "staff user name",
    ("checklist_answer", "updated_by"): "staff user name (consultants)",
    ("techdoc_version", "created_by"): "staff user name (client users cannot write it)",
    ("contract", "onboarding_decided_by"): "staff user name",
    ("contract", "created_by"): "staff user name",
    ("contract", "options"): "bought options",
    ("contract", "policies"): "policy versions",
    ("contract_event", "actor"): "staff user name or 'system'",
    ("prerequisite", "checked_by"): "staff user name",
    ("prerequisite", "waived_by"): "staff user name",
    ("prerequisite", "label"): "checklist item's label",
    ("sensor_deployment", "by"): "staff user name",
    ("silence", "created_by"): "staff user name",
    ("inhibition_rule", "created_by"): "staff user name (administrators)",
    ("inhibition_rule", "revoked_by"): "staff user name (administrators)",
    ("inhibition_audit", "actor"): "staff user name (administrators)",
    ("silence", "revoked_by"): "staff user name",
    ("sign_in_lockout", "lifted_by"): "staff user name (an administrator lifting a lock-out)",
    ("idempotent_request", "actor"): "the caller as 'user:<id>': no name",
    ("calendar_feed", "changed_by"): "staff user name (consultants' feeds; clients have none)",
    ("source_rule", "created_by"): "staff user name",
    ("api_token", "created_by"): "staff user name",
    ("consultant_leave", "note"): "staff's own leave",
    ("consultant_profile", "email"): "a consultant's (staff) address",
    ("consultant_profile", "postcode"): "a consultant's (staff) base",
    ("data_access", "username"): "staff user name: the access log is the staff's, not the client's",
    ("data_access", "path"): "the page read",
    ("visit", "proposed_dates"): "dates",
    ("visit", "open_items"): "checklist keys",
    ("visit_entitlement", "explanation"): "the rule applied",
    ("checklist_template", "items"): "the checklist's questions",
    ("outbox", "last_error"): "transport error of the router (message ids only)",
    ("outbox", "claimed_by"): "router instance name",
    ("backup_job", "name"): "a backup job's name",
    ("backup_run", "job_name"): "a backup job's name",
    ("alert_event", "fingerprint"): "client code, host and check",
    ("case", "fingerprint"): "client code, host and check",
    ("expectation", "fingerprint"): "client code, host and check",
    ("absence_event", "fingerprint"): "client code, host and check",
    ("sla_case", "error"): "computation error",
    ("sla_watermark", "policy_version"): "policy version",
    ("erasure_request", "requested_by"): "staff user name",
    ("erasure_request", "reason"): "why (the instruction's reference, not its people)",
    ("legal_hold", "set_by"): "staff user name",
    ("erasure_request", "detail"): "what erasure did (counts) or why it refused",
    ("data_access", "subject"): "what was read (a kind of page)",
    ("raw_message", "parse_error"): "the parser's error",
    ("site", "link_names"): "VPN peer names of the site's link probes",
    ("source_rule", "value"): "an address or network the client sends from",
    ("server", "hostname"): "a machine's name, kept: the SLA ledger and fingerprints need it",
    ("checklist_answer", "answer"): "ok | ko | na",
    ("legal_hold", "released_by"): "staff user name",
    ("legal_hold", "reason"): "why the data is held (a court case's reference)",
    ("client_key", "wrapped"): "the client's payload key, wrapped (crypto-shredding)",
}

# Files: what the desk writes under var/ and who may hold a person's data.
FILES: dict[str, str] = {
    "var/vigie.sqlite3, -wal, -shm": "the database: secure_delete on, and erasure ends with a "
                                     "WAL checkpoint (TRUNCATE) and VACUUM",
    "var/temporal.sqlite3": "the embedded Temporal's histories: payloads encrypted per client",
    "var/temporal.log": "the Temporal server's log: ids only, no payloads",
    "var/secret-key, var/link-key, var/refs-key, var/demo-credentials": "keys, no person's data",
    "var/codec-master.key": "master key wrapping the clients' payload keys (when not in the "
                            "environment)",
}

# Workflow payloads that carry a person's data: encrypted by contracts.codec under the client's key.
PAYLOADS: dict[str, str] = {
    "ClientReplySignal.sender/summary": "a client's reply (case workflow)",
    "AlertSignal.summary, CaseInput.title": "an alert's words",
    "ActionInput.reason/text, TimelineEntry.actor/reason/data": "what staff typed, the ledger",
    "ContactInfo.name/email/phone, ContactPlan": "the client's people (contact workflow)",
    "SendResult.recipient, CommunicationSignal.recipient/detail": "whom the desk wrote to",
    "ClientAnswer.contact, Visit*.reason/advice/questions": "visit answers and reports",
    "TerminationInput.reason, Remedied.reason, EventInput.reason": "contract timeline text",
    "memo, query and update results, failures' messages": "same key as the workflow's inputs",
}

# The pattern of a column name that looks personal, and the SQL types that can hold anything.
LOOKS_PERSONAL = re.compile(
    r"mail|phone|name|actor|raw|user|_by$|^by$|ip$|agent|address|postcode|recipient|sender|"
    r"subject|summary|reason|note|detail|text|body|html|pdf|evidence|advice|question|data|"
    r"sections|diagram|title|answer|payload|extra|helo|domain|contact|value|label|items|"
    r"options|policies|dates|open_items|error|technician|assignee|by$")
BLOB_TYPES = ("JSON", "BLOB", "BYTEA", "LARGEBINARY")
# Only columns that can hold text count (an integer or a time names nobody).
TEXT_TYPES = ("VARCHAR", "STRING", "TEXT", "AUTOSTRING", *BLOB_TYPES)


def declared() -> set[tuple[str, str]]:
    return {(s.table, s.column) for s in COLUMNS} | set(NOT_PERSONAL)


def columns_of(table: str) -> list[Store]:
    return [s for s in COLUMNS if s.table == table]
