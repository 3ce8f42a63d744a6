"""Which message each class sends, and when (3.2.3), on the pure decision core."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.sla import LedgerEntry
from messages.cases import ActionInput, CaseState, ClientReplySignal, Criticality
from messages.comms import Channel, CommunicationSignal, ContactOutcome
from tests.test_case_machine import (
    CAL,
    act,
    actions,
    at,
    audits,
    case_input,
    opened,
    problem,
    recovery,
    register,
)
from workflows.case_machine import (
    Audit,
    CancelContact,
    CaseCore,
    SendMessage,
    StartContact,
    policy_for,
)


def sent(intents: list) -> list[SendMessage]:
    return [i for i in intents if isinstance(i, SendMessage)]


def news(comm_id: int, status: str, step: str, channel: Channel = Channel.EMAIL,
         minute: int = 3, run: int = 0, final: bool = False) -> CommunicationSignal:
    return CommunicationSignal(comm_id, channel, status, at(minute), "preuve", step,
                               "client@example.com", contact_run=run, final=final)


def test_a_significant_client_is_mailed_after_the_demande_is_on_the_ledger() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.SIGNIFICANT)
    intents = register(core)
    assert [type(i).__name__ for i in intents] == ["Audit", "SaveSnapshot", "SendMessage"]
    (mail,) = sent(intents)
    assert (mail.step, mail.attempt, mail.channel) == ("demande_registered", "1", "email")
    intents = core.communication(news(11, "sent", "demande_registered"))
    line = audits(intents)[0]
    assert (line.action, line.to_state) == ("communication", "client_notified")
    assert line.data == {"status": "sent", "channel": "email", "communication_id": "11",
                         "outcome": "sent", "step": "demande_registered",
                         "recipient": "client@example.com"}
    entry = LedgerEntry(seq=line.seq, at=line.at, action=line.action,
                        from_state=line.from_state, to_state=line.to_state, actor=line.actor,
                        data=line.data)
    assert entry.counts_as_client_contact  # the SLA's first client contact


def test_an_uncertain_or_dry_run_send_is_recorded_but_reaches_nobody() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.SIGNIFICANT)
    register(core)
    for status in ("unknown", "dry_run", "no_recipient"):
        line = audits(core.communication(news(12, status, "demande_registered")))[0]
        assert line.to_state is None and "outcome" not in line.data
        entry = LedgerEntry(seq=line.seq, at=line.at, action=line.action, from_state=None,
                            to_state=None, actor="system", data=line.data)
        assert not entry.counts_as_client_contact
    assert core.state == CaseState.DEMANDE_REGISTERED


def test_a_major_case_starts_the_calls_and_a_confirmed_call_sets_up_the_diagnosis() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MAJOR)
    (start,) = [i for i in register(core) if isinstance(i, StartContact)]
    assert (start.run, start.step, start.fallback_step) == (1, "l1_call", "l1_call_fallback")
    no_answer = core.communication(news(20, "no_answer", "l1_call", Channel.PHONE, 4, run=1))
    assert audits(no_answer)[0].data["outcome"] == "no_answer"
    assert core.state == CaseState.DEMANDE_REGISTERED
    reached = core.communication(news(21, "confirmed", "l1_call", Channel.PHONE, 9, run=1,
                                      final=True))
    assert core.state == CaseState.CLIENT_CALLED
    assert not any(isinstance(i, CancelContact) for i in reached)  # it ended by itself
    assert audits(reached)[0].data["outcome"] == "reached"


def test_reaching_the_client_by_hand_cancels_the_remaining_calls() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MAJOR)
    register(core)
    intents = act(core, "record_contact", at(5), channel=Channel.PHONE,
                  outcome=ContactOutcome.REACHED)
    assert core.state == CaseState.CLIENT_CALLED
    assert [type(i).__name__ for i in intents] == ["Audit", "SaveSnapshot", "CancelContact"]
    assert intents[-1] == CancelContact(1)


def test_the_fallback_mail_ends_the_run_without_calling_the_case_reached() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MAJOR)
    register(core)
    intents = core.communication(news(30, "sent", "l1_call_fallback", run=1, final=True))
    assert core.state == CaseState.DEMANDE_REGISTERED  # a major case needs a call
    assert core.model.contact_active is None
    assert audits(intents)[0].data["outcome"] == "sent"
    # the technician calls by hand afterwards: nothing left to cancel
    later = act(core, "record_contact", at(20), channel=Channel.PHONE,
                outcome=ContactOutcome.REACHED)
    assert not any(isinstance(i, CancelContact) for i in later)


def test_minor_instructions_by_mail_sms_or_phone() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MINOR)
    assert [s.action for s in core.next_steps()] == ["record_contact", "send_instructions"]
    by_mail = act(core, "send_instructions", channel=Channel.EMAIL, text="Videz la file")
    assert actions(by_mail) == ["send_instructions"]
    assert audits(by_mail)[0].data == {"channel": "email", "text": "Videz la file"}
    assert sent(by_mail) == [SendMessage("instructions", "1", Channel.EMAIL, at(0),
                                         "Videz la file")]
    by_sms = act(core, "send_instructions", channel=Channel.SMS, text="Redémarrez le spool")
    assert [(m.attempt, m.channel) for m in sent(by_sms)] == [("2", "sms")]
    by_phone = act(core, "send_instructions", channel=Channel.PHONE, text="Rebranchez l'onduleur")
    (start,) = [i for i in by_phone if isinstance(i, StartContact)]
    assert (start.step, start.fallback_step, start.fallback_attempt) == (
        "instructions", "instructions", "3")
    refusal = core.check("send_instructions", ActionInput(actor="bob", channel=Channel.PHONE,
                                                          text="encore"))
    assert refusal == "Des appels automatiques sont déjà en cours pour ce cas"
    # the SMS is delivered: the client is instructed, and the calls stop
    done = core.communication(news(40, "delivered", "instructions", Channel.SMS))
    assert core.state == CaseState.CLIENT_INSTRUCTED
    assert CancelContact(1) in done


def test_instructions_are_refused_with_the_reason() -> None:
    core, _ = opened()
    untriaged = ActionInput(actor="bob", channel=Channel.EMAIL, text="x")
    assert core.check("send_instructions", untriaged) == (
        "Fixez d'abord la criticité du cas avant de contacter le client (3.2.3)")
    act(core, "classify", criticality=Criticality.NO_IMPACT)
    assert "Sans impact" in (core.check("send_instructions", untriaged) or "")
    act(core, "classify", criticality=Criticality.MINOR)
    assert core.check("send_instructions", ActionInput(actor="bob", channel=Channel.EMAIL)) == (
        "Rédigez les consignes à transmettre au client")
    assert core.check("send_instructions", ActionInput(actor="bob", text="x")) == (
        "Indiquez le canal des consignes (mail, SMS ou téléphone)")
    too_long = ActionInput(actor="bob", channel=Channel.SMS, text="x" * 301)
    assert core.check("send_instructions", too_long) == (
        "Un SMS porte des consignes courtes (300 caractères au plus)")


def test_the_resolution_mail_goes_only_to_a_client_who_heard_from_us() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MINOR)
    assert sent(act(core, "resolve", at(30), reason="seuil corrigé")) == []  # never contacted
    act(core, "reopen", at(31))
    act(core, "classify", at(32), criticality=Criticality.MINOR)
    act(core, "record_contact", at(33), channel=Channel.EMAIL, outcome=ContactOutcome.SENT)
    (mail,) = sent(act(core, "resolve", at(40), reason="purge faite par le client"))
    assert (mail.step, mail.attempt, mail.text) == ("resolution", "1",
                                                    "purge faite par le client")


def test_a_recovered_untriaged_case_mails_nobody() -> None:
    core, _ = opened()
    intents = core.alert(problem(1, 1)) + core.alert(recovery(2, 2))
    assert core.state == CaseState.RESOLVED and sent(intents) == []


def test_level2_is_told_apart_from_the_client() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MAJOR)
    register(core)
    act(core, "record_contact", at(5), channel=Channel.PHONE, outcome=ContactOutcome.REACHED)
    act(core, "start_l1", at(6))
    intents = act(core, "escalate_l2", at(20), reason="disque à remplacer")
    assert [(m.step, m.text) for m in sent(intents)] == [
        ("l2_transfer", "disque à remplacer"), ("l2_handover", "disque à remplacer")]
    line = audits(core.communication(news(50, "sent", "l2_handover", minute=21)))[0]
    assert line.action == "notify_level2"  # not a client contact for the SLA
    entry = LedgerEntry(seq=line.seq, at=line.at, action=line.action, from_state=None,
                        to_state=None, actor="system", data=line.data)
    assert not entry.counts_as_client_contact


def test_reclassifying_a_notified_significant_case_to_major_phones_the_client() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.SIGNIFICANT)
    register(core)
    core.communication(news(11, "sent", "demande_registered"))
    intents = act(core, "classify", at(10), criticality=Criticality.MAJOR)
    assert core.state == CaseState.DEMANDE_REGISTERED
    assert [type(i) for i in intents if not isinstance(i, Audit)][-1] is StartContact
    back = act(core, "classify", at(11), criticality=Criticality.SIGNIFICANT)
    assert CancelContact(1) in back
    (mail,) = sent(back)
    assert mail.attempt == "1"  # the same promise: the activity finds it already kept


def test_a_client_reply_is_linked_and_recorded_once() -> None:
    core, _ = opened()
    reply = ClientReplySignal(event_id=77, received_at=datetime(2025, 3, 10, 9, 30, tzinfo=UTC),
                              sender="paul@client-c.example", summary="Re: consignes appliquées")
    intents = core.client_reply(reply)
    assert [type(i).__name__ for i in intents] == ["LinkEvent", "Audit"]
    line = audits(intents)[0]
    assert (line.action, line.actor, line.to_state, line.reason) == (
        "client_reply", "paul@client-c.example", None, "Re: consignes appliquées")
    assert core.client_reply(reply) == []


def test_carried_state_keeps_the_communication_counters() -> None:
    core, _ = opened()
    act(core, "classify", criticality=Criticality.MAJOR)
    register(core)
    inp = case_input(carried_state=core.carry())
    resumed, _ = CaseCore.resume(inp, core.carry(), policy_for(inp, CAL))
    assert (resumed.model.contact_runs, resumed.model.contact_active) == (1, "l1_call")
    intents = act(resumed, "record_contact", at(5), channel=Channel.PHONE,
                  outcome=ContactOutcome.REACHED)
    assert CancelContact(1) in intents
