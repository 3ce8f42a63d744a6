"""Why a technician's action is refused now: the French sentences the update validators return.

The machine says *whether* an event can fire; these rules say *why not* in the words a
technician acts on, most specific first (a missing field before a wrong state). Kept apart
from the tables so the rules read on one screen and every sentence sits where the console's
English catalogue (``console/i18n_messages.py``) is checked against it
(``tests/test_console_messages.py`` scans this module).
"""

from __future__ import annotations

from messages.cases import CRITICALITY_LABELS, STATE_LABELS, ActionInput, CaseState, Criticality
from messages.comms import Channel
from workflows.case_machine import OPEN, UNTRIAGED
from workflows.case_model import CaseModel

S = CaseState


def refusal(action: str, trigger: str | None, inp: ActionInput, m: CaseModel) -> str | None:
    """The first rule ``action`` breaks, or None; the machine's own check comes after."""
    if trigger is None:
        return f"Action inconnue : {action}"
    if not inp.actor.strip():
        return "L'auteur de l'action doit être indiqué"
    for refused, reason in rules(trigger, inp, m):
        if refused:
            return reason
    return None


def not_now(action: str, state: str) -> str:
    """The catch-all when no rule names the reason but the machine has no such transition."""
    return f"Action « {action} » impossible : le cas est {STATE_LABELS.get(state, state)}"


def rules(trigger: str, inp: ActionInput, m: CaseModel) -> list[tuple[bool, str]]:
    """The refusals a technician can meet, most specific first, each with its reason."""
    state, crit = m.state, m.criticality
    is_open = state in OPEN
    reopen_first = (not is_open, f"Le cas est {STATE_LABELS[state]} : rouvrez-le d'abord")
    # a client hears from us only about an open, triaged case with an impact (3.2.3)
    contact_first = [
        reopen_first,
        (state in UNTRIAGED,
         "Fixez d'abord la criticité du cas avant de contacter le client (3.2.3)"),
        (state == S.ACKNOWLEDGED,
         "Un cas sans impact ne donne lieu à aucune communication client "
         "(3.2.3 Sans impact) : reclassez-le d'abord"),
    ]
    match trigger:
        case "classify":
            return [
                (inp.criticality is None,
                 "Indiquez la criticité (sans impact, mineur, significatif ou majeur)"),
                reopen_first,
                (state == S.L2_ESCALATED,
                 "La demande est transférée au niveau 2 : le cas ne peut plus être reclassé"),
                (inp.criticality == crit and state not in UNTRIAGED,
                 f"Le cas est déjà classé {CRITICALITY_LABELS.get(crit or '', crit)}"),
            ]
        case "record_contact":
            return [
                (inp.channel is None or inp.outcome is None,
                 "Indiquez le canal et le résultat du contact"),
                *contact_first,
            ]
        case "send_instructions":
            return [
                (not inp.text.strip(), "Rédigez les consignes à transmettre au client"),
                (inp.channel is None,
                 "Indiquez le canal des consignes (mail, SMS ou téléphone)"),
                *contact_first,
                (inp.channel == Channel.PHONE and m.contact_active is not None,
                 "Des appels automatiques sont déjà en cours pour ce cas"),
                (inp.channel == Channel.SMS and len(inp.text) > 300,
                 "Un SMS porte des consignes courtes (300 caractères au plus)"),
            ]
        case "register_demande":
            return [
                reopen_first,
                (m.demande_ref is not None,
                 f"Une demande est déjà enregistrée pour ce cas ({m.demande_ref})"),
                (crit not in (Criticality.SIGNIFICANT, Criticality.MAJOR),
                 "Une demande au support ne s'enregistre que pour un cas significatif ou "
                 "majeur (3.2.3)"),
            ]
        case "start_l1":
            return [
                reopen_first,
                (state == S.L1_DIAGNOSIS, "Le diagnostic N1 est déjà en cours"),
                (crit is not None and crit != Criticality.MAJOR,
                 "Le diagnostic N1 ne concerne que les cas majeurs/étendus (3.2.3)"),
                (state != S.CLIENT_CALLED,
                 "Le diagnostic N1 ne peut démarrer qu'après l'appel du client "
                 "(cas majeur)"),
            ]
        case "escalate_l2":
            return [
                reopen_first,
                (state == S.L2_ESCALATED, "La demande est déjà transférée au niveau 2"),
                (state != S.L1_DIAGNOSIS,
                 "Le transfert au niveau 2 suit le diagnostic N1 : démarrez-le d'abord "
                 "(3.2.3 Majeur/étendu)"),
            ]
        case "resolve":
            return [(not is_open, f"Le cas est déjà {STATE_LABELS[state]}")]
        case "close":
            return [
                (state == S.CLOSED, "Le cas est déjà clôturé"),
                (state != S.RESOLVED,
                 "Seul un cas résolu peut être clôturé : résolvez-le d'abord"),
            ]
        case "reopen":
            return [(is_open, "Le cas est encore ouvert : il n'y a rien à rouvrir")]
        case "assign":
            return [
                (not inp.assignee, "Indiquez la personne à qui assigner le cas"),
                reopen_first,
                (inp.assignee == m.assignee, f"Le cas est déjà assigné à {m.assignee}"),
            ]
        case "note":
            return [(not inp.text.strip(), "La note est vide"), reopen_first]
    return []
