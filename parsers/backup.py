"""What every backup parser shares: how results rank, and what a result means for the
event's status and severity. "Failure words win": when a mail carries several results,
the worst one is the result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from parsers.event import AlertEvent, BackupResult, Family, Severity, Status
from parsers.textutil import one_line

# From worst to best.
_RANK: dict[BackupResult, int] = {
    BackupResult.FAILED: 0,
    BackupResult.CANCELLED: 1,
    BackupResult.INCOMPLETE: 2,
    BackupResult.WARNING: 3,
    BackupResult.SUCCESS: 4,
}
_SEVERITY: dict[BackupResult, Severity] = {
    BackupResult.FAILED: Severity.MAJOR,
    BackupResult.CANCELLED: Severity.MINOR,
    BackupResult.INCOMPLETE: Severity.MINOR,
    BackupResult.WARNING: Severity.WARNING,
    BackupResult.SUCCESS: Severity.INFO,
}


def worst(results: Iterable[BackupResult | None]) -> BackupResult | None:
    """The worst of the results found (None when none was found)."""
    found = [r for r in results if r is not None]
    return min(found, key=_RANK.__getitem__) if found else None


def backup_event(
    result: BackupResult,
    *,
    host: str | None,
    target: str | None,
    product: str,
    summary: str,
    occurred_at: datetime | None = None,
    extra: Mapping[str, str] | None = None,
) -> AlertEvent:
    """A ``backup_job`` event: success is ``info``, anything else a ``problem``."""
    return AlertEvent(
        family=Family.BACKUP,
        status=Status.INFO if result is BackupResult.SUCCESS else Status.PROBLEM,
        host=host,
        check="backup_job",
        target=target,
        severity=_SEVERITY[result],
        backup_result=result,
        product=product,
        occurred_at=occurred_at,
        summary=one_line(summary),
        extra=dict(extra or {}),
    )
