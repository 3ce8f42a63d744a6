# ruff: noqa: E501  (one translation per line, however long)
"""English for the visits' pages (merged into ``console.i18n.EN``; kept apart to merge
easily)."""

from __future__ import annotations

import re

EN_VISITS: dict[str, str] = {
    # a site's own days (admin client page)
    "Jours propres aux sites": "Sites' own days",
    "En plus du calendrier de la subdivision : jours où le site est fermé (congés d'août), ou ouvert un jour férié (lundi de Pentecôte travaillé). Les visites ne sont proposées que les jours ouvrés du site.": "On top of the subdivision's calendar: days the site is closed (August holidays), or open on a public holiday (Whit Monday worked). Visits are proposed only on the site's working days.",
    "fermé": "closed",
    "ouvert": "open",
    "Abonnement iCalendar (à ajouter dans votre agenda)": "iCalendar subscription (add it to your calendar)",
    "Accès impossible": "No access",
    "Actions": "Actions",
    "Affecter": "Assign",
    "Annuler la visite": "Cancel the visit",
    "Annuler la visite ?": "Cancel the visit?",
    "Annulées": "Cancelled",
    "Anomalies depuis la visite précédente": "Anomalies since the previous visit",
    "Aucune des dates proposées ne vous convient.": "None of the proposed dates suits you.",
    "Aucune version encore": "No version yet",
    "Aucune version encore : la première est créée à l'enregistrement.": "No version yet: the first one is created when you save.",
    "Aucune visite en retard.": "No overdue visit.",
    "Aucune visite ne vous est confiée.": "No visit is assigned to you.",
    "Aucune visite pour l'instant.": "No visit yet.",
    "Aucune.": "None.",
    "Avant la visite": "Before the visit",
    "Ce mois": "This month",
    "Cette année": "This year",
    "Chaque réponse est enregistrée dès qu'elle est saisie ; hors connexion, elle part au retour du réseau.": "Each answer is saved as soon as it is typed; offline, it is sent when the network is back.",
    "Charge par consultant": "Load per consultant",
    "Check-list sur site": "On-site checklist",
    "Commencer": "Start",
    "Commencer la visite": "Start the visit",
    "Comptage": "Counting",
    "Confirmer ce choix": "Confirm this choice",
    "Confirmer une date convenue par téléphone": "Confirm a date agreed by phone",
    "Confirmées": "Confirmed",
    "Congé": "Leave",
    "Conseils (matériel, procédures)": "Advice (equipment, procedures)",
    "Consultant": "Consultant",
    "Dates de visite à choisir": "Visit dates to choose",
    "Dates proposées": "Proposed dates",
    "Document technique": "Technical document",
    "Droits de l'année": "Entitlements of the year",
    "Droits de visite": "Visit entitlements",
    "Dues": "Owed",
    "Durée": "Length",
    "Détail": "Detail",
    "En retard": "Overdue",
    "Enregistrer la check-list": "Save the checklist",
    "Enregistrer le congé": "Save the leave",
    "Enregistrer une nouvelle version": "Save a new version",
    "Envoyer cette réponse": "Send this answer",
    "Envoyer la fiche": "Send the report",
    "Envoyer la fiche à l'équipe et la publier dans le portail du client": "Send the report to the team and publish it in the client's portal",
    "Envoyer la proposition": "Send the proposal",
    "Explication": "Explanation",
    "Faites": "Done",
    "Fenêtre": "Window",
    "Fiche de visite": "Visit report",
    "Fin de fenêtre": "Window ends",
    "Historique des dates": "Date history",
    "Le document technique sera disponible après la première visite.": "The technical document will be available after the first visit.",
    "Lire": "Read",
    "Merci : la visite est confirmée le": "Thank you: the visit is confirmed on",
    "Merci : nous allons vous proposer d'autres dates.": "Thank you: we will propose other dates.",
    "Mes visites": "My visits",
    "Non planifiées": "Unplanned",
    "Ouvrir / mettre à jour": "Open / update",
    "Ouvrir un cas": "Open a case",
    "Ouvrir une Demande": "Open a request",
    "Planifier les visites dues non planifiées": "Plan the owed visits not planned yet",
    "Planifiées": "Planned",
    "Point de contrôle": "Checkpoint",
    "Proposer deux ou trois dates au client": "Offer the client two or three dates",
    "Proposées": "Proposed",
    "Période": "Period",
    "Quand": "When",
    "Questions du client et réponses": "Client's questions and answers",
    "Qui": "Who",
    "Quoi": "What",
    "Replanifier": "Reschedule",
    "Reste": "Left",
    "Retour aux documents": "Back to the documents",
    "Retour à la visite": "Back to the visit",
    "Rien à proposer.": "Nothing to propose.",
    "Rédiger la fiche": "Write the report",
    "Réponse attendue avant le": "Answer expected before",
    "Sans consultant": "No consultant",
    "Site": "Site",
    "Tenu à jour depuis l'inventaire": "Kept up to date from the inventory",
    "Terminer la visite et rédiger la fiche": "End the visit and write the report",
    "Télécharger en PDF": "Download as PDF",
    "Versions": "Versions",
    "Visite": "Visit",
    "Visite de démarrage": "Onboarding visit",
    "Visite préventive": "Preventive visit",
    "Visites": "Visits",
    "Visites en retard": "Overdue visits",
    "Visites préventives dues par année de contrat (3.2.4) : deux, plus une par serveur au-delà du premier ; une journée au plus ; dates proposées sur les jours ouvrés du site du client.": "Preventive visits owed per contract year (3.2.4): two, plus one per server beyond the first; one day at most; dates offered on the business days of the client's site.",
    "Voir la fiche": "See the report",
    "Votre réponse est enregistrée ; la visite n'attendait plus de réponse à cette proposition, votre interlocuteur va vous recontacter.": "Your answer is recorded; the visit was no longer waiting for an answer to this proposal, your contact will call you back.",
    "Votre visite préventive": "Your preventive visit",
    "Vous choisissez la date du": "You choose the date of",
    "après": "after",
    "congé": "leave",
    "demandes": "requests",
    "dim.": "Sun",
    "fenêtre close le": "window closed on",
    "jeu.": "Thu",
    "jour": "day",
    "le plus de serveurs sur la période": "the most servers during the period",
    "lun.": "Mon",
    "mar.": "Tue",
    "mer.": "Wed",
    "proposition": "proposal",
    "réponse avant le": "answer before",
    "sam.": "Sat",
    "sauvegardes en échec": "failed backups",
    "serveurs au début de la période": "servers at the start of the period",
    "une journée au plus": "one day at most",
    "ven.": "Fri",
    "À proposer au client": "To propose to the client",
    "Suggestion de planning": "Planning suggestion",
    "au plus tôt (glouton)": "earliest (greedy)",
    "au mieux (exact)": "best (exact)",
    "Dates": "Dates",
    "Pourquoi ce jour": "Why this day",
    "délai dépassé : plan au plus tôt": "time limit reached: earliest plan",
    "en retard : fenêtre close le": "late: window closed on",
    "à proposer après la réponse à une autre visite de ce consultant": "to propose once another visit of this consultant is answered",
    "Jours ouvrés du site, un consultant par jour au plus, aucun congé ; hors fenêtre": "Site business days, one visit a day per consultant, no leave; outside the window",
    "règles non respectées": "rules broken",
    "aucune date possible": "no possible date",
    "Proposer ces dates": "Propose these dates",
    "option": "option",
    "Annuler": "Cancel",
    # flash messages and refusals
    "Action enregistrée.": "Action recorded.",
    "Check-list enregistrée.": "Checklist saved.",
    "Ce lien n'est pas valide (il a peut-être été modifié).": "This link is not valid (it may have been altered).",
    "Ce lien a expiré : la date limite de réponse est passée. Votre interlocuteur va vous recontacter.": "This link has expired: the answer deadline has passed. Your contact will call you back.",
    "Le service est momentanément indisponible : merci de réessayer dans quelques minutes avec le même lien.": "The service is briefly unavailable: please try again in a few minutes with the same link.",
    "Rapports de visite et document technique": "Visit reports and technical document",
    "Version": "Version",
    "Date": "Date",
    "Client": "Client",
    "État": "State",
    "Notes": "Notes",
    "Note": "Note",
    "Résultat": "Result",
    "Motif": "Reason",
    "Confirmer": "Confirm",
    "Chronologie": "Timeline",
    "Résumé": "Summary",
    "Autres actions": "Other actions",
    "calendrier": "calendar",
    "contrat": "contract",
    "cas": "cases",
}

# The visit ledger's actions, as the timeline shows them (French, English).
VISIT_ACTION_LABELS: dict[str, tuple[str, str]] = {
    "plan": ("planifiée", "planned"),
    "propose": ("dates proposées", "dates proposed"),
    "proposal_sent": ("proposition envoyée", "proposal sent"),
    "client_answer": ("réponse du client", "client's answer"),
    "client_answer_refused": ("réponse du client refusée", "client's answer refused"),
    "confirm": ("date confirmée", "date confirmed"),
    "remind": ("relance du client", "client reminded"),
    "deadline": ("échéance de réponse", "answer deadline"),
    "day_before": ("rappels de la veille", "day-before reminders"),
    "assign": ("consultant affecté", "consultant assigned"),
    "start": ("visite commencée", "visit started"),
    "day_over": ("fin de la journée", "end of the day"),
    "write_report": ("fiche rédigée", "report written"),
    "report_built": ("fiche produite (HTML, PDF)", "report built (HTML, PDF)"),
    "send_report": ("fiche envoyée", "report sent"),
    "no_access": ("accès impossible", "no access"),
    "reschedule": ("à replanifier", "rescheduled"),
    "cancel": ("annulée", "cancelled"),
    "mail_outcome": ("mail", "mail"),
}

# The data of a visit ledger line (``workflows.visit_machine``): each key named, each coded
# value labelled, so the timeline never shows ``via=link``.
VISIT_DATA_KEYS: dict[str, tuple[str, str]] = {
    "proposal": ("proposition n°", "proposal no."),
    "date": ("date", "date"),
    "via": ("par", "through"),
    "step": ("mail", "mail"),
    "status": ("état", "status"),
    "recipient": ("destinataire", "recipient"),
    "advice": ("conseils", "advice"),
    "questions": ("questions", "questions"),
    "anomalies": ("anomalies", "anomalies"),
    "techdoc_before": ("document technique avant", "technical document before"),
    "techdoc_after": ("document technique après", "technical document after"),
}
VISIT_VIA_LABELS: dict[str, tuple[str, str]] = {
    "link": ("lien du mail", "the mail's link"),
    "portal": ("portail", "portal"),
}
VISIT_STEP_LABELS: dict[str, tuple[str, str]] = {
    "visit_proposal": ("proposition de dates", "dates proposal"),
    "visit_reminder": ("relance", "reminder"),
    "visit_planner_alert": ("alerte au planificateur", "planner alert"),
    "visit_confirmed": ("confirmation", "confirmation"),
    "visit_day_before_client": ("rappel de la veille (client)", "day-before reminder (client)"),
    "visit_day_before_consultant": ("rappel de la veille (consultant)",
                                    "day-before reminder (consultant)"),
    "visit_report": ("fiche de visite", "visit report"),
    "visit_date_dropped": ("date abandonnée (client)", "date dropped (client)"),
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
    from console.i18n import COMM_STATUS_LABELS, pair_label

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
            value = "aucune ne convient" if lang != "en" else "no date suits"
        else:
            value = iso_days(value)
        label = VISIT_DATA_KEYS.get(key, (key.replace("_", " "),) * 2)
        out.append((label[1] if lang == "en" else label[0], value))
    return out


def entitlement_explanation(lang: str, text: str) -> str:
    """The stored explanation of a visit entitlement (``planning.entitlement``, French) in
    the page's language: "2 + (3 − 1) = 4, serveurs au 01/01/2027 : SRV-A, ..."."""
    if lang != "en" or not text:
        return text
    text = text.replace("le plus de serveurs sur la période, au ", "most servers over the "
                        "period, on ")
    text = text.replace("serveurs au ", "servers on ")
    return text.replace(" : aucun", " : no server")


_REASONS_EN = tuple((re.compile(p), r) for p, r in (
    (r"fenêtre passée \(fin le ([\d/]+)\) : (\d+) j de retard, le moins possible",
     r"window passed (ended \1): \2 days late, the fewest possible"),
    (r"hors fenêtre de (\d+) j : fenêtre pleine \(le minimum exact de visites hors fenêtre\)",
     r"\1 days past the window: window full (the exact fewest visits outside their window)"),
    (r"jour idéal \(milieu de la fenêtre\)", "the ideal day (middle of the window)"),
    (r"à (\d+) j du jour idéal : ", r"\1 days from the ideal day: "),
    (r"les jours plus proches sont pris ou en congé", "closer days are taken or on leave"),
    (r"le jour ouvré le plus proche", "the nearest business day"),
    (r" ; consultant déjà désigné", "; consultant already chosen"),
    (r"fenêtre passée : le premier jour libre", "window passed: the first free day"),
    (r"fenêtre pleine : le premier jour libre après", "window full: the first free day after"),
    (r"le premier jour libre de la fenêtre", "the first free day of the window"),
    (r" ; même tournée que sa visite précédente \(secteur (\w+)\)",
     r"; same trip as their previous visit (area \1)"),
))


def suggestion_reason(lang: str, text: str) -> str:
    """Why the suggester chose a day (``planning.optimal.reason_for``, French), in the page's
    language."""
    if lang != "en" or not text:
        return text
    for pattern, repl in _REASONS_EN:
        text = pattern.sub(repl, text)
    return text


_DAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")


def date_label(lang: str, iso: str | None) -> str:
    """A proposed date as the client reads it: "mardi 16 mars 2027", "Tuesday 16 March 2027"."""
    if lang != "en" or not iso:
        from planning.notify import day_label

        return day_label(iso)
    import datetime as dt

    d = dt.date.fromisoformat(iso)
    return f"{_DAYS_EN[d.weekday()]} {d.day} {_MONTHS_EN[d.month - 1]} {d.year}"
