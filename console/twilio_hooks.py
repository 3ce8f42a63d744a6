"""Twilio's side of a call or SMS: TwiML for the calls, status callbacks, incoming SMS.

Mounted as is (no console session): every request must carry a valid ``X-Twilio-Signature``
for the public URL Twilio called (``VIGIE_TWILIO_CALLBACK_BASE`` + path), checked with the
account's auth token by the SDK's ``RequestValidator``; anything else gets 403 and changes
nothing. Each piece of news is first recorded as evidence on the communication (deduplicated
on signed fields: SID + status + ``SequenceNumber``), then signalled to the workflow
that waits for it (the contact run for calls, the case for SMS). A signal that cannot be
delivered (Temporal down) is logged: the record holds the outcome, and the contact run reads
it when it stops waiting.

What counts as reaching someone: a call answered by a person (answering-machine detection
says ``human``, or cannot tell) **and** a press on 1, confirmed aloud; ``*`` repeats the
message. A machine or a fax is voicemail; an answer without the key is ``no_confirmation``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy.engine import Engine
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from base.refkey import reference_key
from console import sms_codes
from domain.refs import client_ref
from messages.cases import ClientReplySignal
from messages.comms import Channel, CommStatus, CommunicationSignal
from models.db import session_scope
from models.tables import Communication
from models.types import utcnow
from records.communications import IN_FLIGHT, add_event, set_status
from records.replies import judge_sms, store_sms_reply

log = logging.getLogger(__name__)

router = APIRouter(prefix="/twilio", include_in_schema=False)

FR = "fr-FR"
PROMPT = ("Appuyez sur 1 pour confirmer que vous avez bien reçu ce message, ou sur étoile "
          "pour le réécouter.")
WHISPER_PROMPT = ("Appuyez sur 1 pour être mis en relation avec votre technicien Vigie, ou "
                  "sur étoile pour réécouter ce message.")
CONFIRMED_SAY = ("Merci, votre confirmation est enregistrée. Un technicien de Vigie va "
                 "vous rappeler très vite. Au revoir.")
NO_KEY_SAY = "Nous n'avons pas reçu votre confirmation. Nous allons vous recontacter. Au revoir."
GATHER_SECONDS = 8
# Twilio's final call statuses, as the case hears them.
CALL_FINAL = {
    "busy": CommStatus.BUSY,
    "no-answer": CommStatus.NO_ANSWER,
    "failed": CommStatus.FAILED,
    "canceled": CommStatus.FAILED,
}
# What a final status may replace: a call still going (``sending`` too: the callback can beat
# the activity's own mark), or the voicemail the answering-machine detection noted.
SETTLEABLE = frozenset({*IN_FLIGHT, "sending", CommStatus.VOICEMAIL})
CODE_WRONG = "Vigie : code incorrect. Répondez OK suivi du code à 4 chiffres reçu."
CODE_EXPIRED_SAY = ("Vigie : trop de codes erronés, ce code a expiré. Un technicien va vous "
                    "recontacter.")

Signaller = Callable[[str, str, Any], Awaitable[None]]


# --- dependencies ----------------------------------------------------------------------------


def _services(request: Request) -> Any:
    return request.app.state.services


async def signaller(request: Request) -> Signaller:
    """Signals a workflow by id through the console's Temporal client (tests override)."""
    svc = _services(request)

    async def send(workflow_id: str, name: str, arg: Any) -> None:
        client = await svc.temporal()
        await client.get_workflow_handle(workflow_id).signal(name, arg)

    return send


async def verified_form(request: Request) -> FormData:
    """The callback's parameters, once its signature is proven; 403 otherwise."""
    settings = _services(request).settings
    form = await request.form()
    token = settings.twilio_auth_token
    base = settings.twilio_callback_base.rstrip("/")
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signature = request.headers.get("x-twilio-signature", "")
    if not token or not base or not signature or not RequestValidator(token).validate(
        url, form, signature
    ):
        log.warning("twilio: signature refusée pour %s", request.url.path)
        raise HTTPException(403, "Signature Twilio invalide")
    return form


# --- helpers ----------------------------------------------------------------------------------


def _engine(request: Request) -> Engine:
    return _services(request).engine


def _comm(engine: Engine, comm_id: int, channel: Channel) -> Communication:
    with session_scope(engine) as s:
        row = s.get(Communication, comm_id)
    if row is None or row.channel != channel:
        raise HTTPException(404, "Communication inconnue")
    return row


def _twiml(body: Any) -> Response:
    return Response(str(body), media_type="application/xml")


def _url(request: Request, path: str) -> str:
    return _services(request).settings.twilio_callback_base.rstrip("/") + path


def _dedupe(form: FormData, sid_field: str, status: str) -> str:
    """What makes a callback the same news again, from signed parameters only.

    The SID, the status and Twilio's ``SequenceNumber`` are all covered by
    ``X-Twilio-Signature``; the ``I-Twilio-Idempotency-Token`` header is not (Twilio signs the
    URL and the form, no header), so anyone replaying a signed callback could change it and
    have the same news counted twice."""
    return f"{form.get(sid_field) or ''}:{status}:{form.get('SequenceNumber') or ''}"


def _case_ref(row: Communication) -> str:
    return row.key.split(":", 1)[0]


async def _tell(send: Signaller, row: Communication, status: str, detail: str) -> None:
    """The workflow waiting on ``row`` hears its news; a failure is logged (see module)."""
    if not row.workflow_id:
        return
    sig = CommunicationSignal(
        communication_id=row.id or 0,
        channel=Channel(row.channel),
        status=status,
        at=utcnow(),
        detail=detail,
        step=row.step,
        recipient=row.recipient,
    )
    try:
        await send(row.workflow_id, "communication", sig)
    except Exception:
        log.exception("twilio: %s non signalé à %s", row.key, row.workflow_id)


def _settle(engine: Engine, row: Communication, status: str) -> bool:
    """Set a call's outcome once: True if this news decided it (then it must be told)."""
    with session_scope(engine) as s:
        fresh = s.get(Communication, row.id)
        if fresh is None:
            return False
        if fresh.status not in SETTLEABLE:
            return False  # confirmed, or already settled by another callback
        fresh.status = status
        fresh.updated_at = utcnow()
        s.add(fresh)
    return True


# --- the automated call ------------------------------------------------------------------------


def _ask_for_key(resp: VoiceResponse, action: str, message: str, prompt: str) -> None:
    """The message and its prompt inside one ``<Gather>``; no key pressed ends the call."""
    gather = Gather(num_digits=1, action=action, method="POST", timeout=GATHER_SECONDS)
    gather.say(message, language=FR)
    gather.say(prompt, language=FR)
    resp.append(gather)
    resp.say(NO_KEY_SAY, language=FR)
    resp.hangup()


@router.post("/voice/{comm_id}")
async def voice(request: Request, comm_id: int,
                form: FormData = Depends(verified_form)) -> Response:
    """First TwiML of the automated call (and after ``*``): a machine gets hung up on, a
    person hears the French message and the prompt."""
    engine = _engine(request)
    row = _comm(engine, comm_id, Channel.PHONE)
    answered_by = str(form.get("AnsweredBy") or "")
    call_sid = str(form.get("CallSid") or "")
    resp = VoiceResponse()
    if answered_by.startswith("machine") or answered_by == "fax":
        add_event(engine, comm_id, "twilio", "voicemail", f"AnsweredBy={answered_by}",
                  dedupe=f"{call_sid}:amd", payload=dict(form))
        set_status(engine, comm_id, CommStatus.VOICEMAIL, provider_id=call_sid)
        resp.hangup()
        return _twiml(resp)
    if answered_by:
        add_event(engine, comm_id, "twilio", "answered", f"AnsweredBy={answered_by}",
                  dedupe=f"{call_sid}:amd", payload=dict(form))
    _ask_for_key(resp, _url(request, f"/twilio/voice/{comm_id}/key"), row.body, PROMPT)
    return _twiml(resp)


@router.post("/voice/{comm_id}/key")
async def voice_key(request: Request, comm_id: int, form: FormData = Depends(verified_form),
                    send: Signaller = Depends(signaller)) -> Response:
    """The key pressed during the message: 1 confirms (said back), ``*`` repeats."""
    return await _keypress(request, comm_id, form, send, f"/twilio/voice/{comm_id}",
                           CONFIRMED_SAY)


# --- click-to-call: the technician first, then the client -------------------------------------


@router.post("/bridge/{comm_id}")
async def bridge(request: Request, comm_id: int,
                 form: FormData = Depends(verified_form)) -> Response:
    """The technician answered: told who is called, then the client's phone rings; the
    client hears the whisper (message and key) before the two are connected."""
    row = _comm(_engine(request), comm_id, Channel.PHONE)
    settings = _services(request).settings
    resp = VoiceResponse()
    resp.say(f"Vigie. Mise en relation avec le client pour le cas {' '.join(_case_ref(row))}. "
             "Il doit appuyer sur 1 pour accepter l'appel.", language=FR)
    dial = Dial(caller_id=settings.twilio_from_number,
                action=_url(request, f"/twilio/bridge/{comm_id}/done"), method="POST",
                timeout=settings.call_ring_seconds)
    dial.number(row.recipient, url=_url(request, f"/twilio/whisper/{comm_id}"), method="POST")
    resp.append(dial)
    return _twiml(resp)


@router.post("/whisper/{comm_id}")
async def whisper(request: Request, comm_id: int,
                  form: FormData = Depends(verified_form)) -> Response:
    row = _comm(_engine(request), comm_id, Channel.PHONE)
    resp = VoiceResponse()
    _ask_for_key(resp, _url(request, f"/twilio/whisper/{comm_id}/key"), row.body,
                 WHISPER_PROMPT)
    return _twiml(resp)


@router.post("/whisper/{comm_id}/key")
async def whisper_key(request: Request, comm_id: int, form: FormData = Depends(verified_form),
                      send: Signaller = Depends(signaller)) -> Response:
    return await _keypress(request, comm_id, form, send, f"/twilio/whisper/{comm_id}",
                           "Merci, mise en relation avec votre technicien.", hangup=False)


@router.post("/bridge/{comm_id}/done")
async def bridge_done(request: Request, comm_id: int, form: FormData = Depends(verified_form),
                      send: Signaller = Depends(signaller)) -> Response:
    """The client leg ended (``DialCallStatus``): its outcome, unless the key settled it."""
    engine = _engine(request)
    row = _comm(engine, comm_id, Channel.PHONE)
    dial_status = str(form.get("DialCallStatus") or "")
    fresh = add_event(engine, comm_id, "twilio", f"dial:{dial_status}", "",
                      dedupe=_dedupe(form, "CallSid", f"dial:{dial_status}"),
                      payload=dict(form))
    outcome = CALL_FINAL.get(dial_status, CommStatus.NO_CONFIRMATION)
    if fresh and _settle(engine, row, outcome):
        await _tell(send, row, outcome, f"mise en relation : {dial_status}")
    resp = VoiceResponse()
    resp.say("L'appel avec le client est terminé." if dial_status == "completed"
             else "Le client n'a pas pu être joint.", language=FR)
    resp.hangup()
    return _twiml(resp)


async def _keypress(request: Request, comm_id: int, form: FormData, send: Signaller,
                    again: str, thanks: str, hangup: bool = True) -> Response:
    engine = _engine(request)
    row = _comm(engine, comm_id, Channel.PHONE)
    digits = str(form.get("Digits") or "")
    call_sid = str(form.get("CallSid") or "")
    resp = VoiceResponse()
    if digits == "1":
        fresh = add_event(engine, comm_id, "keypress", CommStatus.CONFIRMED, "touche 1",
                          dedupe=f"{call_sid}:key1", payload=dict(form))
        if fresh and _settle(engine, row, CommStatus.CONFIRMED):
            await _tell(send, row, CommStatus.CONFIRMED,
                        "une personne a répondu et confirmé (touche 1)")
        resp.say(thanks, language=FR)
        if hangup:
            resp.hangup()
        return _twiml(resp)
    if digits != "*":
        resp.say("Touche non reconnue.", language=FR)
    add_event(engine, comm_id, "keypress", "repeat", f"touche {digits or 'aucune'}",
              payload=dict(form))
    resp.redirect(_url(request, again), method="POST")
    return _twiml(resp)


# --- status callbacks -------------------------------------------------------------------------


@router.post("/status/call/{comm_id}")
async def call_status(request: Request, comm_id: int, form: FormData = Depends(verified_form),
                      send: Signaller = Depends(signaller)) -> Response:
    """Call progress; the final status decides the outcome when no key was pressed."""
    engine = _engine(request)
    row = _comm(engine, comm_id, Channel.PHONE)
    status = str(form.get("CallStatus") or "")
    call_sid = str(form.get("CallSid") or "")
    answered_by = str(form.get("AnsweredBy") or "")
    fresh = add_event(engine, comm_id, "twilio", status,
                      f"AnsweredBy={answered_by}" if answered_by else "",
                      dedupe=_dedupe(form, "CallSid", status), payload=dict(form))
    if not fresh:
        return Response(status_code=204)  # the same callback again: already counted
    if status in ("queued", "initiated", "ringing", "in-progress"):
        if status in ("ringing", "in-progress") and _comm(
            engine, comm_id, Channel.PHONE
        ).status in IN_FLIGHT:
            set_status(engine, comm_id, status, provider_id=call_sid)
        return Response(status_code=204)
    if row.subject.startswith("Mise en relation") and status == "completed":
        outcome: str = CommStatus.NO_CONFIRMATION  # the technician hung up before any dial
    elif status == "completed":
        machine = answered_by.startswith("machine") or answered_by == "fax"
        current = _comm(engine, comm_id, Channel.PHONE)
        voicemail = machine or current.status == CommStatus.VOICEMAIL
        outcome = CommStatus.VOICEMAIL if voicemail else CommStatus.NO_CONFIRMATION
    else:
        outcome = CALL_FINAL.get(status, CommStatus.FAILED)
    if _settle(engine, row, outcome):
        duration = form.get("CallDuration")
        await _tell(send, row, outcome, f"Twilio : {status}"
                    + (f", {duration} s" if duration else ""))
    return Response(status_code=204)


@router.post("/status/sms/{comm_id}")
async def sms_status(request: Request, comm_id: int, form: FormData = Depends(verified_form),
                     send: Signaller = Depends(signaller)) -> Response:
    engine = _engine(request)
    row = _comm(engine, comm_id, Channel.SMS)
    status = str(form.get("MessageStatus") or form.get("SmsStatus") or "")
    fresh = add_event(engine, comm_id, "twilio", status, str(form.get("ErrorCode") or ""),
                      dedupe=_dedupe(form, "MessageSid", status), payload=dict(form))
    final = {"delivered": CommStatus.DELIVERED, "undelivered": CommStatus.FAILED,
             "failed": CommStatus.FAILED}.get(status)
    if fresh and final is not None and _settle(engine, row, final):
        await _tell(send, row, final, f"Twilio : {status}")
    return Response(status_code=204)


# --- the client's SMS ---------------------------------------------------------------------------


@router.post("/sms/incoming")
async def sms_incoming(request: Request, form: FormData = Depends(verified_form),
                       send: Signaller = Depends(signaller)) -> Response:
    """``OK 1234`` (or ``VIG-000123 OK 1234``) from the number the SMS went to confirms it;
    another message naming a case is attached to it as a client reply."""
    engine = _engine(request)
    sender = str(form.get("From") or "")
    body = str(form.get("Body") or "").strip()
    sid = str(form.get("MessageSid") or "")
    attempt = sms_codes.parse_attempt(body)
    if attempt is not None:
        answered = await _code_attempt(request, send, form, body, *attempt)
        if answered is not None:
            return answered
    resp = MessagingResponse()
    # Attached only from a contact of the case's client (records/replies.py); a stranger's
    # message naming a case waits in the triage queue, and is not told it was attached.
    key = reference_key(request.app.state.services.settings)
    with session_scope(engine) as s:
        judged = judge_sms(s, sender, body, key)
        event_id = store_sms_reply(s, judged, sender, body, sid) if judged else None
    if judged is not None and judged.attached and event_id is not None:
        case = judged.case
        if event_id > 0 and not case.closed:
            try:
                await send(case.workflow_id, "client_reply", ClientReplySignal(
                    event_id=event_id, received_at=utcnow(), sender=sender,
                    summary=body[:500], channel=Channel.SMS))
            except Exception:
                log.exception("twilio: réponse SMS non signalée au cas %s", case.ref)
        resp.message(f"Vigie : votre message est joint au cas {client_ref(case.ref, key)}.")
        return _twiml(resp)
    if judged is not None:
        resp.message("Vigie : message reçu ; un technicien le traitera.")
        return _twiml(resp)
    resp.message("Vigie : message non compris. Répondez OK suivi du code à 4 chiffres reçu.")
    return _twiml(resp)


async def _code_attempt(request: Request, send: Signaller, form: FormData, body: str,
                        ref: str | None, code: str) -> Response | None:
    """A message that is only a code: the right one confirms its SMS, a wrong one counts
    against every SMS it may answer (see ``console.sms_codes``); None when no SMS to this
    number awaits a code (the message goes on as any other)."""
    engine = _engine(request)
    sender, sid = str(form.get("From") or ""), str(form.get("MessageSid") or "")
    rows, some_expired = sms_codes.candidates(engine, sender, ref)
    resp = MessagingResponse()
    row = next((r for r in rows if r.code == code), None)
    if row is not None:  # also an SMS confirmed already: the same answer again
        fresh = add_event(engine, row.id or 0, "sms_reply", CommStatus.CONFIRMED, body,
                          dedupe=sid or None, payload=dict(form))
        if fresh and _settle_sms(engine, row):
            await _tell(send, row, CommStatus.CONFIRMED, f"réponse SMS « {body[:80]} »")
        resp.message(f"Vigie : merci, votre confirmation pour le cas {_case_ref(row)} est "
                     "enregistrée.")
        return _twiml(resp)
    rows = [r for r in rows if r.status != CommStatus.CONFIRMED]
    if rows:
        tries = _services(request).settings.sms_code_max_tries
        for gone in sms_codes.wrong_try(engine, rows, sid, body, tries):
            await _tell(send, gone, CommStatus.CODE_EXPIRED,
                        f"code SMS expiré après {tries} codes erronés (dernier « {body[:40]} »)"
                        " : rappeler le client")
        still, _ = sms_codes.candidates(engine, sender, ref)
        waiting = [r for r in still if r.status != CommStatus.CONFIRMED]
        resp.message(CODE_WRONG if waiting else CODE_EXPIRED_SAY)
        return _twiml(resp)
    if some_expired:
        resp.message(CODE_EXPIRED_SAY)
        return _twiml(resp)
    return None


def _settle_sms(engine: Engine, row: Communication) -> bool:
    with session_scope(engine) as s:
        fresh = s.get(Communication, row.id)
        if fresh is None or fresh.status == CommStatus.CONFIRMED:
            return False
        fresh.status = CommStatus.CONFIRMED
        fresh.updated_at = utcnow()
        s.add(fresh)
    return True


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)
