"""Messages that carry a value, in English: flashes ("Serveur srv-x créé…") and the refusals
the workflows and the data layer give in French ("Le cas est clôturé : rouvrez-le d'abord").

Templates write ``_()`` for fixed texts (``console.i18n``). A message with a value cannot be
looked up as it is, so each French template here has its ``{}`` places; a message matching
one is given in English with the same values, themselves translated when they are a label
the console knows (a case or visit state, a criticality). A message matching nothing stays
French: the workflows' own words, never lost. ``tests/test_console_messages.py`` finds every
refusal and flash in the code and checks that each has its English here.
"""

from __future__ import annotations

import re
from functools import lru_cache

# French template -> English template; the same number of {} in the same order
MESSAGES: dict[str, str] = {
    # one-line fields (issue 21, finding 7: text that reaches a mail header)
    "Champ « {} » : retour à la ligne interdit": "Field “{}”: no line break allowed",
    "Nom du jeton : retour à la ligne interdit": "Token name: no line break allowed",
    "colonne « {} » : retour à la ligne interdit": "column “{}”: no line break allowed",
    "Valeur invalide : « {} » : retour à la ligne interdit":
        "Invalid value: “{}”: no line break allowed",
    "Valeur invalide : « {} » doit être un texte": "Invalid value: “{}” must be text",
    "« {} » : {} caractères, {} au plus": "“{}”: {} characters, {} at most",
    "Nouveau lien de calendrier : l'ancien ne fonctionne plus.":
        "New calendar link: the old one no longer works.",
    "Lien de calendrier révoqué.": "Calendar link revoked.",
    "Calendrier de {} révoqué.": "{}'s calendar revoked.",
    "Verrouillage introuvable ou déjà terminé": "Lock-out not found or already over",
    "Verrouillage de {} levé.": "Lock-out of {} lifted.",
    "Un import est déjà en cours : attendez sa fin":
        "An import is already running: wait for it to end",

    # personal data on request (issue 20: contracts/requests.py, console/pages_privacy.py)
    "Conservation légale (posée par {}) : {}": "Legal hold (set by {}): {}",
    "Demande {} encore ouverte : effacement après sa clôture":
        "Request {} still open: erasure once it is closed",
    "Indiquez la raison de la conservation (référence du dossier)":
        "Give the hold's reason (case file reference)",
    "Contact {} inconnu": "Unknown contact {}",
    "Indiquez le demandeur et la raison de l'effacement":
        "Give the erasure's requester and reason",
    "Contrat en cours : résiliez-le d'abord (la résiliation clôt les cas et annule les "
    "visites avant l'effacement)": "Contract in force: terminate it first (termination "
    "closes the cases and cancels the visits before the erasure)",
    "Contact effacé partout": "Contact erased everywhere",
    "Résiliation en cours : effacement possible quand elle aura clos les cas et annulé les "
    "visites": "Termination under way: erasure possible once it has closed the cases and "
    "cancelled the visits",
    "Conservation légale posée": "Legal hold set",
    "Conservation légale levée": "Legal hold released",
    "contact déjà effacé": "contact already erased",
    "VIGIE_CODEC_MASTER_KEY : 64 chiffres hexadécimaux attendus":
        "VIGIE_CODEC_MASTER_KEY: 64 hexadecimal digits expected",
    # the case workflow's refusals (workflows/case_machine.py)
    "Action inconnue : {}": "Unknown action: {}",
    "L'auteur de l'action doit être indiqué": "The action's author must be given",
    "Action « {} » impossible : le cas est {}": "Action “{}” not possible: the case is {}",
    "Le cas est {} : rouvrez-le d'abord": "The case is {}: reopen it first",
    "Indiquez la criticité (sans impact, mineur, significatif ou majeur)":
        "Give the criticality (no impact, minor, significant or major)",
    "La demande est transférée au niveau 2 : le cas ne peut plus être reclassé":
        "The request is transferred to level 2: the case can no longer be reclassified",
    "Le cas est déjà classé {}": "The case is already classified {}",
    "Indiquez le canal et le résultat du contact": "Give the contact's channel and outcome",
    "Fixez d'abord la criticité du cas avant de contacter le client (3.2.3)":
        "Set the case's criticality before contacting the client (3.2.3)",
    "Un cas sans impact ne donne lieu à aucune communication client (3.2.3 Sans impact) : "
    "reclassez-le d'abord":
        "A case with no impact gives rise to no client communication (3.2.3 No impact): "
        "reclassify it first",
    "Rédigez les consignes à transmettre au client":
        "Write the instructions to pass on to the client",
    "Indiquez le canal des consignes (mail, SMS ou téléphone)":
        "Give the instructions' channel (mail, SMS or phone)",
    "Des appels automatiques sont déjà en cours pour ce cas":
        "Automated calls are already running for this case",
    "Un SMS porte des consignes courtes (300 caractères au plus)":
        "An SMS carries short instructions (300 characters at most)",
    "Une demande est déjà enregistrée pour ce cas ({})":
        "A request is already registered for this case ({})",
    "Une demande au support ne s'enregistre que pour un cas significatif ou majeur (3.2.3)":
        "A support request is registered only for a significant or major case (3.2.3)",
    "Le diagnostic N1 est déjà en cours": "The L1 diagnosis is already running",
    "Le diagnostic N1 ne concerne que les cas majeurs/étendus (3.2.3)":
        "The L1 diagnosis only concerns major/extended cases (3.2.3)",
    "Le diagnostic N1 ne peut démarrer qu'après l'appel du client (cas majeur)":
        "The L1 diagnosis can start only after the client was called (major case)",
    "La demande est déjà transférée au niveau 2": "The request is already transferred to level 2",
    "Le transfert au niveau 2 suit le diagnostic N1 : démarrez-le d'abord "
    "(3.2.3 Majeur/étendu)":
        "The transfer to level 2 follows the L1 diagnosis: start it first "
        "(3.2.3 Major/extended)",
    "Le cas est déjà {}": "The case is already {}",
    "Le cas est déjà clôturé": "The case is already closed",
    "Seul un cas résolu peut être clôturé : résolvez-le d'abord":
        "Only a resolved case can be closed: resolve it first",
    "Le cas est encore ouvert : il n'y a rien à rouvrir":
        "The case is still open: there is nothing to reopen",
    "Indiquez la personne à qui assigner le cas": "Give the person to assign the case to",
    "Le cas est déjà assigné à {}": "The case is already assigned to {}",
    "La note est vide": "The note is empty",
    # the visit workflow's refusals (workflows/visit_machine.py)
    "Un motif est obligatoire": "A reason is required",
    "La date {} ne fait pas partie des dates proposées": "The date {} is not one of those proposed",
    "Aucun consultant indiqué": "No consultant given",
    "Aucun consultant n'est affecté à la visite": "No consultant is assigned to the visit",
    "Le rapport est encore en préparation : réessayer dans un instant":
        "The report is still being prepared: try again in a moment",
    "Action « {} » impossible : la visite est {}": "Action “{}” not possible: the visit is {}",
    "Proposer deux ou trois dates": "Propose two or three dates",
    "Les dates proposées doivent être différentes": "The proposed dates must differ",
    "Une visite préventive dure une journée au plus (3.2.4)":
        "A preventive visit lasts one day at most (3.2.4)",
    "Le {} n'est pas dans le futur": "{} is not in the future",
    "Le {} est hors de la fenêtre de la visite ({} – {})":
        "{} is outside the visit's window ({} – {})",
    "Le {} n'est pas un jour ouvré du site du client":
        "{} is not a working day at the client's site",
    "Date illisible : {}": "Unreadable date: {}",
    # the visits' data layer (planning/)
    "type de visite inconnu : {}": "unknown visit type: {}",
    "La fin de la fenêtre précède son début": "The window's end comes before its start",
    "visite {} introuvable": "visit {} not found",
    "Visite introuvable": "Visit not found",
    "Seul un point « KO » ouvre un cas": "Only a “KO” item opens a case",
    "élément de check-list inconnu : {}": "unknown checklist item: {}",
    "réponse invalide : {} (ok, ko, na)": "invalid answer: {} (ok, ko, na)",
    "client {} introuvable": "client {} not found",
    "règle de comptage inconnue : {} (start ou max)": "unknown counting rule: {} (start or max)",
    # the contract's data layer (contracts/)
    "Option inconnue : {}": "Unknown option: {}",
    "Indiquez l'adresse IP fixe du client": "Give the client's fixed IP address",
    "Statut possible : rempli ou ouvert": "Possible status: met or open",
    "Un prérequis rempli demande sa preuve (document, constat, test)":
        "A met prerequisite needs its evidence (document, observation, test)",
    "Seul un responsable peut accorder une dérogation": "Only a manager can grant a waiver",
    "Une dérogation demande sa raison": "A waiver needs its reason",
    "Statut de sonde inconnu : {}": "Unknown sensor status: {}",
    "Client {} inconnu": "Unknown client {}",
    "{} a déjà un contrat": "{} already has a contract",
    "Nombres d'utilisateurs et de serveurs positifs":
        "Numbers of users and servers must be positive",
    "Contrat {} introuvable": "Contract {} not found",
    "Prérequis introuvable": "Prerequisite not found",
    "Contrat résilié : la liste est close": "Contract terminated: the list is closed",
    "Option non souscrite : sans objet": "Option not subscribed: not applicable",
    "Dérogation possible avant la mise en service seulement":
        "A waiver is possible only before the service starts",
    "Seul un prérequis ouvert peut faire l'objet d'une dérogation":
        "Only an open prerequisite can be waived",
    "Élément introuvable": "Item not found",
    "Adresse IP invalide : {}": "Invalid IP address: {}",
    "Client ou contrat introuvable": "Client or contract not found",
    "Effacement possible après la résiliation seulement":
        "Erasure is possible only after termination",
    "Durée de conservation en cours jusqu'au {}": "Retention period running until {}",
    "Données effacées : {}": "Data erased: {}",
    # the console's own refusals of a case action (console/api.py run_action)
    "Cas non modifiable : {}": "Case cannot be changed: {}",
    "Le cas n'a pas répondu à temps": "The case did not answer in time",
    # flashes with a value (console/)
    "Événement rattaché ; le cas suit sous peu.{}": "Event attached; the case follows shortly.{}",
    "Réponse rattachée au cas {}.": "Reply attached to case {}.",
    "Serveur {} créé ; l'événement y est rattaché.":
        "Server {} created; the event is attached to it.",
    "{} jour(s) de congé enregistré(s).": "{} day(s) of leave recorded.",
    # a storm's bulk action (console/pages_cases.py, issue 22)
    "Action groupée : {} cas, {} refusés": "Bulk action: {} cases, {} refused",
    "Règle d'inhibition n° {} enregistrée.": "Inhibition rule no. {} saved.",
    "Règle d'inhibition n° {} modifiée.": "Inhibition rule no. {} changed.",
    "Règle d'inhibition n° {} révoquée.": "Inhibition rule no. {} revoked.",
    "{} visite(s) planifiée(s).": "{} visit(s) planned.",
    "{} visite(s) planifiée(s), {} fenêtre(s) recoupée(s).":
        "{} visit(s) planned, {} window(s) re-cut.",
    "{} visite(s) créée(s), workflows non démarrés : {}":
        "{} visit(s) created, workflows not started: {}",
    "{} visite(s) créée(s), {} fenêtre(s) recoupée(s), workflows non démarrés : {}":
        "{} visit(s) created, {} window(s) re-cut, workflows not started: {}",
    # what the visit workflow records on its timeline and history of dates
    # (workflows/visit_machine.py), shown on the visit page
    "fenêtre {} – {}": "window {} – {}",
    "proposition {} : {}": "proposal {}: {}",
    "date prévue {}, visite faite le {}": "date booked {}, visit done on {}",
    "date {} abandonnée : {}": "date {} dropped: {}",
    "relance automatique": "automatic reminder",
    "échéance de réponse dépassée": "answer deadline passed",
    "rappel la veille": "reminder the day before",
    "aucune date ne convient": "no date suits",
    "fin de la journée de visite (une journée au plus, 3.2.4)":
        "end of the visit's day (one day at most, 3.2.4)",
    "visite non démarrée le jour prévu": "visit not started on its day",
    "démonstration": "demonstration",
    "accord du client par téléphone (démonstration)":
        "the client agreed by phone (demonstration)",
    # a ko item of the checklist (console/pages_visits.py, planning/cases.py)
    "Demande ouverte : {}": "Request opened: {}",
    "Cas ouvert : {}": "Case opened: {}",
    "{}, {} (référence attribuée sous peu)": "{}, {} (reference given shortly)",
    # the visit pages' flashes and refusals (console/pages_visits.py, visit_actions.py,
    # pages_planning.py, planning/rules.py)
    "Temporal non configuré": "Temporal not configured",
    "Action réservée à un autre rôle": "Action reserved to another role",
    "Cette visite est confiée à un autre consultant":
        "This visit is assigned to another consultant",
    "Visite non modifiable : {}": "Visit cannot be changed: {}",
    "La visite n'a pas répondu à temps": "The visit did not answer in time",
    "Processus non démarré : {}": "Process not started: {}",
    "Processus de la visite démarré.": "The visit's process started.",
    "Document technique enregistré (version {}).": "Technical document saved (version {}).",
    "Consultant inconnu": "Unknown consultant",
    "Choisir un consultant": "Choose a consultant",
    "Le consultant a déjà une visite le {} (visite n° {}) : une visite par jour au plus":
        "The consultant already has a visit on {} (visit no. {}): one visit a day at most",
    "Le consultant a déjà une visite le {}": "The consultant already has a visit on {}",
    "Le {} n'est pas un jour ouvré du site": "{} is not a working day at the site",
    "Le {} n'est pas un jour ouvré du site ({})": "{} is not a working day at the site ({})",
    "Congé : dates illisibles": "Leave: unreadable dates",
    "Congé : période invalide": "Leave: invalid period",
    "La check-list se remplit pendant la visite": "The checklist is filled in during the visit",
    "Check-list réservée au consultant": "The checklist is the consultant's",
    "Rapport introuvable": "Report not found",
    "Schéma trop volumineux (5 Mo au plus)": "Diagram too large (5 MB at most)",
    "Aucun schéma": "No diagram",
    "Client introuvable": "Client not found",
    "Contrat introuvable": "Contract not found",
    # the contract pages' flashes and the contract workflows' refusals
    # (console/pages_contracts.py, workflows/onboarding_machine.py, termination_machine.py)
    "Contrat non modifiable pour l'instant : {}": "Contract cannot be changed for now: {}",
    "Le processus du contrat n'a pas répondu à temps":
        "The contract's process did not answer in time",
    "Installation non démarrée ({}) : relancez depuis la page du contrat":
        "Onboarding not started ({}): start it again from the contract's page",
    "Installation en cours.": "Onboarding running.",
    "Mise en demeure possible pour un contrat en service seulement":
        "A formal notice is possible only for a contract in service",
    "Aucune mise en demeure en cours": "No formal notice running",
    "Une procédure est déjà en cours": "A procedure is already running",
    "Procédure non démarrée : {}": "Procedure not started: {}",
    "Mise en demeure enregistrée : délai de 20 jours en cours.":
        "Formal notice recorded: 20-day period running.",
    "Résiliation immédiate en cours.": "Immediate termination running.",
    "L'auteur doit être indiqué": "The author must be given",
    "Décrivez le manquement": "Describe the breach",
    "Indiquez la version non supportée": "Give the unsupported version",
    "Date de réception de la mise en demeure obligatoire":
        "The formal notice's date of receipt is required",
    "Type de résiliation inconnu : {}": "Unknown termination type: {}",
    "Aucune décision de durée attendue : la règle du contrat s'applique":
        "No duration decision awaited: the contract's rule applies",
    "Durée d'installation entre 1 et {} jours": "Onboarding duration between 1 and {} days",
    "Mise en service impossible : installation au stade « {} »":
        "Service start not possible: onboarding at stage “{}”",
    "Installation déjà terminée": "Onboarding already finished",
    # a site's own days (console/pages_admin.py, planning/site_days.py)
    "Jours d'ouverture ajoutés au site {} : {}.": "Open days added to site {}: {}.",
    "Jours de fermeture ajoutés au site {} : {}.": "Closed days added to site {}: {}.",
    "Indiquer le premier jour": "Give the first day",
    "Site introuvable": "Site not found",
    "La fin de la période précède son début": "The period's end comes before its start",
    "Une période d'un an au plus": "A period of one year at most",
    # a planner's year (issue 19, part A): answers, holds, phone dates, leave, the report
    "la visite n'attend plus de réponse": "the visit no longer waits for an answer",
    "réponse à la proposition {}, remplacée par la {}":
        "answer to proposal {}, replaced by proposal {}",
    "cette proposition a déjà reçu sa réponse": "this proposal has already been answered",
    "date {} non proposée": "date {} not proposed",
    "réponse après l'échéance": "answer after the deadline",
    "Le consultant a déjà une visite ou une date proposée en attente de réponse le {} "
    "(visite n° {}) : une visite par jour au plus":
        "The consultant already has a visit or a proposed date awaiting an answer on {} "
        "(visit no. {}): one visit a day at most",
    "Le consultant est en congé le {}": "The consultant is on leave on {}",
    "Le {} n'est pas un jour ouvré du site{}": "{} is not a working day at the site{}",
    "La fiche n'a pas de destinataire : renseigner VIGIE_VISIT_REPORT_EMAIL ou "
    "VIGIE_TEAM_EMAIL avant de l'envoyer":
        "The report has no recipient: set VIGIE_VISIT_REPORT_EMAIL or VIGIE_TEAM_EMAIL "
        "before sending it",
    "Visite à replanifier, mais : {}": "Visit to reschedule, but: {}",
    "Affecter un consultant avant de confirmer une date":
        "Assign a consultant before confirming a date",
    "Congé refusé : visite confirmée sur ces jours ({}). Choisir « replanifier ces visites » "
    "pour prendre le congé.":
        "Leave refused: a visit is confirmed on these days ({}). Choose “reschedule these "
        "visits” to take the leave.",
    "{} jour(s) de congé enregistré(s). {} visite(s) remise(s) à replanifier, client(s) "
    "prévenu(s).":
        "{} day(s) of leave recorded. {} visit(s) put back to rescheduling, client(s) told.",
}


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for french, english in MESSAGES.items():
        if "{}" not in french:
            continue
        regex = "(.+?)".join(re.escape(part) for part in french.split("{}"))
        out.append((re.compile(regex, re.S), english))
    # the most specific first: the longest fixed text wins over "Le cas est déjà {}"
    out.sort(key=lambda p: -len(p[0].pattern))
    return out


@lru_cache(maxsize=1)
def _labels() -> dict[str, str]:
    """French label -> English, for the values a message carries."""
    from console.i18n import CRITICALITY_EN, STATE_EN
    from messages.cases import CRITICALITY_LABELS, STATE_LABELS
    from messages.visits import STATE_LABELS as VISIT_LABELS

    out = {fr: STATE_EN.get(key, fr) for key, fr in STATE_LABELS.items()}
    out.update({fr: CRITICALITY_EN.get(key, fr) for key, fr in CRITICALITY_LABELS.items()})
    out.update({pair[0]: pair[1] for pair in VISIT_LABELS.values() if len(pair) > 1})
    return out


def translate(lang: str, text: str, depth: int = 0) -> str:
    """``text`` in ``lang``: the fixed texts' table first, then the templates above."""
    if lang != "en" or not text:
        return text
    from console.i18n import EN

    if text in EN:
        return EN[text]
    if text in MESSAGES:
        return MESSAGES[text]
    labels = _labels()
    for pattern, english in _patterns():
        found = pattern.fullmatch(text)
        if found:
            return english.format(*(_value(v, labels, depth) for v in found.groups()))
    return text


def _value(value: str, labels: dict[str, str], depth: int) -> str:
    """A value in English: a label, a fixed text, or a message itself (one level down:
    "Cas non modifiable : <the workflow's refusal>")."""
    if value in labels:
        return labels[value]
    return translate("en", value, depth + 1) if depth < 1 else value
