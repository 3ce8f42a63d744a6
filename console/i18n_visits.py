"""The visits' words: the visit ledger's labels (French, the msgids of ``console/locale``)
and the sentences the planning layer writes in French, shown in the page's language."""

from __future__ import annotations

import re

from console.i18n import (
    COMM_STATUS_LABELS,
    N_,
    NC_,
    Contextual,
    Phrase,
    day_name,
    gettext,
    pair_label,
    translate_phrases,
)

# The visit ledger's actions, as the timeline shows them.

VISIT_ACTION_LABELS: dict[str, str | Contextual] = {
    "plan": N_("planifiée"),
    "propose": N_("dates proposées"),
    "proposal_sent": N_("proposition envoyée"),
    "client_answer": NC_("visite", "réponse du client"),
    "client_answer_refused": N_("réponse du client refusée"),
    "confirm": N_("date confirmée"),
    "remind": N_("relance du client"),
    "deadline": N_("échéance de réponse"),
    "day_before": N_("rappels de la veille"),
    "assign": N_("consultant affecté"),
    "start": N_("visite commencée"),
    "day_over": N_("fin de la journée"),
    "write_report": N_("fiche rédigée"),
    "report_built": N_("fiche produite (HTML, PDF)"),
    "send_report": N_("fiche envoyée"),
    "no_access": N_("accès impossible"),
    "reschedule": N_("à replanifier"),
    "cancel": N_("annulée"),
    "mail_outcome": N_("mail"),
}

# The data of a visit ledger line (``workflows.visit_machine``): each key named, each coded
# value labelled, so the timeline never shows ``via=link``.
VISIT_DATA_KEYS: dict[str, str | Contextual] = {
    "proposal": N_("proposition n°"),
    "date": N_("date"),
    "via": NC_("visite", "par"),
    "step": N_("mail"),
    "status": N_("état"),
    "recipient": N_("destinataire"),
    "advice": N_("conseils"),
    "questions": N_("questions"),
    "anomalies": N_("anomalies"),
    "techdoc_before": N_("document technique avant"),
    "techdoc_after": N_("document technique après"),
}

VISIT_VIA_LABELS: dict[str, str | Contextual] = {
    "link": N_("lien du mail"),
    "portal": N_("portail"),
}

VISIT_STEP_LABELS: dict[str, str | Contextual] = {
    "visit_proposal": N_("proposition de dates"),
    "visit_reminder": N_("relance"),
    "visit_planner_alert": N_("alerte au planificateur"),
    "visit_confirmed": N_("confirmation"),
    "visit_day_before_client": N_("rappel de la veille (client)"),
    "visit_day_before_consultant": N_("rappel de la veille (consultant)"),
    "visit_report": N_("fiche de visite"),
    "visit_date_dropped": N_("date abandonnée (client)"),
}

NONE_SUITS = ("aucune", "none")


_ISO_DAY = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")


def iso_days(text: str) -> str:
    """Every ISO date of a text as the pages write dates: ``2027-03-16`` -> ``16/03/2027``
    (the workflow records ISO dates; a person reads one format on every visit page)."""
    return _ISO_DAY.sub(lambda m: f"{m.group(3)}/{m.group(2)}/{m.group(1)}", text or "")


def visit_text(lang: str, text: str | None) -> str:
    """A sentence the visit workflow recorded (a timeline reason, a line of the history of
    dates), dates in the pages' format and, on English pages, in English
    (``console.i18n_messages`` holds the workflow's sentences)."""
    from console.i18n_messages import translate

    return translate(lang, iso_days(text or ""))


def visit_data_items(lang: str, data: dict[str, object] | None) -> list[tuple[str, str]]:
    """A visit ledger line's data as (label, value) a person reads."""
    out = []
    for key, raw in (data or {}).items():
        value = "" if raw is None else str(raw)
        if not value:
            continue
        if key == "via":
            value = pair_label(VISIT_VIA_LABELS, lang, value)
        elif key == "step":
            value = pair_label(VISIT_STEP_LABELS, lang, value)
        elif key == "status" and value in COMM_STATUS_LABELS:
            value = pair_label(COMM_STATUS_LABELS, lang, value)
        elif key == "date" and value in NONE_SUITS:
            value = gettext(lang, N_("aucune ne convient"))
        else:
            value = iso_days(value)
        label = pair_label(VISIT_DATA_KEYS, lang, key) if key in VISIT_DATA_KEYS \
            else key.replace("_", " ")
        out.append((label, value))
    return out


# How ``planning.entitlement`` explains a visit entitlement ("2 + (3 − 1) = 4, serveurs au
# 01/01/2027 : SRV-A, ..."): its fixed words.
ENTITLEMENT_PHRASES: tuple[Phrase, ...] = (
    Phrase(N_("le plus de serveurs sur la période, au ")),
    Phrase(N_("serveurs au ")),
    Phrase(N_(" : aucun")),
)


def entitlement_explanation(lang: str, text: str) -> str:
    """The stored explanation of a visit entitlement in the page's language."""
    return translate_phrases(lang, text, ENTITLEMENT_PHRASES)


# Why the suggester chose a day (``planning.optimal.reason_for``): its phrases, in order.
REASON_PHRASES: tuple[Phrase, ...] = (
    Phrase(N_("fenêtre passée (fin le {}) : {} j de retard, le moins possible")),
    Phrase(N_("hors fenêtre de {} j : fenêtre pleine (le minimum exact de visites hors "
              "fenêtre)")),
    Phrase(N_("jour idéal (milieu de la fenêtre)")),
    Phrase(N_("à {} j du jour idéal : ")),
    Phrase(N_("les jours plus proches sont pris ou en congé")),
    Phrase(N_("le jour ouvré le plus proche")),
    Phrase(N_(" ; consultant déjà désigné")),
    Phrase(N_("fenêtre passée : le premier jour libre")),
    Phrase(N_("fenêtre pleine : le premier jour libre après")),
    Phrase(N_("le premier jour libre de la fenêtre")),
    Phrase(N_(" ; même tournée que sa visite précédente (secteur {})")),
)


def suggestion_reason(lang: str, text: str) -> str:
    """Why the suggester chose a day (French), in the page's language."""
    return translate_phrases(lang, text, REASON_PHRASES)


def date_label(lang: str, iso: str | None) -> str:
    """A proposed date as the client reads it: "mardi 16 mars 2027", "Tuesday 16 March 2027"
    (Babel's day and month names)."""
    if not iso:
        return "—"
    return day_name(lang, iso)


