"""English for the contract pages (kept apart from ``console.i18n`` to ease merging; that
module folds it into its ``EN`` table). The 3.1 items' English is the domain's own."""

from __future__ import annotations

import re

from domain.contract import PREREQUISITES, SIZING_RULES

_RULES_EN = ("1 to 9 users, at most 2 servers: 1 day",
             "10 to 49 users and 3 servers or more: 2 days",
             "50 users and more: length set in the contract")

EN: dict[str, str] = {
    # issue 20: a client's personal data page (console/pages_privacy.py)
    "Effacer ce contact": "Erase this contact",
    "Courriel": "E-mail",
    "Raison": "Reason",
    "Demandes, conservation légale, effacement": "Requests, legal holds, erasure",
    "Aucun contact": "No contact",
    "Conservation légale": "Legal hold",
    "Posée par": "Set by",
    "Levée": "Released",
    "Lever": "Release",
    "Aucune conservation": "No hold",
    "référence du dossier": "case file reference",
    "Poser une conservation légale": "Set a legal hold",
    "Effacer tout le client (sur instruction)": "Erase the whole client (on its instruction)",
    "Demandes d'effacement": "Erasure requests",
    "Résultat": "Outcome",
    "tout le client": "the whole client",
    "effectué": "done",
    "refusé": "refused",
    "Aucune demande": "No request",
    "demandeur": "requester",
    "raison": "reason",
    **{p.label: p.label_en for p in PREREQUISITES},
    **{r.label: en for r, en in zip(SIZING_RULES, _RULES_EN, strict=True)},
    "Accès aux données": "Data access",
    "Aucun accès enregistré": "No access recorded",
    "Autre cas : décision du planificateur, enregistrée avec son auteur":
        "Any other size: the planner's decision, recorded with its author",
    "Ce qui bloque": "What blocks it",
    "Contrat": "Contract",
    "Contrats": "Contracts",
    "Date de début": "Start date",
    "Document technique": "Technical document",
    "Données effacées le": "Data erased on",
    "Données personnelles": "Personal data",
    "Durée d'installation (contrat 3.2.1)": "Onboarding length (contract 3.2.1)",
    "Durée d'installation au contrat (jours, dès 50 utilisateurs)":
        "Onboarding length in the contract (days, from 50 users)",
    "Durée sur site": "On-site length",
    "Décider la durée": "Decide the length",
    "Déroger": "Waive",
    "Détail": "Detail",
    "Effacer définitivement ?": "Erase for good?",
    "Effacer les données personnelles": "Erase the personal data",
    "En service depuis": "In service since",
    "Enregistrer la mise en demeure": "Record the formal notice",
    "Enregistrer le contrat": "Record the contract",
    "Enregistrer un contrat": "Record a contract",
    "Exporter les données du client (ZIP)": "Export the client's data (ZIP)",
    "Fin du contrat (articles 5 à 7)": "End of the contract (articles 5 to 7)",
    "Installation (contrat 3.2.1)": "Onboarding (contract 3.2.1)",
    "Journal des accès": "Access log",
    "Le processus d'installation ne répond pas (Temporal injoignable ou non démarré).":
        "The onboarding process does not answer (Temporal unreachable or not started).",
    "Manquement constaté": "Breach found",
    "Manquement corrigé": "Breach remedied",
    "Mettre le contrat en service": "Put the contract in service",
    "Mise en demeure reçue le": "Formal notice received on",
    "Mon contrat": "My contract",
    "Options souscrites": "Options bought",
    "Politiques applicables": "Policies that apply",
    "Politiques applicables (séparées par des virgules)": "Policies that apply (comma-separated)",
    "Preuve": "Evidence",
    "Prérequis (contrat 3.1)": "Prerequisites (contract 3.1)",
    "Quand": "When",
    "Qui": "Who",
    "Qui a consulté les données de quel client": "Who viewed which client's data",
    "Quoi": "What",
    "Relancer": "Start again",
    "Rien": "Nothing",
    "Résiliation immédiate": "Immediate termination",
    "Résilié le": "Terminated on",
    "Taille": "Size",
    "Tous les clients": "All clients",
    "Un client sans contrat enregistré est surveillé comme un contrat en service.":
        "A client with no recorded contract is monitored as a contract in service.",
    "Visite d'installation": "Onboarding visit",
    "Votre contrat est en service.": "Your contract is in service.",
    "Vérifié par": "Checked by",
    "correction constatée": "remedy found",
    "dérogation de": "waiver by",
    "dérogé": "waived",
    "en service": "in service",
    "installation": "onboarding",
    "installé": "installed",
    "inventaire": "inventory",
    "jour 20 :": "day 20:",
    "jour(s)": "day(s)",
    "jours": "days",
    "mise en demeure": "formal notice",
    "obligatoire": "mandatory",
    "ouvert": "open",
    "possible à partir du": "possible from",
    "preuve": "evidence",
    "raison de la dérogation": "reason for the waiver",
    "rempli": "met",
    "résilié": "terminated",
    "sans contrat enregistré": "no recorded contract",
    "sans objet": "not applicable",
    "version logicielle non supportée": "unsupported software version",
    "vérifié": "verified",
    "Élément": "Item",
    "Étape": "Step",
    "à déployer": "to deploy",
    "agent de télésurveillance": "monitoring agent",
    "agent matériel": "hardware agent",
    "alertes de sauvegarde": "backup alerts",
    "console antivirus": "antivirus console",
    "Prérequis ouvert": "Open prerequisite",
    "Durée d'installation à décider (cas non prévu au contrat)":
        "Onboarding length to decide (a size the contract does not cover)",
    "Sondes à déployer": "Sensors to deploy",
    "Mise en demeure en cours": "Formal notice running",
    "Prérequis enregistré.": "Prerequisite recorded.",
    "Dérogation enregistrée.": "Waiver recorded.",
    "Sonde enregistrée.": "Sensor recorded.",
    "Contrat en service": "Contract in service",
    "Contrat enregistré : installation en cours.": "Contract recorded: onboarding under way.",
    "contacts": "contacts",
    "Avis au planificateur": "Notices to the planner",
}

# The contract timeline's actions (``contracts.store``, the onboarding and termination
# workflows, ``activities.contracts``), as the page shows them.
CONTRACT_EVENT_LABELS: dict[str, tuple[str, str]] = {
    "created": ("contrat enregistré", "contract recorded"),
    "status": ("changement de statut", "status change"),
    "prerequisite_met": ("prérequis rempli", "prerequisite met"),
    "prerequisite_open": ("prérequis rouvert", "prerequisite reopened"),
    "prerequisite_not_applicable": ("prérequis sans objet", "prerequisite not applicable"),
    "prerequisite_waived": ("prérequis dérogé", "prerequisite waived"),
    "sensor_planned": ("sonde à déployer", "sensor to deploy"),
    "sensor_installed": ("sonde installée", "sensor installed"),
    "sensor_verified": ("sonde vérifiée", "sensor verified"),
    "planner_notice": ("avis au planificateur", "notice to the planner"),
    "onboarding_size": ("durée d'installation calculée", "onboarding length computed"),
    "onboarding_decide": ("durée d'installation décidée", "onboarding length decided"),
    "onboarding_scheduled": ("visite d'installation planifiée", "onboarding visit scheduled"),
    "onboarding_activate": ("mise en service", "put in service"),
    "onboarding_cancel": ("installation annulée", "onboarding cancelled"),
    "onboarding_visit_refused": ("visite d'installation à planifier à la main",
                                 "onboarding visit to schedule by hand"),
    "termination_give_notice": ("mise en demeure", "formal notice"),
    "termination_remedy": ("manquement corrigé", "breach remedied"),
    "termination_terminate": ("résiliation", "termination"),
    "termination_retention_over": ("fin de la conservation des données",
                                   "end of data retention"),
    "monitoring_stopped": ("surveillance arrêtée", "monitoring stopped"),
}


def event_label(lang: str, action: str) -> str:
    pair = CONTRACT_EVENT_LABELS.get(action)
    if pair is None:
        return action.replace("_", " ")
    return pair[1] if lang == "en" else pair[0]


def blocker_text(lang: str, what: str) -> str:
    """A blocker (``contracts.store.blockers``, French "head : detail") in the page's
    language: the head and a prerequisite's label from the table above, a count of
    elements in words."""
    from console.i18n import gettext

    head, sep, tail = what.partition(" : ")
    if not sep:
        return gettext(lang, what)
    if lang == "en":
        count = re.fullmatch(r"(\d+) élément\(s\)", tail)
        if count:
            tail = f"{count.group(1)} item(s)"
        else:
            tail = {"manquement à corriger": "breach to remedy"}.get(tail, gettext(lang, tail))
    return f"{gettext(lang, head)} : {tail}"
