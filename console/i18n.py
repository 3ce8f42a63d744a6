"""French first, English available: a dictionary keyed by the French text itself.

Templates write ``_("File d'attente")``: the French reads in place, and English is a lookup
(``EN``) that falls back to the French when a string has no translation yet (a test lists
the strings of every template that lack one). The state and criticality labels in French
are the case workflow's own (``workflows.case_machine``), so the console never renames what
the workflow calls a state.
"""

from __future__ import annotations

from workflows.case_machine import CRITICALITY_LABELS, STATE_LABELS

LANGS = ("fr", "en")
DEFAULT_LANG = "fr"

STATE_EN: dict[str, str] = {
    "new": "new",
    "acknowledged": "acknowledged (no impact)",
    "classified": "classified",
    "client_instructed": "client instructed",
    "demande_registered": "request registered",
    "client_notified": "client notified",
    "client_called": "client called",
    "l1_diagnosis": "L1 diagnosis running",
    "l2_escalated": "escalated to level 2",
    "resolved": "resolved",
    "closed": "closed",
    "reopened": "reopened",
}
CRITICALITY_EN: dict[str, str] = {
    "no_impact": "no impact",
    "minor": "minor/moderate",
    "significant": "significant",
    "major": "major/extended",
}
ROLE_LABELS: dict[str, tuple[str, str]] = {
    "technician": ("technicien", "technician"),
    "level2": ("niveau 2", "level 2"),
    "manager": ("responsable", "manager"),
    "planner": ("planificateur", "planner"),
    "admin": ("administrateur", "administrator"),
    "client": ("client (lecture seule)", "client (read only)"),
}
FAMILY_LABELS: dict[str, tuple[str, str]] = {
    "hardware": ("matériel", "hardware"),
    "backup": ("sauvegarde", "backup"),
    "performance": ("performances", "performance"),
    "disk_space": ("espace disque", "disk space"),
    "eventlog": ("journal d'événements", "event log"),
    "service": ("services", "services"),
    "heartbeat": ("battement horaire", "heartbeat"),
    "link": ("liaison multi-site", "site link"),
    "antivirus": ("antivirus", "antivirus"),
    "unknown": ("inconnu", "unknown"),
}
ACTION_LABELS: dict[str, tuple[str, str]] = {
    "open": ("ouverture", "opened"),
    "repeat": ("répétition", "repeat"),
    "recovery": ("rétablissement", "recovery"),
    "assign": ("attribution", "assignment"),
    "note": ("note", "note"),
    "add_note": ("note", "note"),
    "classify": ("classification", "classification"),
    "record_contact": ("contact client", "client contact"),
    "communication": ("communication", "communication"),
    "register_demande": ("demande enregistrée", "request registered"),
    "start_l1": ("début du diagnostic N1", "L1 diagnosis started"),
    "escalate_l2": ("escalade niveau 2", "escalated to level 2"),
    "resolve": ("résolution", "resolution"),
    "close": ("clôture", "closure"),
    "reopen": ("réouverture", "reopening"),
}
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    "phone": ("téléphone", "phone"),
    "email": ("e-mail", "e-mail"),
    "sms": ("SMS", "SMS"),
}
OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    "reached": ("joint", "reached"),
    "sent": ("envoyé", "sent"),
    "no_answer": ("sans réponse", "no answer"),
    "busy": ("occupé", "busy"),
    "voicemail": ("messagerie", "voicemail"),
    "failed": ("échec", "failed"),
}
FIGURE_LABELS: dict[str, tuple[str, str]] = {
    "time_to_triage": ("Délai de classification", "Time to triage"),
    "time_to_first_contact": ("Délai du premier contact client", "Time to first client contact"),
    "time_to_demande": ("Délai d'enregistrement de la demande", "Time to registered request"),
    "l1_duration": ("Durée du diagnostic N1", "L1 diagnosis duration"),
    "time_to_resolution": ("Délai de résolution", "Time to resolution"),
}

# English for the French texts of the templates and messages (the French is the key).
EN: dict[str, str] = {}


def gettext(lang: str, text: str) -> str:
    if lang == "en":
        return EN.get(text, text)
    return text


def state_label(lang: str, state: str | None) -> str:
    if not state:
        return "—"
    table = STATE_EN if lang == "en" else STATE_LABELS
    return table.get(state, state)


def criticality_label(lang: str, criticality: str | None) -> str:
    if not criticality:
        return "non classé" if lang != "en" else "unclassified"
    table = CRITICALITY_EN if lang == "en" else CRITICALITY_LABELS
    return table.get(criticality, criticality)


def pair_label(table: dict[str, tuple[str, str]], lang: str, key: str | None) -> str:
    """A label from one of the (French, English) tables above; unknown keys shown as is."""
    if not key:
        return "—"
    pair = table.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]
