"""The site incidents' words (queue, case page, storm banner), kept apart to ease merging:
French first, folded into ``console.i18n.EN`` at import."""

from __future__ import annotations

# a child's state (records.incidents) as the console says it, in French
CHILD_STATE_FR: dict[str, str] = {
    "failing": "en défaut",
    "recovered": "rétablie : close avec l'incident",
    "promoted": "toujours en défaut au retour du lien : cas distinct",
    "rewatched": "surveillée de nouveau depuis le retour du lien",
}

RULES_HINT = ("Pendant qu'un cas ouvert correspond à la source, les alertes de la cible (même "
              "client ou même site) sont enregistrées, rattachées à ce cas et n'ouvrent pas "
              "de cas.")

EN: dict[str, str] = {
    "en défaut": "failing",
    "rétablie : close avec l'incident": "recovered: closes with the incident",
    "toujours en défaut au retour du lien : cas distinct":
        "still failing when the link came back: a case of its own",
    "surveillée de nouveau depuis le retour du lien": "watched again since the link came back",
    "alertes rattachées": "attached alerts",
    "Alertes rattachées à l'incident de site": "Alerts attached to the site incident",
    "Aucune alerte rattachée.": "No attached alert.",
    "ni mail, ni appel, ni délai SLA propres : l'incident de site les porte":
        "no mail, no call, no SLA clock of their own: the site incident carries them",
    "Issu de l'incident de site": "Came from the site incident",
    "ouvert au retour du lien": "opened when the link came back",
    "Origine": "Origin",
    "absence": "absence",
    "message": "message",
    "Messages": "Messages",
    "Dernier": "Last",
    "Suite": "Outcome",
    "voir le cas": "see case",
    "Tempête": "Storm",
    "cas chez": "cases at",
    "clients depuis": "clients since",
    "chaque cas garde son propre registre": "each case keeps its own ledger",
    "Prendre en charge les": "Take on the",
    "Classer les": "Classify the",
    "Action groupée inconnue": "Unknown bulk action",
    "inhibée par la règle": "muted by the rule",
    "cause": "cause",
    "Règles d'inhibition": "Inhibition rules",
    "Nom": "Name",
    "Source (famille)": "Source (family)",
    "Source (contrôle)": "Source (check)",
    "Cible (famille)": "Target (family)",
    "Cible (contrôle)": "Target (check)",
    "Même": "Same",
    "Échéance": "Expires",
    "Auteur": "Author",
    "Révoquer": "Revoke",
    "Prolonger / renommer": "Extend / rename",
    "révoquée": "revoked",
    "échue": "expired",
    "en vigueur": "in force",
    "Nouvelle règle": "New rule",
    "Créer": "Create",
    "Client (code, vide : tous)": "Client (code, empty: all)",
    "Journal des règles": "Rules' log",
    "Quand": "When",
    "Qui": "Who",
    "Quoi": "What",
    "Détail": "Detail",
    "site": "site",
    RULES_HINT: (
        "While an open case matches the source, the target's alerts (same client or same "
        "site) are recorded, linked to that case, and open no case."
    ),
}

FAMILY_LABELS: dict[str, tuple[str, str]] = {
    "site": ("incident de site", "site incident"),
    "desk_intake": ("poste Vigie (réception)", "Vigie desk (intake)"),
}
