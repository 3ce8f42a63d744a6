"""``vigie send DIR``: push a folder of .eml files into an intake (demos and load)."""

from __future__ import annotations

import smtplib
from pathlib import Path


def send_dir(folder: Path, host: str, port: int, to: str) -> int:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix == ".eml")
    with smtplib.SMTP(host, port, timeout=30) as smtp:
        for path in files:
            smtp.sendmail("sender@vigie.local", [to], path.read_bytes())
    return len(files)
