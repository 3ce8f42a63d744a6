"""The site incidents' words (queue, case page, storm banner): French, the msgids of
``console/locale`` (kept apart to ease merging)."""

from __future__ import annotations

from messages.words import N_

# a child's state (records.incidents) as the console says it, in French
CHILD_STATE_FR: dict[str, str] = {
    "failing": N_("en défaut"),
    "recovered": N_("rétablie : close avec l'incident"),
    "promoted": N_("toujours en défaut au retour du lien : cas distinct"),
    "rewatched": N_("surveillée de nouveau depuis le retour du lien"),
}

RULES_HINT = N_("Pendant qu'un cas ouvert correspond à la source, les alertes de la cible "
                "(même client ou même site) sont enregistrées, rattachées à ce cas et "
                "n'ouvrent pas de cas.")
