"""CSV inventory imports run as background jobs of the console (issue 21, finding 8).

A 50,000-row dry run took 255 s of the console's CPU inside one request: the browser waited,
a proxy's timeout could cut it, and a second upload doubled the load. Now the upload is
copied to a private temporary file as it arrives (at most ``MAX_BYTES``), one job reads it as
a stream on a thread of its own (``console.inventory_csv``, capped at
``VIGIE_IMPORT_MAX_ROWS`` rows), and the administrators' import page shows its progress,
then its report. One import at a time: a second is refused while one runs (on SQLite an
import holds the write lock until it ends).

The jobs live in the console process's memory. The import is all-or-nothing in one
transaction, so a console stopped mid-job wrote nothing and the upload is simply sent
again; a finished job's report is kept until the console restarts (the last ``KEPT``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.engine import Engine

from console.inventory_csv import MAX_BYTES, ImportReport, import_inventory
from models.types import utcnow

log = logging.getLogger(__name__)

KEPT = 20
CHUNK = 64 * 1024


class Busy(RuntimeError):
    """An import is already running."""


class TooLarge(ValueError):
    """The upload is over ``MAX_BYTES``."""


@dataclass
class ImportJob:
    id: str
    by: str
    dry_run: bool
    filename: str
    started_at: datetime = field(default_factory=utcnow)
    rows_read: int = 0
    finished_at: datetime | None = None
    report: ImportReport | None = None
    failure: str = ""

    @property
    def running(self) -> bool:
        return self.finished_at is None


def spool(source: BinaryIO, folder: Path) -> Path:
    """Copies an upload to a file only this process can read (``mkstemp``: 0600), chunk by
    chunk, refusing it past ``MAX_BYTES`` (nothing larger is ever held in memory)."""
    fd, name = tempfile.mkstemp(prefix="import-", suffix=".csv", dir=folder)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise TooLarge("Fichier trop volumineux (5 Mo au plus)")
                out.write(chunk)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


class ImportJobs:
    """The console's import jobs: at most one running, the last ``KEPT`` remembered."""

    def __init__(self, engine: Engine, max_rows: int) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, ImportJob] = OrderedDict()

    def start(self, path: Path, *, by: str, dry_run: bool, filename: str) -> ImportJob:
        """Starts the import of ``path`` (the job deletes the file); Busy if one runs."""
        with self._lock:
            if any(job.running for job in self._jobs.values()):
                path.unlink(missing_ok=True)
                raise Busy("Un import est déjà en cours : attendez sa fin")
            job = ImportJob(id=uuid.uuid4().hex[:12], by=by, dry_run=dry_run,
                            filename=filename[:120])
            self._jobs[job.id] = job
            while len(self._jobs) > KEPT:
                self._jobs.popitem(last=False)
        threading.Thread(target=self._run, args=(job, path), name=f"import-{job.id}",
                         daemon=True).start()
        return job

    def _run(self, job: ImportJob, path: Path) -> None:
        def progress(rows: int) -> None:
            job.rows_read = rows

        try:
            with path.open("rb") as stream:
                job.report = import_inventory(self.engine, stream, dry_run=job.dry_run,
                                              max_rows=self.max_rows, progress=progress)
            report = job.report
            log.info("import CSV %s par %s : %s lignes, %s erreurs%s", job.id, job.by,
                     report.lines, len(report.errors), ", appliqué" if report.applied else "")
        except Exception as exc:  # a failure is shown on the job's page, never lost
            log.exception("import CSV %s échoué", job.id)
            job.failure = f"{type(exc).__name__}: {exc}"
        finally:
            path.unlink(missing_ok=True)
            job.finished_at = utcnow()

    def get(self, job_id: str) -> ImportJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def recent(self) -> list[ImportJob]:
        with self._lock:
            return list(reversed(self._jobs.values()))
