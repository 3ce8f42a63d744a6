"""Files under ``var/`` are the desk's own: mode 0600 (folder 0700), whoever else logs in.

The SQLite databases hold every client's alerts, contacts and the sign-in log, yet they were
created 0644 by the umask (issue 21, finding 9). A file is created with its mode from the
start (no window where it is readable), and a file left by an older version is narrowed at
the next start. SQLite gives its ``-wal`` and ``-shm`` files the database file's mode; the
Temporal dev server, a program of its own, is started with umask 077 instead.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
UMASK = 0o077  # for child processes that create files of their own (the Temporal dev server)


def private_dir(path: Path) -> Path:
    """Creates ``path`` (and its parents) if missing; the folder itself ends 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Creates an empty ``path`` with mode 0600 if missing (never truncating it), else
    narrows its mode to 0600. SQLite opens an empty file as an empty database."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path
