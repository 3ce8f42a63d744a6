"""Words: Babel message catalogs, French the source language, English a catalog.

Templates and Python write the French text itself (``_("File d'attente")`` in a template,
``N_("ouverture")`` in the label tables below): the French is the msgid, so a French page
needs no catalog and the console never renames what a workflow calls a state. English is
``console/locale/en/LC_MESSAGES/messages.po``, compiled in memory the first time a page asks
(no compiled file is kept: a clean clone runs as is, and the ``.po`` is the only truth).
Numbers, percentages and dates are Babel's for the page's language. How to add a word:
README, "Words and formats".
"""

from __future__ import annotations

import gettext as _gettext
import io
import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from babel.core import Locale
from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

from messages.cases import CRITICALITY_LABELS, STATE_LABELS

# the marks, beneath every layer; re-exported for the console's own tables
from messages.words import N_ as N_
from messages.words import NC_ as NC_
from messages.words import Contextual as Contextual

LANGS = ("fr", "en")
DEFAULT_LANG = "fr"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
# Babel's locale for each page language: dates day first and 24-hour in English too (the
# desk works in France; an English reader still sees 07/12/2026 21:00, not 12/7/26 9 PM).
BABEL_LOCALES = {"fr": "fr_FR", "en": "en_GB"}




class FrenchSource(_gettext.NullTranslations):
    """French pages read the msgid itself; only the plural rule is French (0 and 1 are
    singular, gettext's ``nplurals=2; plural=(n > 1)``)."""

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return msgid1 if n <= 1 else msgid2

    def npgettext(self, context: str, msgid1: str, msgid2: str, n: int) -> str:
        return msgid1 if n <= 1 else msgid2


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=4)
def po_catalog(lang: str) -> Catalog:
    with po_path(lang).open("rb") as fp:
        return read_po(fp, locale=lang, domain=DOMAIN)


@lru_cache(maxsize=4)
def catalog(lang: str) -> _gettext.NullTranslations:
    """The page language's translations: the ``.po`` compiled in memory (``write_mo``) once
    per process. A fuzzy entry is left out, as ``msgfmt`` does: it shows the French."""
    if lang not in LANGS or lang == DEFAULT_LANG:
        return FrenchSource()
    buffer = io.BytesIO()
    write_mo(buffer, po_catalog(lang), use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext(lang: str, text: str) -> str:
    return catalog(lang).gettext(text) if text else text


def ngettext(lang: str, singular: str, plural: str, n: int) -> str:
    return catalog(lang).ngettext(singular, plural, n)


def pgettext(lang: str, context: str, text: str) -> str:
    return catalog(lang).pgettext(context, text) if text else text


def label_text(lang: str, value: str | Contextual) -> str:
    """A label table's value (a French text, perhaps with its context) in ``lang``."""
    if isinstance(value, Contextual):
        return pgettext(lang, value.context, value.text)
    return gettext(lang, value)


def known(lang: str, text: str) -> bool:
    """Whether ``lang``'s catalog translates ``text`` (its English may read the same)."""
    return lang != DEFAULT_LANG and translated(text, lang=lang)


def translated(text: str, context: str | None = None, lang: str = "en") -> bool:
    """Whether the ``lang`` catalog gives ``text`` a translation that is not fuzzy (tests)."""
    message = po_catalog(lang).get(text, context=context)
    if message is None or message.fuzzy:
        return False
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return all(strings)


# --- numbers and dates, Babel's for each language ------------------------------------------

@lru_cache(maxsize=4)
def _percent_pattern(lang: str, digits: int) -> str:
    """The language's own percent pattern ("#,##0 %" with a no-break space in French,
    "#,##0%" in English) with ``digits`` decimals."""
    pattern = Locale.parse(BABEL_LOCALES.get(lang, "fr_FR")).percent_formats[None].pattern
    return pattern.replace("0", "0." + "0" * digits, 1) if digits else pattern


def number(lang: str, value: float | None, digits: int = 1) -> str:
    """A decimal number as the page's language writes it: "0,0" in French, "0.0" in
    English (``None`` reads as zero: a share of no case)."""
    fmt = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value or 0, format=fmt, locale=BABEL_LOCALES.get(lang, "fr_FR"))


def percent(lang: str, value: float | None, digits: int = 1) -> str:
    """A share given in percent (0-100) as the language writes it: "12,5 %" / "12.5%"."""
    return format_percent((value or 0) / 100, format=_percent_pattern(lang, digits),
                          locale=BABEL_LOCALES.get(lang, "fr_FR"))


# The ways a page writes a moment (CLDR patterns): the same figures in both languages, the
# words (none today) and separators the locale's.
DATE_FORMATS = {
    "datetime": "dd/MM/y HH:mm",
    "seconds": "dd/MM/y HH:mm:ss",
    "day_time": "dd/MM HH:mm",
    "date": "dd/MM/y",
    "time": "HH:mm",
}


def moment(lang: str, value: datetime | None, tz: str, fmt: str = "datetime") -> str:
    """A stored (UTC) moment in the team's time zone, written by Babel for ``lang``."""
    if value is None:
        return "—"
    return format_datetime(value, DATE_FORMATS.get(fmt, fmt), tzinfo=ZoneInfo(tz),
                           locale=BABEL_LOCALES.get(lang, "fr_FR"))


def date_text(lang: str, value: date | None, fmt: str = "date") -> str:
    """A calendar day (a visit's window, a contract's start) by Babel: "16/03/2027", or
    "03/2027" for ``fmt="month"``."""
    if value is None:
        return "—"
    return format_date(value, {"date": "dd/MM/y", "month": "MM/y"}.get(fmt, fmt),
                       locale=BABEL_LOCALES.get(lang, "fr_FR"))


def day_name(lang: str, iso: str) -> str:
    """A day as a client reads it: "mardi 16 mars 2027", "Tuesday 16 March 2027"."""
    return format_date(datetime.fromisoformat(iso).date(), "EEEE d MMMM y",
                       locale=BABEL_LOCALES.get(lang, "fr_FR"))


# --- label tables: a code -> its French label (the msgid) -----------------------------------

ROLE_LABELS: dict[str, str] = {
    "technician": N_("technicien"),
    "level2": N_("niveau 2"),
    "manager": N_("responsable"),
    "planner": N_("planificateur"),
    "admin": N_("administrateur"),
    "client": N_("client (lecture seule)"),
    "consultant": N_("consultant (visites)"),
}

FAMILY_LABELS: dict[str, str] = {
    "site": N_("incident de site"),  # records.incidents
    "desk_intake": N_("poste Vigie (réception)"),  # records.desk_watch
    "hardware": N_("matériel"),
    "backup": N_("sauvegarde"),
    "performance": N_("performances"),
    "disk_space": N_("espace disque"),
    "eventlog": N_("journal d'événements"),
    "service": N_("services"),
    "heartbeat": N_("battement horaire"),
    "link": N_("liaison multi-site"),
    "antivirus": N_("antivirus"),
    "unknown": N_("inconnu"),
    "visit": N_("visite sur site"),
}

ACTION_LABELS: dict[str, str] = {
    "open": N_("ouverture"),
    "repeat": N_("répétition"),
    "late_arrival": N_("arrivée tardive"),
    "recovery": N_("rétablissement"),
    "assign": N_("attribution"),
    "note": N_("note"),
    "add_note": N_("note"),
    "classify": N_("classification"),
    "record_contact": N_("contact client"),
    "communication": N_("communication"),
    "register_demande": N_("demande enregistrée"),
    "start_l1": N_("début du diagnostic N1"),
    "escalate_l2": N_("escalade niveau 2"),
    "resolve": N_("résolution"),
    "close": N_("clôture"),
    "reopen": N_("réouverture"),
    "send_instructions": N_("consignes envoyées au client"),
    "notify_level2": N_("niveau 2 prévenu"),
    "client_reply": N_("réponse du client"),
}

CHANNEL_LABELS: dict[str, str] = {
    "phone": N_("téléphone"),
    "email": N_("e-mail"),
    "sms": N_("SMS"),
}

OUTCOME_LABELS: dict[str, str] = {
    "reached": N_("joint"),
    "sent": N_("envoyé"),
    "no_answer": N_("sans réponse"),
    "busy": N_("occupé"),
    "voicemail": N_("messagerie"),
    "failed": N_("échec"),
}

FIGURE_LABELS: dict[str, str] = {
    "time_to_triage": N_("Délai de classification"),
    "time_to_first_contact": N_("Délai du premier contact client"),
    "time_to_demande": N_("Délai d'enregistrement de la demande"),
    "l1_duration": N_("Durée du diagnostic N1"),
    "time_to_resolution": N_("Délai de résolution"),
}

COMM_STATUS_LABELS: dict[str, str] = {
    "pending": N_("en attente"),
    "sending": N_("en cours d'envoi"),
    "sent": N_("envoyé"),
    "delivered": N_("remis"),
    "confirmed": N_("confirmé par le client"),
    "answered": N_("décroché"),
    "queued": N_("transmis à l'opérateur"),
    "no_answer": N_("sans réponse"),
    "no_confirmation": N_("décroché sans confirmation"),
    "busy": N_("occupé"),
    "voicemail": N_("messagerie"),
    "failed": N_("échec"),
    "unknown": N_("à vérifier (envoi interrompu)"),
    "dry_run": N_("simulé (rien n'est parti)"),
    "no_recipient": N_("aucun destinataire"),
    "problem": N_("problème"),
}

COMM_STEP_LABELS: dict[str, str] = {
    "instructions": N_("consignes au client"),
    "demande_registered": N_("demande prise en charge"),
    "l1_call": N_("appel pour le diagnostic N1"),
    "l1_call_fallback": N_("mail faute d'avoir joint le client"),
    "l2_transfer": N_("passage au niveau 2 (client)"),
    "l2_handover": N_("passage au niveau 2 (équipe)"),
    "resolution": N_("résolution"),
    "backup_report": N_("rapport des sauvegardes"),
}

TRANSPORT_LABELS: dict[str, str] = {
    "smtp": N_("relais SMTP"),
    "capture": N_("boîte de capture locale"),
    "twilio": N_("Twilio"),
    "dry-run": N_("simulation"),
}

SEVERITY_LABELS: dict[str, str] = {
    "critical": N_("critique"),
    "major": N_("majeure"),
    "minor": N_("mineure"),
    "warning": N_("avertissement"),
    "info": N_("information"),
}

EVENT_STATUS_LABELS: dict[str, str] = {
    "problem": N_("problème"),
    "recovery": N_("rétablissement"),
    "info": N_("information"),
}

CONTACT_ROLE_LABELS: dict[str, str] = {
    "primary": N_("contact principal"),
    "backup": N_("suppléant"),
    "after_hours": N_("astreinte (hors heures ouvrées)"),
}

HEADER_LABELS: dict[str, str] = {
    "From": N_("De"),
    "To": N_("À"),
    "Cc": N_("Copie"),
    "Reply-To": N_("Répondre à"),
    "Subject": N_("Objet"),
    "Date": N_("Date"),
    "Message-ID": N_("Identifiant du message"),
}

BACKUP_STATUS_LABELS: dict[str, str] = {
    "success": N_("succès"),
    "warning": N_("avertissement"),
    "incomplete": N_("incomplète"),
    "cancelled": N_("annulée"),
    "failed": N_("échec"),
    "not_received": N_("non reçue"),
    "pending": N_("en attente"),
    "none": N_("non prévue"),
    "unknown_job": N_("avant le suivi"),
}

INTAKE_LABELS: dict[str, str] = {
    "smtp": N_("mail (SMTP)"),
    "webhook": N_("webhook"),
    "alertmanager": N_("Alertmanager"),
}

EXPECTATION_KIND_LABELS: dict[str, str] = {
    "heartbeat": N_("battement horaire"),
    "disk_report": N_("rapport disque quotidien"),
    "backup_job": N_("sauvegarde"),
    "client": N_("client"),
    "sender": N_("expéditeur"),
    "site": N_("site"),
    "server": N_("serveur"),
    "contact": N_("contact"),
}

EXPECTATION_STATE_LABELS: dict[str, str] = {
    "ok": N_("à l'heure"),
    "proposed": N_("proposée (à confirmer)"),
    "missing": N_("absente"),
    "disabled": N_("désactivée"),
    "pending": N_("en attente du premier envoi"),
    "muted": N_("suspendue (cas ouvert)"),
    "silenced": N_("sous silence"),
}

SIGNIN_LABELS: dict[str, str] = {
    "ok": N_("connecté"),
    "signed_out": N_("déconnecté"),
    "bad_password": N_("mot de passe incorrect"),
    "unknown_user": N_("utilisateur inconnu"),
    "inactive": N_("compte désactivé"),
    "throttled": N_("trop de tentatives"),
    "csrf": N_("formulaire expiré"),
}

# What the ledger's data fields are called on a page (never their key).
DATA_KEY_LABELS: dict[str, str] = {
    "criticality": N_("criticité"),
    "previous": N_("précédente"),
    "channel": N_("canal"),
    "outcome": N_("résultat"),
    "text": N_("texte"),
    "report": N_("compte rendu"),
    "assignee": N_("attribué à"),
    "demande_ref": N_("demande"),
    "by": N_("par"),
    "event_id": N_("événement"),
    "severity": N_("sévérité"),
    "status": N_("statut"),
    "step": N_("étape"),
    "communication_id": N_("communication"),
    "recipient": N_("destinataire"),
    "sender": N_("expéditeur"),
    "reason": N_("motif"),
    "server_id": N_("serveur"),
}

# Actors that are not people.
ACTOR_LABELS: dict[str, str] = {
    "system": N_("Vigie (automatique)"),
    "timer": N_("échéance (automatique)"),
}

# How an event's source was verified (records/sources.py, records/replies.py; issue 11).
SOURCE_LABELS: dict[str, str] = {
    "ip": N_("adresse IP du client"),
    "relay": N_("relais enregistré"),
    "sender": N_("expéditeur déclaré (seul)"),
    "token": N_("jeton de webhook"),
    "dkim": N_("signature DKIM"),
    "spf": N_("SPF"),
    "unchecked": N_("non contrôlée (aucune source enregistrée)"),
    "unverified": N_("source non vérifiée"),
    "message_id": N_("réponse à un message du desk"),
    "contact": N_("contact du client"),
    "technician": N_("rattachée par un technicien"),
}

RULE_KIND_LABELS: dict[str, str] = {
    "ip": N_("adresse ou réseau du client"),
    "relay": N_("relais (avec les expéditeurs ci-dessous)"),
    "sender": N_("expéditeur d'enveloppe"),
    "dkim": N_("domaine DKIM"),
    "spf": N_("domaine SPF"),
}


def state_label(lang: str, state: str | None) -> str:
    """A case state as the workflow names it (``STATE_LABELS``), in the page's language."""
    if not state:
        return "—"
    return gettext(lang, STATE_LABELS.get(state, state))


def criticality_label(lang: str, criticality: str | None) -> str:
    if not criticality:
        return gettext(lang, N_("non classé"))
    return gettext(lang, CRITICALITY_LABELS.get(criticality, criticality))


def pair_label(table: Mapping[str, str | Contextual], lang: str, key: str | None) -> str:
    """A label from one of the tables above; unknown keys shown as is."""
    if not key:
        return "—"
    value = table.get(key)
    if value is None:
        return key
    return label_text(lang, value)


LABEL_TABLES: dict[str, dict[str, str]] = {
    "role": ROLE_LABELS,
    "family": FAMILY_LABELS,
    "action": ACTION_LABELS,
    "channel": CHANNEL_LABELS,
    "outcome": OUTCOME_LABELS,
    "figure": FIGURE_LABELS,
    "comm_status": COMM_STATUS_LABELS,
    "comm_step": COMM_STEP_LABELS,
    "transport": TRANSPORT_LABELS,
    "severity": SEVERITY_LABELS,
    "event_status": EVENT_STATUS_LABELS,
    "contact_role": CONTACT_ROLE_LABELS,
    "header": HEADER_LABELS,
    "backup_status": BACKUP_STATUS_LABELS,
    "data_key": DATA_KEY_LABELS,
    "intake": INTAKE_LABELS,
    "expectation_kind": EXPECTATION_KIND_LABELS,
    "expectation_state": EXPECTATION_STATE_LABELS,
    "signin": SIGNIN_LABELS,
    "actor": ACTOR_LABELS,
}
# How each data field's value reads (a class, a channel...): the table that labels it.
DATA_VALUE_TABLES: dict[str, str] = {
    "channel": "channel",
    "outcome": "outcome",
    "severity": "severity",
    "status": "comm_status",
    "step": "comm_step",
    "by": "actor",
}


def data_items(
    lang: str, data: dict[str, object] | None, skip: tuple[str, ...] = ()
) -> list[tuple[str, str]]:
    """A ledger entry's data as (label, value) a person reads: keys named, classes, channels
    and outcomes labelled, empty values dropped; never ``key=value``. ``skip``: keys the page
    shows in a place of their own (a call report's text)."""
    items: list[tuple[str, str]] = []
    for key, raw in (data or {}).items():
        if key in skip:
            continue
        value = "" if raw is None else str(raw)
        if not value:
            continue
        if key in ("criticality", "previous"):
            shown = criticality_label(lang, value)
        elif key in DATA_VALUE_TABLES:
            table = LABEL_TABLES[DATA_VALUE_TABLES[key]]
            shown = pair_label(table, lang, value) if value in table else value
        else:
            shown = value
        items.append((pair_label(DATA_KEY_LABELS, lang, key), shown))
    return items


# --- sentences other layers build from a fixed vocabulary -----------------------------------

class Phrase(NamedTuple):
    """A French phrase inside a longer sentence (its msgid, ``{}`` where a value stands) and,
    when the phrase alone would match too much, the regular expression that finds it."""

    text: str | Contextual
    pattern: str | None = None


@lru_cache(maxsize=512)
def phrase_pattern(phrase: Phrase) -> re.Pattern[str]:
    """The phrase's French as a pattern: each ``{}`` a value without spaces (a date, a
    count, a word), word boundaries where the phrase starts or ends with a letter."""
    if phrase.pattern is not None:
        return re.compile(phrase.pattern)
    source = phrase.text.text if isinstance(phrase.text, Contextual) else phrase.text
    regex = r"(\S+?)".join(re.escape(part) for part in source.split("{}"))
    head = r"\b" if source[:1].isalnum() else ""
    tail = r"\b" if source[-1:].isalnum() else ""
    return re.compile(head + regex + tail)


def translate_phrases(lang: str, text: str, phrases: tuple[Phrase, ...]) -> str:
    """``text`` with each known phrase in ``lang`` (its values kept), in the order given:
    the longer phrases first, so "dépassé de" goes before "dépassé"."""
    if lang == DEFAULT_LANG or not text:
        return text
    for phrase in phrases:
        said = label_text(lang, phrase.text)
        text = phrase_pattern(phrase).sub(lambda m, s=said: s.format(*m.groups()), text)
    return text


# The SLA derivation sentences of ``domain.sla`` (French, built from a fixed vocabulary).
EXPLAIN_PHRASES: tuple[Phrase, ...] = (
    Phrase(NC_("SLA", "Du signalement n° ")),
    Phrase(NC_("SLA", "Du début du diagnostic N1 n° ")),
    Phrase(NC_("SLA", "à la classification n° ")),
    Phrase(NC_("SLA", "au premier contact client n° ")),
    Phrase(NC_("SLA", "à l'enregistrement de la demande n° ")),
    Phrase(NC_("SLA", "à l'escalade en niveau 2 n° ")),
    Phrase(NC_("SLA", "à la résolution n° ")),
    Phrase(NC_("SLA", "à la clôture n° ")),
    Phrase(NC_("SLA", "à l'entrée n° ")),
    Phrase(NC_("SLA", "avant la résolution n° ")),
    Phrase(NC_("SLA", "avant la clôture n° ")),
    Phrase(NC_("SLA", "par la minuterie")),
    Phrase(NC_("SLA", "criticité non encore définie")),
    Phrase(NC_("SLA", "criticité non définie")),
    Phrase(NC_("SLA", "sans communication client")),
    Phrase(NC_("SLA", "aucune classification")),
    Phrase(NC_("SLA", "aucun contact client")),
    Phrase(NC_("SLA", "aucune demande enregistrée")),
    Phrase(NC_("SLA", "sans demande")),
    Phrase(NC_("SLA", "diagnostic N1 jamais démarré")),
    Phrase(NC_("SLA", "diagnostic N1 non démarré")),
    Phrase(NC_("SLA", "sans diagnostic N1")),
    Phrase(NC_("SLA", "ni escalade ni résolution")),
    Phrase(NC_("SLA", "non atteinte")),
    Phrase(NC_("SLA", "dépassé de")),
    Phrase(NC_("SLA", "dépassé")),
    Phrase(NC_("SLA", "respecté")),
    Phrase(NC_("SLA", "objectif")),
    Phrase(NC_("SLA", "échéance")),
    Phrase(NC_("SLA", "en cours")),
    Phrase(NC_("SLA", "ouvrées")),
    Phrase(NC_("SLA", "calendaires")),
    Phrase(NC_("SLA", "avant")),
    Phrase(NC_("SLA", "au "), r"\bau (?=\w+\. \d)"),  # "au lun. 09:00": a day follows
    Phrase(NC_("SLA", "par")),
    Phrase(NC_("SLA", "sans impact")),
    Phrase(NC_("SLA", "mineur")),
    Phrase(NC_("SLA", "significatif")),
    Phrase(NC_("SLA", "majeur")),
    Phrase(NC_("SLA", "téléphone")),
    Phrase(NC_("SLA", "joint")),
    Phrase(NC_("SLA", "envoyé")),
    Phrase(NC_("SLA", "remis")),
    Phrase(NC_("SLA", "sans réponse")),
    Phrase(NC_("SLA", "occupé")),
    Phrase(NC_("SLA", "messagerie")),
    Phrase(NC_("SLA", "échec")),
    Phrase(NC_("SLA", "lun.")),
    Phrase(NC_("SLA", "mar.")),
    Phrase(NC_("SLA", "mer.")),
    Phrase(NC_("SLA", "jeu.")),
    Phrase(NC_("SLA", "ven.")),
    Phrase(NC_("SLA", "sam.")),
    Phrase(NC_("SLA", "dim.")),
    Phrase(NC_("SLA", "{} j {}"), r"(\d) j (\d)"),  # "2 j 3 h 10": days before hours
    Phrase(NC_("SLA", "n° "), r"n° "),
)


def explain(lang: str, text: str) -> str:
    """An SLA derivation sentence in the page's language (``domain.sla`` writes French)."""
    return translate_phrases(lang, text, EXPLAIN_PHRASES)


def actor_label(lang: str, actor: str | None) -> str:
    """Who acted: a person's user name as is, the desk's automatic actors by name."""
    if not actor:
        return "—"
    value = ACTOR_LABELS.get(actor)
    return actor if value is None else label_text(lang, value)
