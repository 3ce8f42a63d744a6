"""The visit record ("fiche de visite"): built once the consultant ends the visit, in HTML for
the console and the portal and in PDF (WeasyPrint) for the team's mail and the client.

Building it also closes the visit's technical-document bracket: the version after the visit
is saved (servers section from the inventory as it is now) and the difference with the
version before is part of the report.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from documents import html_to_pdf
from messages.cases import CRITICALITY_LABELS, STATE_LABELS
from messages.visits import ReportResult
from models.db import session_scope
from models.tables import Client, Site
from models.visits import Visit, VisitReport
from planning import checklist, techdoc
from planning.anomalies import Anomalies, anomalies_for
from planning.notify import consultant_address, day_label, visit_ref

TEMPLATES = Path(__file__).resolve().parent / "templates"
CSS = TEMPLATES / "report.css"


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True)


def render_pdf(html: str, title: str = "") -> bytes:
    """The visit report's PDF, printed by the desk's one document printer (``documents``:
    WeasyPrint, numbered A4 pages, nothing fetched from outside) with the report's own
    stylesheet on top."""
    page = (f"<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\"><title>{title}"
            f"</title></head><body>{html}</body></html>")
    return html_to_pdf(page, extra_css=CSS.read_text(encoding="utf-8"))


# A day's backup outcome as the client reads it (``BackupDay.status`` keys are the audit's).
BACKUP_STATUS = {"failed": "en échec", "not_received": "aucun compte rendu reçu",
                 "incomplete": "incomplète", "cancelled": "annulée", "warning": "avertissement",
                 "success": "réussie"}


def render_html(s: Session, visit: Visit, tz: str, anomalies: Anomalies | None = None) -> str:
    zone = ZoneInfo(tz)
    client = s.get(Client, visit.client_id)
    site = s.get(Site, visit.site_id) if visit.site_id else None
    consultant_name, _ = consultant_address(s, visit.consultant_id)
    found = anomalies or anomalies_for(s, visit, tz)
    before = techdoc.version(s, visit.client_id, visit.techdoc_before)
    after = techdoc.version(s, visit.client_id, visit.techdoc_after)

    def local(at: dt.datetime | None) -> str:
        return at.astimezone(zone).strftime("%d/%m/%Y %H:%M") if at else "—"

    context: dict[str, Any] = {
        "ref": visit_ref(visit.id or 0),
        "client_name": client.name if client else "",
        "site_name": site.name if site else "",
        "date_label": day_label(visit.date.isoformat() if visit.date else None),
        "consultant_name": consultant_name,
        "started": local(visit.started_at),
        "finished": local(visit.finished_at),
        "items": checklist.items_of(s, visit.id or 0),
        "answer_label": lambda a: checklist.ANSWER_LABELS.get(a, a),
        "open_items": visit.open_items,
        "anomalies": found,
        "window_start": local(found.start),
        "window_end": local(found.end),
        "local": local,
        "crit_label": lambda c: CRITICALITY_LABELS.get(c, "non classé") if c else "non classé",
        "case_state": lambda st: STATE_LABELS.get(st, st),
        "backup_status": lambda st: BACKUP_STATUS.get(st, st),
        "advice": visit.advice,
        "questions": visit.questions,
        "techdoc_before": visit.techdoc_before,
        "techdoc_after": visit.techdoc_after,
        "diff": techdoc.diff(before, after) if after is not None else [],
    }
    return _env().get_template("report.html").render(context)


def build_visit_report(engine: Engine, visit_id: int, actor: str, at: dt.datetime,
                       tz: str = "Europe/Paris") -> ReportResult:
    """Idempotent: a retry rebuilds from the same data and replaces its own row."""
    with session_scope(engine) as s:
        visit = s.get(Visit, visit_id)
        if visit is None:
            raise ValueError(f"visite {visit_id} introuvable")
        open_items = checklist.open_items(s, visit_id)
        visit.open_items = list(dict.fromkeys([*visit.open_items, *open_items]))
        if visit.techdoc_before is None:
            current = techdoc.latest(s, visit.client_id)
            visit.techdoc_before = current.version if current else None
        if visit.techdoc_after is None:
            visit.techdoc_after = techdoc.save_version(s, visit.client_id, {}, actor,
                                                       visit_id).version
        s.add(visit)
        s.flush()
        found = anomalies_for(s, visit, tz)
        html = render_html(s, visit, tz, found)
        pdf = render_pdf(html, f"Fiche de visite {visit_ref(visit_id)}")
        row = s.exec(select(VisitReport).where(VisitReport.visit_id == visit_id)).first()
        row = row or VisitReport(visit_id=visit_id)
        row.html, row.pdf, row.written_at = html, pdf, at
        s.add(row)
        return ReportResult(visit_id=visit_id, techdoc_before=visit.techdoc_before,
                            techdoc_after=visit.techdoc_after, anomalies=found.count,
                            open_items=tuple(visit.open_items))


def report_of(s: Session, visit_id: int) -> VisitReport | None:
    return s.exec(select(VisitReport).where(VisitReport.visit_id == visit_id)).first()
