"""SMS confirmation codes: which SMS a code answers, and how many wrong guesses it survives.

A code is four random digits stored on the SMS's communication row (``records.communications``).
Four digits are only a secret if guessing is bounded, so every message that is nothing but a
code attempt ("OK 1234", "VIG-000123 OK 1234") from a number with SMS still awaiting their
confirmation is judged: the right code confirms its SMS; a wrong one counts as a wrong try
against *each* SMS it could have been meant for. After ``VIGIE_SMS_CODE_MAX_TRIES`` wrong
tries an SMS's code expires (a ``code_expired`` event): it can no longer confirm anything,
even with the right code, and the case is told (ledger line), so the technician calls back.

A message that is more than a code ("c'est réparé, code 1234 du portail") is never a code
attempt: it neither confirms nor counts, and goes on as a client reply.
"""

from __future__ import annotations

import re

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from messages.comms import Channel, CommStatus
from models.db import session_scope
from models.tables import Communication, CommunicationEvent

# The whole message: an optional case reference (tagged or not, see domain/refs.py: the code
# is the secret here, and the number it comes from), an optional "OK", the four digits.
CODE_ATTEMPT = re.compile(
    r"^\W*(?:(VIG-\d{6})(?:-[a-z0-9]{1,16})?\W*)?(?:OK|oui|d'accord|bien reçu)?\W*(\d{4})\W*$",
    re.I,
)
WRONG_CODE = "wrong_code"
SOURCE = "sms_reply"


def parse_attempt(body: str) -> tuple[str | None, str] | None:
    """(case reference or None, code) when the message is a code attempt, else None."""
    match = CODE_ATTEMPT.match(body.strip())
    if match is None:
        return None
    return (match.group(1).upper() if match.group(1) else None), match.group(2)


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def _expired_ids(s: Session, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return set(s.exec(select(CommunicationEvent.communication_id).where(
        col(CommunicationEvent.communication_id).in_(ids),
        CommunicationEvent.status == CommStatus.CODE_EXPIRED)).all())


def candidates(engine: Engine, sender: str, ref: str | None) -> tuple[list[Communication], bool]:
    """SMS with a code sent to ``sender`` (of case ``ref`` if named) whose code has not
    expired, newest first (confirmed ones included: a second "OK" is no wrong try); and
    whether some other such SMS had its code expired."""
    number = _digits(sender)
    if not number:
        return [], False
    with Session(engine) as s:
        rows = s.exec(
            select(Communication)
            .where(Communication.channel == Channel.SMS, Communication.code != "")
            .order_by(col(Communication.id).desc())
        ).all()
        mine = [r for r in rows if _digits(r.recipient) == number
                and (ref is None or r.key.startswith(ref + ":"))]
        expired = _expired_ids(s, [r.id or 0 for r in mine])
    return [r for r in mine if r.id not in expired], bool(expired)


def wrong_try(engine: Engine, rows: list[Communication], message_sid: str, body: str,
              max_tries: int) -> list[Communication]:
    """Counts one wrong code against each row (once per incoming message: Twilio may send the
    same one again); returns the rows whose code expired with this try."""
    expired: list[Communication] = []
    for row in rows:
        comm_id = row.id or 0
        _event(engine, comm_id, WRONG_CODE, body,
               f"{message_sid}:{WRONG_CODE}" if message_sid else None)
        with Session(engine) as s:
            tries = s.exec(select(func.count()).select_from(CommunicationEvent).where(
                CommunicationEvent.communication_id == comm_id,
                CommunicationEvent.status == WRONG_CODE)).one()
        if tries >= max(1, max_tries) and _event(
            engine, comm_id, CommStatus.CODE_EXPIRED, f"{tries} codes erronés",
            CommStatus.CODE_EXPIRED,
        ):
            expired.append(row)
    return expired


def _event(engine: Engine, comm_id: int, status: str, detail: str, dedupe: str | None) -> bool:
    """One piece of evidence, once per ``dedupe``; False when it was there already."""
    try:
        with session_scope(engine) as s:
            if dedupe is not None and s.exec(select(CommunicationEvent.id).where(
                CommunicationEvent.communication_id == comm_id,
                CommunicationEvent.dedupe == dedupe,
            )).first() is not None:
                return False
            s.add(CommunicationEvent(communication_id=comm_id, source=SOURCE, status=status,
                                     detail=detail[:2000], dedupe=dedupe))
    except IntegrityError:
        return False
    return True
