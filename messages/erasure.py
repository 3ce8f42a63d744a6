"""What the erasure sweep (``workflows.erasure``), its activity and the schedules agree on:
names and inputs. Standard library only, so the workflow sandbox loads it as is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ERASURE_WORKFLOW = "ErasureSweepWorkflow"
ERASE_EXPIRED = "privacy_erase_expired"  # ExpiredRequest -> list[str]


@dataclass(frozen=True)
class ErasureSweepInput:
    note: str = ""


@dataclass(frozen=True)
class ExpiredRequest:
    at: datetime
