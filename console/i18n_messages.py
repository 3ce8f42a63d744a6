"""Messages that carry a value: flashes ("Serveur srv-x créé…") and the refusals the
workflows and the data layer give in French ("Le cas est clôturé : rouvrez-le d'abord").

A message with a value cannot be looked up as it is, so each French template here has its
``{}`` places and is a msgid of the catalog (``console/locale``), its English the msgstr
with the same ``{}`` in the same order; a message matching one is given in English with
the same values, themselves translated when they are a label the console knows (a case or
visit state, a criticality). A message matching nothing stays French: the workflows' own
words, never lost. ``tests/test_console_messages.py`` finds every refusal and flash in the
code and checks that each has its English in the catalog.
"""

from __future__ import annotations

import re
from functools import lru_cache

from console.i18n import DEFAULT_LANG, N_, gettext, known, label_text

# French templates (msgids); the same number of {} in the English
MESSAGES: tuple[str, ...] = (
    # one-line fields (issue 21, finding 7: text that reaches a mail header)
    N_("Champ « {} » : retour à la ligne interdit"),
    N_("Nom du jeton : retour à la ligne interdit"),
    N_("colonne « {} » : retour à la ligne interdit"),
    N_("Valeur invalide : « {} » : retour à la ligne interdit"),
    N_("Valeur invalide : « {} » doit être un texte"),
    N_("« {} » : {} caractères, {} au plus"),
    N_("Nouveau lien de calendrier : l'ancien ne fonctionne plus."),
    N_("Lien de calendrier révoqué."),
    N_("Calendrier de {} révoqué."),
    N_("Verrouillage introuvable ou déjà terminé"),
    N_("Verrouillage de {} levé."),
    N_("Un import est déjà en cours : attendez sa fin"),

    # personal data on request (issue 20: contracts/requests.py, console/pages_privacy.py)
    N_("Conservation légale (posée par {}) : {}"),
    N_("Demande {} encore ouverte : effacement après sa clôture"),
    N_("Indiquez la raison de la conservation (référence du dossier)"),
    N_("Contact {} inconnu"),
    N_("Indiquez le demandeur et la raison de l'effacement"),
    N_("Contrat en cours : résiliez-le d'abord (la résiliation clôt les cas et annule les "
       "visites avant l'effacement)"),
    N_("Contact effacé partout"),
    N_("Résiliation en cours : effacement possible quand elle aura clos les cas et annulé "
       "les visites"),
    N_("Conservation légale posée"),
    N_("Conservation légale levée"),
    N_("contact déjà effacé"),
    N_("VIGIE_CODEC_MASTER_KEY : 64 chiffres hexadécimaux attendus"),
    # the case workflow's refusals (workflows/case_machine.py)
    N_("Action inconnue : {}"),
    N_("L'auteur de l'action doit être indiqué"),
    N_("Action « {} » impossible : le cas est {}"),
    N_("Le cas est {} : rouvrez-le d'abord"),
    N_("Indiquez la criticité (sans impact, mineur, significatif ou majeur)"),
    N_("La demande est transférée au niveau 2 : le cas ne peut plus être reclassé"),
    N_("Le cas est déjà classé {}"),
    N_("Indiquez le canal et le résultat du contact"),
    N_("Fixez d'abord la criticité du cas avant de contacter le client (3.2.3)"),
    N_("Un cas sans impact ne donne lieu à aucune communication client (3.2.3 Sans impact) : "
       "reclassez-le d'abord"),
    N_("Rédigez les consignes à transmettre au client"),
    N_("Indiquez le canal des consignes (mail, SMS ou téléphone)"),
    N_("Des appels automatiques sont déjà en cours pour ce cas"),
    N_("Un SMS porte des consignes courtes (300 caractères au plus)"),
    N_("Une demande est déjà enregistrée pour ce cas ({})"),
    N_("Une demande au support ne s'enregistre que pour un cas significatif ou majeur "
       "(3.2.3)"),
    N_("Le diagnostic N1 est déjà en cours"),
    N_("Le diagnostic N1 ne concerne que les cas majeurs/étendus (3.2.3)"),
    N_("Le diagnostic N1 ne peut démarrer qu'après l'appel du client (cas majeur)"),
    N_("La demande est déjà transférée au niveau 2"),
    N_("Le transfert au niveau 2 suit le diagnostic N1 : démarrez-le d'abord (3.2.3 "
       "Majeur/étendu)"),
    N_("Le cas est déjà {}"),
    N_("Le cas est déjà clôturé"),
    N_("Seul un cas résolu peut être clôturé : résolvez-le d'abord"),
    N_("Le cas est encore ouvert : il n'y a rien à rouvrir"),
    N_("Indiquez la personne à qui assigner le cas"),
    N_("Le cas est déjà assigné à {}"),
    N_("La note est vide"),
    # the visit workflow's refusals (workflows/visit_machine.py)
    N_("Un motif est obligatoire"),
    N_("La date {} ne fait pas partie des dates proposées"),
    N_("Aucun consultant indiqué"),
    N_("Aucun consultant n'est affecté à la visite"),
    N_("Le rapport est encore en préparation : réessayer dans un instant"),
    N_("Action « {} » impossible : la visite est {}"),
    N_("Proposer deux ou trois dates"),
    N_("Les dates proposées doivent être différentes"),
    N_("Une visite préventive dure une journée au plus (3.2.4)"),
    N_("Le {} n'est pas dans le futur"),
    N_("Le {} est hors de la fenêtre de la visite ({} – {})"),
    N_("Le {} n'est pas un jour ouvré du site du client"),
    N_("Date illisible : {}"),
    # the visits' data layer (planning/)
    N_("type de visite inconnu : {}"),
    N_("La fin de la fenêtre précède son début"),
    N_("visite {} introuvable"),
    N_("Visite introuvable"),
    N_("Seul un point « KO » ouvre un cas"),
    N_("élément de check-list inconnu : {}"),
    N_("réponse invalide : {} (ok, ko, na)"),
    N_("client {} introuvable"),
    N_("règle de comptage inconnue : {} (start ou max)"),
    # the contract's data layer (contracts/)
    N_("Option inconnue : {}"),
    N_("Indiquez l'adresse IP fixe du client"),
    N_("Statut possible : rempli ou ouvert"),
    N_("Un prérequis rempli demande sa preuve (document, constat, test)"),
    N_("Seul un responsable peut accorder une dérogation"),
    N_("Une dérogation demande sa raison"),
    N_("Statut de sonde inconnu : {}"),
    N_("Client {} inconnu"),
    N_("{} a déjà un contrat"),
    N_("Nombres d'utilisateurs et de serveurs positifs"),
    N_("Contrat {} introuvable"),
    N_("Prérequis introuvable"),
    N_("Contrat résilié : la liste est close"),
    N_("Option non souscrite : sans objet"),
    N_("Dérogation possible avant la mise en service seulement"),
    N_("Seul un prérequis ouvert peut faire l'objet d'une dérogation"),
    N_("Élément introuvable"),
    N_("Adresse IP invalide : {}"),
    N_("Client ou contrat introuvable"),
    N_("Effacement possible après la résiliation seulement"),
    N_("Durée de conservation en cours jusqu'au {}"),
    N_("Données effacées : {}"),
    # the console's own refusals of a case action (console/api.py run_action)
    N_("Cas non modifiable : {}"),
    N_("Le cas n'a pas répondu à temps"),
    # flashes with a value (console/)
    N_("Événement rattaché ; le cas suit sous peu.{}"),
    N_("Réponse rattachée au cas {}."),
    N_("Serveur {} créé ; l'événement y est rattaché."),
    N_("{} jour(s) de congé enregistré(s)."),
    # a storm's bulk action (console/pages_cases.py, issue 22)
    N_("Action groupée : {} cas, {} refusés"),
    N_("Règle d'inhibition n° {} enregistrée."),
    N_("Règle d'inhibition n° {} modifiée."),
    N_("Règle d'inhibition n° {} révoquée."),
    N_("{} visite(s) planifiée(s)."),
    N_("{} visite(s) planifiée(s), {} fenêtre(s) recoupée(s)."),
    N_("{} visite(s) créée(s), workflows non démarrés : {}"),
    N_("{} visite(s) créée(s), {} fenêtre(s) recoupée(s), workflows non démarrés : {}"),
    # what the visit workflow records on its timeline and history of dates
    # (workflows/visit_machine.py), shown on the visit page
    N_("fenêtre {} – {}"),
    N_("proposition {} : {}"),
    N_("date prévue {}, visite faite le {}"),
    N_("date {} abandonnée : {}"),
    N_("relance automatique"),
    N_("échéance de réponse dépassée"),
    N_("rappel la veille"),
    N_("aucune date ne convient"),
    N_("fin de la journée de visite (une journée au plus, 3.2.4)"),
    N_("visite non démarrée le jour prévu"),
    N_("démonstration"),
    N_("accord du client par téléphone (démonstration)"),
    # a ko item of the checklist (console/pages_visits.py, planning/cases.py)
    N_("Demande ouverte : {}"),
    N_("Cas ouvert : {}"),
    N_("{}, {} (référence attribuée sous peu)"),
    # the visit pages' flashes and refusals (console/pages_visits.py, visit_actions.py,
    # pages_planning.py, planning/rules.py)
    N_("Temporal non configuré"),
    N_("Action réservée à un autre rôle"),
    N_("Cette visite est confiée à un autre consultant"),
    N_("Visite non modifiable : {}"),
    N_("La visite n'a pas répondu à temps"),
    N_("Processus non démarré : {}"),
    N_("Processus de la visite démarré."),
    N_("Document technique enregistré (version {})."),
    N_("Consultant inconnu"),
    N_("Choisir un consultant"),
    N_("Le consultant a déjà une visite le {} (visite n° {}) : une visite par jour au plus"),
    N_("Le consultant a déjà une visite le {}"),
    N_("Le {} n'est pas un jour ouvré du site"),
    N_("Le {} n'est pas un jour ouvré du site ({})"),
    N_("Congé : dates illisibles"),
    N_("Congé : période invalide"),
    N_("La check-list se remplit pendant la visite"),
    N_("Check-list réservée au consultant"),
    N_("Rapport introuvable"),
    N_("Schéma trop volumineux (5 Mo au plus)"),
    N_("Aucun schéma"),
    N_("Client introuvable"),
    N_("Contrat introuvable"),
    # the contract pages' flashes and the contract workflows' refusals
    # (console/pages_contracts.py, workflows/onboarding_machine.py, termination_machine.py)
    N_("Contrat non modifiable pour l'instant : {}"),
    N_("Le processus du contrat n'a pas répondu à temps"),
    N_("Installation non démarrée ({}) : relancez depuis la page du contrat"),
    N_("Installation en cours."),
    N_("Mise en demeure possible pour un contrat en service seulement"),
    N_("Aucune mise en demeure en cours"),
    N_("Une procédure est déjà en cours"),
    N_("Procédure non démarrée : {}"),
    N_("Mise en demeure enregistrée : délai de 20 jours en cours."),
    N_("Résiliation immédiate en cours."),
    N_("L'auteur doit être indiqué"),
    N_("Décrivez le manquement"),
    N_("Indiquez la version non supportée"),
    N_("Date de réception de la mise en demeure obligatoire"),
    N_("Type de résiliation inconnu : {}"),
    N_("Aucune décision de durée attendue : la règle du contrat s'applique"),
    N_("Durée d'installation entre 1 et {} jours"),
    N_("Mise en service impossible : installation au stade « {} »"),
    N_("Installation déjà terminée"),
    # a site's own days (console/pages_admin.py, planning/site_days.py)
    N_("Jours d'ouverture ajoutés au site {} : {}."),
    N_("Jours de fermeture ajoutés au site {} : {}."),
    N_("Indiquer le premier jour"),
    N_("Site introuvable"),
    N_("La fin de la période précède son début"),
    N_("Une période d'un an au plus"),
    # a planner's year (issue 19, part A): answers, holds, phone dates, leave, the report
    N_("la visite n'attend plus de réponse"),
    N_("réponse à la proposition {}, remplacée par la {}"),
    N_("cette proposition a déjà reçu sa réponse"),
    N_("date {} non proposée"),
    N_("réponse après l'échéance"),
    N_("Le consultant a déjà une visite ou une date proposée en attente de réponse le {} "
       "(visite n° {}) : une visite par jour au plus"),
    N_("Le consultant est en congé le {}"),
    N_("Le {} n'est pas un jour ouvré du site{}"),
    N_("La fiche n'a pas de destinataire : renseigner VIGIE_VISIT_REPORT_EMAIL ou "
       "VIGIE_TEAM_EMAIL avant de l'envoyer"),
    N_("Visite à replanifier, mais : {}"),
    N_("Affecter un consultant avant de confirmer une date"),
    N_("Congé refusé : visite confirmée sur ces jours ({}). Choisir « replanifier ces "
       "visites » pour prendre le congé."),
    N_("{} jour(s) de congé enregistré(s). {} visite(s) remise(s) à replanifier, client(s) "
       "prévenu(s)."),)


@lru_cache(maxsize=1)
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    out = []
    for french in MESSAGES:
        if "{}" not in french:
            continue
        regex = "(.+?)".join(re.escape(part) for part in french.split("{}"))
        out.append((re.compile(regex, re.S), french))
    # the most specific first: the longest fixed text wins over "Le cas est déjà {}"
    out.sort(key=lambda p: -len(p[0].pattern))
    return out


@lru_cache(maxsize=4)
def _labels(lang: str) -> dict[str, str]:
    """French label -> ``lang``, for the values a message carries."""
    from messages.cases import CRITICALITY_LABELS, STATE_LABELS
    from messages.visits import STATE_WORDS as VISIT_WORDS

    out = {fr: gettext(lang, fr) for fr in STATE_LABELS.values()}
    out.update({fr: gettext(lang, fr) for fr in CRITICALITY_LABELS.values()})
    out.update({word.text: label_text(lang, word) for word in VISIT_WORDS.values()})
    return out


def translate(lang: str, text: str, depth: int = 0) -> str:
    """``text`` in ``lang``: the catalog's fixed texts first, then the templates above."""
    if lang == DEFAULT_LANG or not text:
        return text
    if known(lang, text):
        return gettext(lang, text)
    labels = _labels(lang)
    for pattern, french in _patterns():
        found = pattern.fullmatch(text)
        if found:
            said = gettext(lang, french)
            return said.format(*(_value(lang, v, labels, depth) for v in found.groups()))
    return text


def _value(lang: str, value: str, labels: dict[str, str], depth: int) -> str:
    """A value in ``lang``: a label, a fixed text, or a message itself (one level down:
    "Cas non modifiable : <the workflow's refusal>")."""
    if value in labels:
        return labels[value]
    return translate(lang, value, depth + 1) if depth < 1 else value
