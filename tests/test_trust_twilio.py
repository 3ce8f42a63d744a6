"""Nobody outside can speak for a client's phone (issue 11, findings 7 and 8), with signed
Twilio requests (``twilio.request_validator``) against the console's real routes.

7. An SMS confirmation code cannot be computed from the case reference, and only a few wrong
   codes are accepted per SMS: then the code expires and the case is told.
8. A signed callback replayed with another ``I-Twilio-Idempotency-Token`` (a header Twilio's
   signature does not cover) is still the same news, counted once.
"""

from __future__ import annotations

import hashlib

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from activities.phone import PhoneActivities, PhoneConfig
from messages.comms import Channel, CommunicationSignal, SmsRequest
from models.tables import Communication, CommunicationEvent
from tests.comms_fixtures import OPENED, seed_case
from tests.test_case_machine import at, audits, opened
from tests.test_comms_webhooks import Hooks, hooks  # noqa: F401  (the signed-callback fixture)


def _old_formula(key: str) -> str:
    """The code before issue 11: anyone knowing the reference could compute it."""
    return f"{int(hashlib.sha256(key.encode()).hexdigest(), 16) % 9000 + 1000}"


# --- 7. SMS confirmation codes ---------------------------------------------------------------


def test_sms_codes_are_random_and_kept_on_the_row_not_computable_from_the_reference(
    sqlite_engine: Engine,
) -> None:
    seeded = seed_case(sqlite_engine)
    acts = PhoneActivities(sqlite_engine, PhoneConfig(transport="dry-run"))
    rows = []
    for attempt in range(1, 7):
        req = SmsRequest(case_id=seeded.case_id, case_ref=seeded.ref, step="instructions",
                         attempt=str(attempt), workflow_id=seeded.workflow_id, at=OPENED,
                         text="Redémarrez le service.")
        first = acts.send_sms(req)
        assert acts.send_sms(req) == first  # a retried activity sends the same body
        with Session(sqlite_engine) as s:
            rows.append(s.get(Communication, first.communication_id))
    assert all(r is not None and len(r.code) == 4 and r.code in r.body for r in rows)
    assert [r.code for r in rows] != [_old_formula(r.key) for r in rows]


async def test_three_wrong_codes_expire_the_sms_and_the_case_is_told(hooks: Hooks) -> None:  # noqa: F811
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded, channel="sms", status="delivered", workflow_id=seeded.workflow_id,
                     code="4821")
    client = "+33450000011"

    async def sms(body: str, sid: str) -> str:
        r = await hooks.post("/twilio/sms/incoming", {"From": client, "Body": body,
                                                       "MessageSid": sid})
        assert r.status_code == 200
        return r.text

    assert "code incorrect" in await sms("OK 1111", "SM1")
    assert "code incorrect" in await sms("OK 1111", "SM1")  # Twilio's retry: counted once
    # a message that is more than a code is a reply, never a guess
    await sms(f"{seeded.ref} : redémarré à 1430, merci", "SM2")
    assert "code incorrect" in await sms(f"{seeded.ref} OK 2222", "SM3")
    assert hooks.told()[-1][2] != "code_expired"
    assert "ce code a expiré" in await sms("OK 3333", "SM4")
    assert hooks.told()[-1] == (seeded.workflow_id, "communication", "code_expired")
    assert "rappeler le client" in hooks.signals[-1][2].detail
    # the right code, now, confirms nothing
    assert "ce code a expiré" in await sms("OK 4821", "SM5")
    assert hooks.row(row.id).status == "delivered"
    assert "confirmed" not in [status for _, _, status in hooks.told()]
    assert hooks.events(row.id).count("wrong_code") == 3
    assert hooks.events(row.id).count("code_expired") == 1


async def test_the_right_code_within_the_limit_still_confirms(hooks: Hooks) -> None:  # noqa: F811
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded, channel="sms", status="delivered", workflow_id=seeded.workflow_id,
                     code="4821")
    for body, sid in (("OK 1111", "SM1"), ("OK 2222", "SM2"), ("OK 4821", "SM3")):
        await hooks.post("/twilio/sms/incoming", {"From": "+33450000011", "Body": body,
                                                  "MessageSid": sid})
    assert hooks.row(row.id).status == "confirmed"
    assert hooks.told()[-1] == (seeded.workflow_id, "communication", "confirmed")


def test_an_expired_code_is_a_ledger_line_that_reaches_nobody() -> None:
    core, _ = opened()
    intents = core.communication(CommunicationSignal(
        9, Channel.SMS, "code_expired", at(5), detail="code SMS expiré : rappeler le client"))
    (line,) = audits(intents)
    assert (line.action, line.data["status"], line.reason) == (
        "communication", "code_expired", "code SMS expiré : rappeler le client")
    assert "outcome" not in line.data and not core.model.client_contacted


# --- 8. Twilio callbacks deduplicated on signed fields ---------------------------------------


async def test_a_replayed_call_callback_with_another_idempotency_header_counts_once(
    hooks: Hooks,  # noqa: F811
) -> None:
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded)
    path = f"/twilio/status/call/{row.id}"
    params = {"CallSid": "CA1", "CallStatus": "no-answer", "SequenceNumber": "3"}
    for token in ("tok-1", "tok-2", "forged-3"):
        r = await hooks.post(path, params, headers={"I-Twilio-Idempotency-Token": token})
        assert r.status_code == 204
    assert hooks.events(row.id) == ["no-answer"]
    assert hooks.told() == [("contact-VIG-1", "communication", "no_answer")]


async def test_a_replayed_sms_delivery_receipt_counts_once(hooks: Hooks) -> None:  # noqa: F811
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded, channel="sms", workflow_id=seeded.workflow_id, code="4821")
    path = f"/twilio/status/sms/{row.id}"
    for token in ("a", "b", "c"):
        await hooks.post(path, {"MessageSid": "SM1", "MessageStatus": "delivered"},
                         headers={"I-Twilio-Idempotency-Token": token})
    with Session(hooks.engine) as s:
        delivered = s.exec(select(CommunicationEvent).where(
            CommunicationEvent.communication_id == row.id,
            CommunicationEvent.status == "delivered")).all()
    assert len(delivered) == 1
    assert hooks.told() == [(seeded.workflow_id, "communication", "delivered")]


async def test_a_tagged_reference_and_a_second_ok_are_no_wrong_tries(hooks: Hooks) -> None:  # noqa: F811
    seeded = seed_case(hooks.engine)
    row = hooks.comm(seeded, channel="sms", status="delivered", workflow_id=seeded.workflow_id,
                     code="4821")
    for n, body in enumerate((f"{seeded.ref}-k3f9qa OK 4821", "OK 4821", "ok 4821"), start=1):
        r = await hooks.post("/twilio/sms/incoming", {"From": "+33450000011", "Body": body,
                                                      "MessageSid": f"SM{n}"})
        assert "votre confirmation" in r.text, body
    assert hooks.row(row.id).status == "confirmed"
    assert "wrong_code" not in hooks.events(row.id)
    assert [s for _, _, s in hooks.told()] == ["confirmed"]
