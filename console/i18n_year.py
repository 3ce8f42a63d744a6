# ruff: noqa: E501  (one translation per line, however long)
"""English for the planner's year (issue 19, part A): late visits, the client's answer
pages, rescheduling and leave, the planner's inbox. Merged into ``console.i18n.EN``; kept
apart to merge easily."""

from __future__ import annotations

EN_YEAR: dict[str, str] = {
    # the client's answer page
    "La visite a eu lieu le": "The visit took place on",
    "Merci :": "Thank you:",
    "La visite est confirmée le": "The visit is confirmed on",
    "Cette proposition a déjà reçu sa réponse.": "This proposal has already been answered.",
    "Cette visite a été annulée : ce lien ne sert plus. Votre interlocuteur reste à votre disposition.": "This visit was cancelled: this link no longer applies. Your contact remains at your disposal.",
    "Une nouvelle proposition vous a été envoyée : merci de répondre depuis le mail le plus récent.": "A new proposal was sent to you: please answer from the most recent mail.",
    "Cette proposition a déjà reçu sa réponse : de nouvelles dates vous seront proposées.": "This proposal has already been answered: new dates will be proposed to you.",
    "Cette visite n'existe plus : votre interlocuteur va vous recontacter.": "This visit no longer exists: your contact will call you back.",
    # late visits, phone dates, rescheduling, leave
    "Boîte du planificateur": "Planner's inbox",
    "Retard (jours ouvrés)": "Late (business days)",
    "Visite confirmée sur ces jours": "Confirmed visit on these days",
    "refuser le congé": "refuse the leave",
    "replanifier ces visites (client prévenu)": "reschedule these visits (client told)",
    "en retard de": "late by",
    "jour(s) ouvré(s)": "business day(s)",
    "visite en retard : dates après la fenêtre": "late visit: dates after the window",
    "Date proposée": "Proposed date",
    "ou autre date convenue": "or another agreed date",
    "puis, au choix : nouvelles dates à proposer": "then, either: new dates to propose",
    "ou date convenue par téléphone": "or a date agreed by phone",
    "Mails de la visite": "The visit's mails",
    "aucun destinataire": "no recipient",
    "Aucun mail pour cette visite.": "No mail for this visit.",
    # the planner's inbox (planning/inbox.py)
    "Ce qui attend un planificateur : réponses des clients, échéances passées, visites confirmées touchées par un congé ou une fermeture, fiches non remises, visites en retard. Aussi en JSON": "What waits on a planner: clients' answers, passed deadlines, confirmed visits hit by leave or a closure, reports not delivered, late visits. Also as JSON",
    "Quoi": "What",
    "Dates": "Dates",
    "Échéance": "Deadline",
    "Relances": "Reminders",
    "Rien n'attend.": "Nothing waits.",
    "aucune réponse du client à l'échéance": "no answer from the client by the deadline",
    "proposition en attente de réponse": "proposal awaiting an answer",
    "aucune des dates proposées ne convient au client": "none of the proposed dates suits the client",
    "visite confirmée sur un congé du consultant": "confirmed visit on the consultant's leave",
    "visite confirmée un jour de fermeture du site": "confirmed visit on a day the site is closed",
    "fiche envoyée à aucun destinataire": "report sent to no recipient",
    "la proposition n'a pas pu être envoyée au client": "the proposal could not be sent to the client",
    "fenêtre close : visite en retard": "window closed: late visit",
    "Confirmer une date convenue par téléphone": "Confirm a date agreed by phone",
    "Proposer d'autres dates": "Propose other dates",
    "Replanifier": "Reschedule",
    "Voir la fiche": "See the report",
    "Proposer des dates après la fenêtre": "Propose dates after the window",
}
