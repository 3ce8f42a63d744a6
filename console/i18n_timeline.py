"""The case timeline in the page's language. The case workflow writes each line's reason in
French into the ledger (a replayed history must read the same, so the ledger keeps it);
the page translates at display time:

- a reason that is a whole msgid or a message template of the catalog (the workflow's own
  reasons below, a refusal, a flash) is shown in English with its values;
- a call line of the contact workflow ("Jean (contact principal), appel 1/2 : ...") and the
  evidence a send recorded ("dry-run : appel vers ... enregistré, non envoyé", "conservé
  par la boîte de capture locale") have their fixed phrases in English, the values (a
  number, a relay's answer) as recorded;
- what people and alerts wrote (a note, an alert's summary, a typed reason) stays as
  written: data, not the console's words.
"""

from __future__ import annotations

from console.i18n import N_, Phrase, translate_phrases
from console.i18n_messages import translate

# The case workflow's reasons (``workflows.case_machine``: the *_REASON constants and the
# preset triage's default), as msgids; tests/test_words_catalog.py keeps them equal.
SYSTEM_REASONS: tuple[str, ...] = (
    N_("rétablissement reçu"),
    N_("nouvelle alerte sur un cas résolu"),
    N_("alerte antérieure au dernier rétablissement, reçue après lui"),
    N_("diagnostic N1 non abouti dans le délai"),
    N_("clôture automatique : aucune nouvelle alerte depuis la résolution"),
    N_("attribué à la première personne qui agit sur le cas"),
    N_("criticité fixée d'office pour cette source"),
)

# The contact workflow's call lines (``workflows.contact``): their fixed phrases, in order.
CALL_PHRASES: tuple[Phrase, ...] = (
    Phrase(N_(", appel {}/{}")),
    Phrase(N_("aucun contact du client n'a de numéro de téléphone")),
    Phrase(N_("aucun contact joint par téléphone")),
    Phrase(N_(" ; mail de repli")),
    Phrase(N_(" ; le premier contact (une personne au téléphone) reste à faire")),
    Phrase(N_("(contact principal)")),
    Phrase(N_("(contact de secours)")),
    Phrase(N_("(contact d'astreinte)")),
)

# What the phone and mail activities record as a send's evidence (``activities.phone``,
# ``activities.mail``, ``activities.visits``): their fixed phrases, the longest first.
EVIDENCE_PHRASES: tuple[Phrase, ...] = (
    Phrase(N_("dry-run : appel vers {} enregistré, non envoyé")),
    Phrase(N_("dry-run : SMS vers {} enregistré, non envoyé")),
    Phrase(N_("aucun numéro de téléphone pour ce contact")),
    Phrase(N_("aucune adresse pour ce message")),
    Phrase(N_("Twilio non configuré")),
    Phrase(N_("repris après interruption : déjà chez Twilio")),
    Phrase(N_("confié à Twilio")),
    Phrase(N_("refusé par Twilio")),
    Phrase(N_("conservé par la boîte de capture locale")),
    Phrase(N_("conservé par la boîte de capture")),
    Phrase(N_("rien n'a quitté la machine")),
    Phrase(N_("relais SMTP non configuré")),
    Phrase(N_("refusé par le relais")),
    Phrase(N_("accepté par le relais")),
    Phrase(N_("connexion perdue pendant DATA")),
    Phrase(N_("envoi interrompu (arrêt du worker) après la remise au relais possible")),
    Phrase(N_("envoi interrompu")),
    Phrase(N_("vérifier au relais le Message-ID")),
    Phrase(N_("à vérifier au relais")),
    Phrase(N_("non renvoyé")),
)


def timeline_reason(lang: str, reason: str | None) -> str:
    """A ledger line's reason in ``lang`` (see the module's docstring)."""
    if not reason:
        return ""
    said = translate(lang, reason)
    if said != reason:
        return said
    return translate_phrases(lang, reason, CALL_PHRASES + EVIDENCE_PHRASES)
