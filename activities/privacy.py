"""The retention Schedule's activity: a thin wrapper over ``contracts.requests``."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from contracts.requests import erase_expired
from messages.erasure import ERASE_EXPIRED, ExpiredRequest


def privacy_activities(engine: Engine, retention_days: int) -> list:
    @activity.defn(name=ERASE_EXPIRED)
    def erase(req: ExpiredRequest) -> list[str]:
        return erase_expired(engine, retention_days, req.at)

    return [erase]
