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
}
