"""The communication record as workflows read it (a Temporal wrapper over
:mod:`records.communications`, where the record-before-send protocol is explained)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from messages.cases import ActivityName
from messages.comms import SendResult
from models.db import session_scope
from models.tables import Communication
from records.communications import result_of


class CommsActivities:
    """Reads of the communication record for workflows (a lost callback signal is found in
    the database when the contact run stops waiting)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def all(self) -> list:
        return [self.communication_status]

    @activity.defn(name=ActivityName.COMMUNICATION_STATUS)
    def communication_status(self, comm_id: int) -> SendResult:
        with session_scope(self.engine) as s:
            row = s.get(Communication, comm_id)
            if row is None:
                raise ValueError(f"communication {comm_id} introuvable")
            return result_of(row)
