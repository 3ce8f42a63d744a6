"""The communication records (data layer under the console and the send activities).

Record-before-send: why a message to a client is never sent twice, nor silently dropped.

Every mail, SMS and call of a case is a ``communication`` row keyed by case + step + attempt
(``VIG-000123:demande_registered:1``), written *before* anything leaves the desk and marked
*after*. The send activities follow one protocol:

1. :func:`record` inserts the row (or finds the one an earlier attempt wrote);
2. a row already past ``sending`` is simply reported again: the retried activity is a no-op;
3. :func:`begin_send` moves ``pending`` to ``sending`` with one conditional UPDATE, so two
   attempts running at once cannot both send;
4. the transport is called; :func:`finish` records the outcome and its evidence, or
   :func:`release` puts the row back to ``pending`` when the send surely did not happen
   (connection refused, a 4xx before the end of DATA), so that Temporal's retry may send.

A row found at ``sending`` means an attempt died between the send and its mark (worker
killed). What happens then depends on what the transport lets us verify: Twilio can be asked
(its list of calls and messages is the truth, see ``activities.phone``); an SMTP relay cannot,
so the mail is marked ``unknown`` and *not* resent (at most once, see ``activities.mail``).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity

from base.metrics import COMMUNICATIONS
from messages.comms import Channel, CommStatus, SendResult
from models.db import session_scope
from models.tables import Communication, CommunicationEvent
from models.types import utcnow

CRASH_ENV = "VIGIE_TEST_CRASH_AFTER_SEND"

# Communication.status values that end the protocol (nothing more will be sent for the row).
SETTLED = frozenset(
    {
        CommStatus.SENT,
        CommStatus.DELIVERED,
        CommStatus.CONFIRMED,
        CommStatus.ANSWERED,
        CommStatus.NO_ANSWER,
        CommStatus.NO_CONFIRMATION,
        CommStatus.BUSY,
        CommStatus.VOICEMAIL,
        CommStatus.FAILED,
        CommStatus.UNKNOWN,
        CommStatus.DRY_RUN,
        CommStatus.NO_RECIPIENT,
    }
)
# A call or SMS handed to Twilio whose outcome is still to come by callback.
IN_FLIGHT = frozenset({CommStatus.QUEUED, "ringing", "in-progress"})


class SimulatedCrash(BaseException):
    """Raised by :func:`crash_point` in in-process tests (``VIGIE_TEST_CRASH_AFTER_SEND=raise``):
    a BaseException, so that no ``except Exception`` on the way can record anything."""


def crash_point() -> None:
    """Test hook between a transport's answer and the mark: ``1`` kills the process at once
    (the crash test's worker), ``raise`` simulates it in-process. Unset in production."""
    mode = os.environ.get(CRASH_ENV, "")
    if mode == "1":
        os._exit(1)
    if mode == "raise":
        raise SimulatedCrash("arrêt simulé après l'envoi")


def still_in_flight(row: Communication) -> bool:
    """A row at ``sending`` touched less than one activity timeout ago may belong to an
    attempt that is still running (Temporal timed it out, it goes on): the retry must wait
    for it (raise, Temporal retries later) rather than judge it dead. Outside an activity
    (tests calling the function directly) nothing else can be running."""
    try:
        timeout = activity.info().start_to_close_timeout
    except RuntimeError:
        return False
    if timeout is None or row.updated_at is None:
        return False
    return utcnow() - row.updated_at < timeout


class SendInFlight(Exception):
    """Another attempt may still be sending this row; retried by Temporal."""


def comm_key(case_ref: str, step: str, attempt: str) -> str:
    return f"{case_ref}:{step}:{attempt}"


def message_id_for(case_ref: str, step: str, attempt: str, domain: str) -> str:
    """The Message-ID of a case's mail: derived from the key, so a resend would carry the
    same one (receivers that deduplicate on it show a single message) and a client's reply
    names the case in ``In-Reply-To``/``References``."""
    return f"<{case_ref}.{step}.{attempt}@{domain}>"


def thread_id_for(case_ref: str, domain: str) -> str:
    """One thread root per case, in every mail's ``References``: a client's mail program
    groups the case's messages, and any reply quotes it."""
    return f"<{case_ref}@{domain}>"


def reply_code() -> str:
    """Four digits the client sends back ("OK 1234") to confirm an SMS.

    Random (``secrets``), drawn once when the row is recorded and stored on it: a retried
    activity finds the row and sends the same body, so no replay needs to recompute it. It
    used to be a hash of the case reference, which anyone could compute; four digits are
    only safe with few tries, which ``console.sms_codes`` counts per communication."""
    return f"{secrets.randbelow(9000) + 1000}"


@dataclass(frozen=True)
class Draft:
    """What is about to be sent, as recorded before the send."""

    key: str
    case_id: int | None
    channel: Channel
    step: str
    attempt: str
    transport: str
    workflow_id: str = ""
    recipient: str = ""
    contact_id: int | None = None
    subject: str = ""
    body: str = ""
    message_id: str = ""
    code: str = ""


def find(engine: Engine, key: str) -> Communication | None:
    with session_scope(engine) as s:
        return s.exec(select(Communication).where(Communication.key == key)).first()


def record(engine: Engine, draft: Draft) -> Communication:
    """Insert the row for ``draft.key``, or return the one an earlier attempt wrote."""
    found = find(engine, draft.key)
    if found is not None:
        return found
    row = Communication(
        key=draft.key,
        case_id=draft.case_id,
        channel=str(draft.channel),
        step=draft.step,
        attempt=draft.attempt,
        transport=draft.transport,
        workflow_id=draft.workflow_id,
        recipient=draft.recipient,
        contact_id=draft.contact_id,
        subject=draft.subject,
        body=draft.body,
        message_id=draft.message_id,
        code=draft.code,
        status="pending",
        updated_at=utcnow(),
    )
    try:
        with session_scope(engine) as s:
            s.add(row)
    except IntegrityError:  # a concurrent attempt inserted it first
        found = find(engine, draft.key)
        assert found is not None
        return found
    return row


def begin_send(engine: Engine, comm_id: int) -> bool:
    """``pending`` -> ``sending``; False when another attempt already holds (or settled) it."""
    table = Communication.__table__  # type: ignore[attr-defined]
    with session_scope(engine) as s:
        res = s.connection().execute(
            update(table)
            .where(table.c.id == comm_id, table.c.status == "pending")
            .values(status="sending", updated_at=utcnow())
        )
        return res.rowcount == 1


def release(engine: Engine, comm_id: int, error: str) -> None:
    """``sending`` -> ``pending``: the send did not happen, a retry may send."""
    with session_scope(engine) as s:
        row = s.get(Communication, comm_id)
        if row is None or row.status != "sending":
            return
        row.status = "pending"
        row.evidence = error[:2000]
        row.updated_at = utcnow()
        s.add(row)
        s.add(CommunicationEvent(communication_id=comm_id, source="activity", status="retry",
                                 detail=error[:2000]))


def finish(
    engine: Engine,
    comm_id: int,
    status: str,
    *,
    evidence: str = "",
    provider_id: str = "",
    raw: str | None = None,
    sent: bool = True,
    source: str = "activity",
    payload: dict[str, Any] | None = None,
) -> Communication:
    """Record the outcome of the send, with its evidence (one transaction with the event).

    A callback may have settled the row meanwhile (Twilio rang the client before the mark,
    or while an interrupted attempt waited for its retry): its news is newer, it is kept."""
    now = utcnow()
    with session_scope(engine) as s:
        row = s.get(Communication, comm_id)
        assert row is not None, f"communication {comm_id} disparue"
        if row.status in ("pending", "sending"):
            row.status = status
        row.updated_at = now
        if evidence:
            row.evidence = evidence[:4000]
        if provider_id:
            row.provider_id = provider_id
        if raw is not None:
            row.raw = raw
        if sent and row.sent_at is None:
            row.sent_at = now
        s.add(row)
        s.add(CommunicationEvent(communication_id=comm_id, at=now, source=source,
                                 status=status, detail=evidence[:2000],
                                 payload=dict(payload or {})))
        COMMUNICATIONS.labels(row.channel, status).inc()  # the send's own outcome
        return row


def add_event(
    engine: Engine,
    comm_id: int,
    source: str,
    status: str,
    detail: str = "",
    *,
    dedupe: str | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Append one piece of evidence; False when ``dedupe`` says it was recorded already."""
    try:
        with session_scope(engine) as s:
            if dedupe is not None and s.exec(
                select(CommunicationEvent.id).where(
                    CommunicationEvent.communication_id == comm_id,
                    CommunicationEvent.dedupe == dedupe,
                )
            ).first() is not None:
                return False
            s.add(CommunicationEvent(communication_id=comm_id, source=source, status=status,
                                     detail=detail[:2000], dedupe=dedupe,
                                     payload=dict(payload or {})))
    except IntegrityError:
        return False
    return True


def set_status(engine: Engine, comm_id: int, status: str, *, provider_id: str = "") -> None:
    """A callback's news about a row already sent (never moves a row back to pending)."""
    with session_scope(engine) as s:
        row = s.get(Communication, comm_id)
        if row is None:
            return
        if row.status != status:
            COMMUNICATIONS.labels(row.channel, status).inc()  # delivery news (callbacks)
        row.status = status
        row.updated_at = utcnow()
        if provider_id and not row.provider_id:
            row.provider_id = provider_id
        s.add(row)


def result_of(row: Communication) -> SendResult:
    """The activity's answer for a row, the same on every retry."""
    return SendResult(
        communication_id=row.id or 0,
        channel=Channel(row.channel),
        status=row.status,
        recipient=row.recipient,
        detail=row.evidence,
        provider_id=row.provider_id,
    )
