"""What a case shows: the guided next steps, the console's view, the state a new run carries.

Read-only over :class:`~workflows.case_model.CaseModel`: nothing here decides or records, so
the wording of a step can change without touching the rules, and the console's English
catalogue (``console/i18n.py``) finds every French label in one place.
"""

from __future__ import annotations

from copy import copy
from typing import Any

from messages.cases import CarriedState, CaseState, CaseView, Criticality, NextStep
from messages.comms import CommStep
from workflows.case_machine import AUTO_RESOLVABLE, CLAUSE, OPEN
from workflows.case_model import CaseModel

S = CaseState

# Guided steps by (state, criticality); ``None`` as criticality means "whatever the class".
_TRIAGE = NextStep("classify", "Fixer la criticité selon l'impact sur l'activité du client",
                   CLAUSE[None])
NEXT_STEPS: dict[tuple[str, str | None], list[NextStep]] = {
    (S.NEW, None): [_TRIAGE],
    (S.REOPENED, None): [_TRIAGE],
    (S.ACKNOWLEDGED, None): [
        NextStep("resolve", "Ajuster si besoin la console de supervision (seuil, silence), "
                 "puis résoudre ; aucune communication client", CLAUSE[Criticality.NO_IMPACT]),
    ],
    (S.CLASSIFIED, Criticality.MINOR): [
        NextStep("record_contact", "Envoyer au client, par mail ou téléphone, les consignes de "
                 "résolution ou de contournement", CLAUSE[Criticality.MINOR]),
        NextStep("send_instructions", "Envoyer les consignes depuis Vigie (mail, SMS ou appel "
                 "automatisé), avec accusé de réception", CLAUSE[Criticality.MINOR]),
    ],
    (S.CLASSIFIED, Criticality.SIGNIFICANT): [
        NextStep("register_demande", "Enregistrer une demande au support",
                 CLAUSE[Criticality.SIGNIFICANT]),
    ],
    (S.CLASSIFIED, Criticality.MAJOR): [
        NextStep("register_demande", "Enregistrer une demande au support",
                 CLAUSE[Criticality.MAJOR]),
    ],
    (S.DEMANDE_REGISTERED, Criticality.SIGNIFICANT): [
        NextStep("record_contact", "Informer le client par mail de l'enregistrement de la "
                 "demande et de sa prise en charge par le support",
                 CLAUSE[Criticality.SIGNIFICANT]),
    ],
    (S.DEMANDE_REGISTERED, Criticality.MAJOR): [
        NextStep("record_contact", "Appeler le contact principal du client pour organiser le "
                 "diagnostic N1", CLAUSE[Criticality.MAJOR]),
    ],
    (S.CLIENT_INSTRUCTED, None): [
        NextStep("resolve", "Résoudre une fois les consignes appliquées par le client",
                 CLAUSE[Criticality.MINOR]),
    ],
    (S.CLIENT_NOTIFIED, None): [
        NextStep("resolve", "Résoudre quand le support a traité la demande",
                 CLAUSE[Criticality.SIGNIFICANT]),
    ],
    (S.CLIENT_CALLED, None): [
        NextStep("start_l1", "Démarrer le diagnostic de niveau 1 (moins d'une heure)",
                 CLAUSE[Criticality.MAJOR]),
    ],
    (S.L1_DIAGNOSIS, None): [
        NextStep("resolve", "Résoudre si le diagnostic N1 aboutit avant l'échéance",
                 CLAUSE[Criticality.MAJOR]),
        NextStep("escalate_l2", "Transférer la demande au niveau 2 (automatique à "
                 "l'échéance du diagnostic N1)", CLAUSE[Criticality.MAJOR]),
    ],
    (S.L2_ESCALATED, None): [
        NextStep("resolve", "Résoudre quand le niveau 2 a terminé le dépannage",
                 CLAUSE[Criticality.MAJOR]),
    ],
    (S.RESOLVED, None): [
        NextStep("close", "Clôturer le cas (automatique après le délai sans nouvelle alerte)",
                 CLAUSE[None]),
        NextStep("reopen", "Rouvrir le cas si le problème persiste", CLAUSE[None]),
    ],
}
CONFIRM_RECOVERY = NextStep("resolve", "Confirmer le rétablissement et résoudre", "3.2.2")
# A major case's first contact is a person on the phone (3.2.3 "appel téléphonique"): the
# fallback mail after unanswered calls tells the client, it does not stop that clock.
CALL_AFTER_FALLBACK = NextStep(
    "record_contact", "Personne n'a été joint par téléphone (mail de repli envoyé) : appeler "
    "le client ; le premier contact n'est tenu qu'une fois une personne jointe au téléphone",
    CLAUSE[Criticality.MAJOR])


# How each client communication step is named in French (the console keeps its own
# bilingual table, ``console/i18n.py``); kept importable from ``workflows.case_machine``.
COMM_LABELS: dict[str, str] = {
    CommStep.INSTRUCTIONS: "consignes",
    CommStep.DEMANDE_REGISTERED: "demande enregistrée",
    CommStep.L1_CALL: "appel pour le diagnostic N1",
    CommStep.L1_CALL_FALLBACK: "mail après appels sans réponse",
    CommStep.L2_TRANSFER: "transfert au niveau 2 (client)",
    CommStep.L2_HANDOVER: "transfert au niveau 2 (équipe N2)",
    CommStep.RESOLUTION: "résolution",
}


def next_steps(model: CaseModel) -> list[NextStep]:
    """The steps the contract asks for now; a recovery puts its confirmation first."""
    state, crit = model.state, model.criticality
    steps = NEXT_STEPS.get((state, crit)) or NEXT_STEPS.get((state, None)) or []
    if (state == S.DEMANDE_REGISTERED and crit == Criticality.MAJOR
            and model.contact_runs and model.contact_active is None):
        steps = [CALL_AFTER_FALLBACK]  # the automated calls reached nobody
    if model.recovered and state in OPEN and state not in AUTO_RESOLVABLE:
        return [CONFIRM_RECOVERY, *(s for s in steps if s.action != "resolve")]
    return list(steps)


# The model's fields the console's view shows, copied so a view never aliases the model ...
SHOWN = ("case_id", "ref", "criticality", "repeat_count", "last_seen", "recovered", "assignee",
         "demande_ref", "l1_deadline", "timeline", "contact_active")
# ... and those a continue-as-new carries besides: ``carried_state`` and ``restore`` read the
# same list, so a field carried is a field restored.
CARRIED = (*SHOWN, "auto_close_at", "seen_event_ids", "comm_counts", "contact_runs",
           "client_contacted", "last_recovery_at")


def _fields(source: object, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: copy(getattr(source, name)) for name in names}


def case_view(m: CaseModel) -> CaseView:
    """What the console shows (the workflow's ``view`` query)."""
    return CaseView(**_fields(m, SHOWN), state=m.state, next_steps=next_steps(m))


def carried_state(m: CaseModel) -> CarriedState:
    """Everything a continue-as-new hands to the next run, so nothing is re-recorded."""
    return CarriedState(**_fields(m, CARRIED), state=m.state, next_seq=m.next_seq)


def restore(m: CaseModel, carried: CarriedState) -> None:
    """The next run's model from what :func:`carried_state` handed over."""
    for name, value in _fields(carried, CARRIED).items():
        setattr(m, name, value)
