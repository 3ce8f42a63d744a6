"""The contract pages' words: the contract timeline's labels (French, the msgids of
``console/locale``) and the blockers ``contracts.store`` writes in French."""

from __future__ import annotations

from console.i18n import N_, Phrase, gettext, translate_phrases

# The contract timeline's actions (``contracts.store``, the onboarding and termination
# workflows, ``activities.contracts``), as the page shows them.
CONTRACT_EVENT_LABELS: dict[str, str] = {
    "created": N_("contrat enregistré"),
    "status": N_("changement de statut"),
    "prerequisite_met": N_("prérequis rempli"),
    "prerequisite_open": N_("prérequis rouvert"),
    "prerequisite_not_applicable": N_("prérequis sans objet"),
    "prerequisite_waived": N_("prérequis dérogé"),
    "sensor_planned": N_("sonde à déployer"),
    "sensor_installed": N_("sonde installée"),
    "sensor_verified": N_("sonde vérifiée"),
    "planner_notice": N_("avis au planificateur"),
    "onboarding_size": N_("durée d'installation calculée"),
    "onboarding_decide": N_("durée d'installation décidée"),
    "onboarding_scheduled": N_("visite d'installation planifiée"),
    "onboarding_activate": N_("mise en service"),
    "onboarding_cancel": N_("installation annulée"),
    "onboarding_visit_refused": N_("visite d'installation à planifier à la main"),
    "termination_give_notice": N_("mise en demeure"),
    "termination_remedy": N_("manquement corrigé"),
    "termination_terminate": N_("résiliation"),
    "termination_retention_over": N_("fin de la conservation des données"),
    "monitoring_stopped": N_("surveillance arrêtée"),
}



def event_label(lang: str, action: str) -> str:
    value = CONTRACT_EVENT_LABELS.get(action)
    if value is None:
        return action.replace("_", " ")
    return gettext(lang, value)


BLOCKER_PHRASES: tuple[Phrase, ...] = (
    Phrase(N_("{} élément(s)"), r"^(\d+) élément\(s\)$"),
)


def blocker_text(lang: str, what: str) -> str:
    """A blocker (``contracts.store.blockers``, French "head : detail") in the page's
    language: the head and a prerequisite's label from the catalog, a count of elements
    in words."""
    head, sep, tail = what.partition(" : ")
    if not sep:
        return gettext(lang, what)
    counted = translate_phrases(lang, tail, BLOCKER_PHRASES)
    tail = counted if counted != tail else gettext(lang, tail)
    return f"{gettext(lang, head)} : {tail}"
