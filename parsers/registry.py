"""The ordered list of parsers: specific formats before generic ones.

Adding a vendor is one module (``name`` + ``parse``) and one line here. Order notes:
the probe format first (exact, explicit); NTBackup before Arcserve and WSB (its French
log sentences mention "sauvegarde"); Veeam before WSB (bracketed result subjects); WSB
before the event-log parser (WSB scripts may paste Microsoft-Windows-Backup events);
cron/status scripts late because their detection is the loosest; ``unknown`` last.
"""

from __future__ import annotations

from parsers import (
    arcserve,
    dell,
    eventlog,
    hp,
    ibm,
    ntbackup,
    probe,
    trendmicro,
    unix_backup,
    unknown,
    veeam,
    wsb,
)
from parsers.base import Parser

PARSERS: tuple[Parser, ...] = (
    probe,
    hp,
    dell,
    ibm,
    veeam,
    ntbackup,
    arcserve,
    wsb,
    eventlog,
    trendmicro,
    unix_backup,
)
FALLBACK: Parser = unknown
