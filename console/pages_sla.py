"""The manager's SLA view (per period, client, technician, class), its cases, its exports;
and the planners' page.

Every number links to the list of cases it counts, and every case to the derivation of its
figures from the ledger (``/cases/{id}/sla``). Figures come from the ``sla_case`` cache
(``console.slacache``), brought up to the ledger before each view.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response, StreamingResponse
from sqlmodel import Session, select

from console import charts
from console.auth import Principal, require
from console.deps import Services
from console.i18n import (
    FIGURE_LABELS,
    N_,
    NC_,
    criticality_label,
    gettext,
    label_text,
    pair_label,
)
from console.params import page_number, parse_int
from console.slacache import (
    DIMENSIONS,
    FIGURES,
    MAJOR_UNREACHED,
    SUMMARY_FIGURES,
    Group,
    Period,
    Selection,
    cases_behind,
    distribution,
    iter_case_rows,
    major_unreached,
    refresh_for_view,
    summarize,
)
from console.web import context, environment, lang_of, log_reads, render
from documents import template_to_pdf
from domain.csv_export import csv_stream
from messages.words import Contextual
from models.tables import Client
from models.types import utcnow

router = APIRouter()

DEFAULT_DAYS = 90
MAX_DAYS = 3 * 366
TRIAGE_EDGES_MIN = (15, 30, 60, 120, 240, 480)


def svc_of(request: Request) -> Services:
    return request.app.state.services


def _parse_date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        raise HTTPException(422, f"Date invalide : {raw}") from None


def selection_of(request: Request) -> Selection:
    """The period and fixed dimensions from the query string (defaults: the last 90 days)."""
    svc = svc_of(request)
    p = request.query_params
    tz = svc.settings.timezone
    today = utcnow().astimezone(ZoneInfo(tz)).date()
    end = _parse_date(p.get("to")) or today
    start = _parse_date(p.get("from")) or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        start, end = end, start
    if (end - start).days > MAX_DAYS:
        raise HTTPException(422, "Période trop longue (trois ans au plus)")
    client = p.get("client", "")
    return Selection(
        period=Period(start, end, tz),
        client_id=parse_int(client, minimum=-1),  # -1: cases without a client
        technician=p.get("tech") if p.get("tech") is not None else None,
        criticality=p.get("class") or None,
    )


def sel_params(sel: Selection, **override: Any) -> dict[str, str]:
    """The query parameters that select ``sel`` (overridden by a group's key)."""
    params: dict[str, str] = {
        "from": sel.period.start.isoformat(),
        "to": sel.period.end.isoformat(),
    }
    if sel.client_id is not None:
        params["client"] = str(sel.client_id)
    if sel.technician is not None:
        params["tech"] = sel.technician
    if sel.criticality:
        params["class"] = sel.criticality
    for key, value in override.items():
        params[key] = str(value)
    return params


def group_params(sel: Selection, by: str, grp: Group) -> dict[str, str]:
    """Parameters of the cases behind one group of the table."""
    if by == "client":
        return sel_params(sel, client=grp.key)
    if by == "technician":
        return sel_params(sel, tech=grp.key)
    if by == "criticality":
        return sel_params(sel, **{"class": grp.key})
    start: date = grp.key
    if by == "week":
        end = start + timedelta(days=6)
    else:
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    start = max(start, sel.period.start)
    end = min(end, sel.period.end)
    return sel_params(sel, **{"from": start.isoformat(), "to": end.isoformat()})


def moment_day(lang: str, day: date, pattern: str) -> str:
    """A week's first day or a month, written by Babel for the page's language."""
    from babel.dates import format_date

    from console.i18n import BABEL_LOCALES

    return format_date(day, pattern, locale=BABEL_LOCALES.get(lang, "fr_FR"))


def group_label(by: str, key: Any, lang: str, clients: dict[int, str]) -> str:
    if by == "client":
        return clients.get(key, "—") if key != -1 else gettext(lang, N_("sans client"))
    if by == "technician":
        return key or label_text(lang, NC_("technicien", "non classé"))
    if by == "criticality":
        return criticality_label(lang, None if key == "unclassified" else key)
    if by == "week":
        return gettext(lang, N_("sem. {}")).format(moment_day(lang, key, "dd/MM/y"))
    return moment_day(lang, key, "MM/y")


def _client_names(svc: Services) -> dict[int, str]:
    with Session(svc.engine) as s:
        return {cid or 0: name for cid, name in s.exec(select(Client.id, Client.name)).all()}


def _report(request: Request) -> dict[str, Any]:
    svc = svc_of(request)
    fresh = refresh_for_view(svc.engine, svc.settings)
    sel = selection_of(request)
    by = request.query_params.get("by", "client")
    if by not in DIMENSIONS:
        raise HTTPException(422, f"Regroupement inconnu : {by}")
    span = (sel.period.end - sel.period.start).days
    trend_by = "week" if span <= 120 else "month"
    now = utcnow()
    summary = summarize(svc.engine, sel, by, trend_by, now)
    lang = lang_of(request)
    clients = _client_names(svc)
    for dim, groups in ((by, summary.groups), (trend_by, summary.trend)):
        for grp in groups:
            grp.label = group_label(dim, grp.key, lang, clients)
    return {
        "sel": sel,
        "by": by,
        "total": summary.total,
        "groups": summary.groups,
        "trend": summary.trend,
        "trend_by": trend_by,
        "clients": clients,
        "now": now,
        "fresh": fresh,
        "major_unreached": major_unreached(svc.engine, sel),
        "major_unreached_metric": MAJOR_UNREACHED,
    }


BY_LABELS: dict[str, str] = {
    "client": N_("client"),
    "technician": N_("technicien"),
    "criticality": N_("criticité"),
    "month": N_("mois"),
    "week": N_("semaine"),
}


def _view_context(request: Request) -> dict[str, Any]:
    """What the SLA page shows, and its printed copy prints: the same figures and charts."""
    rep = _report(request)
    sel: Selection = rep["sel"]
    by: str = rep["by"]
    lang = lang_of(request)
    triage_dist = distribution(rep["total"].values["time_to_triage"], TRIAGE_EDGES_MIN)
    title_dist = gettext(lang, N_("Distribution du délai de classification"))
    title_trend = gettext(lang, N_("Cas et cas hors délai par période"))
    words = (gettext(lang, N_("cas")), gettext(lang, N_("hors délai")))
    return {
        "dims": DIMENSIONS,
        "figures": SUMMARY_FIGURES,
        "chart_dist": charts.bars(title_dist, triage_dist),
        "chart_trend": charts.trend(
            title_trend, [(g.label, g.count, g.breached_cases) for g in rep["trend"]], words
        ),
        "params": lambda **kw: sel_params(sel, **kw),
        "group_params": lambda grp: group_params(sel, by, grp),
        "title_dist": title_dist,
        "title_trend": title_trend,
        "by_label": gettext(lang, BY_LABELS[by]),
        **rep,
    }


@router.get("/sla")
def sla_view(request: Request, principal: Principal = Depends(require("sla"))) -> Response:
    view = _view_context(request)
    log_reads(request, principal, [view["sel"].client_id], "sla")  # one client's figures
    return render(request, principal, "sla.html", **view)


@router.get("/sla/cases")
def sla_cases(request: Request, principal: Principal = Depends(require("sla"))) -> Response:
    """The cases behind one number of the SLA view."""
    svc = svc_of(request)
    sel = selection_of(request)
    metric = request.query_params.get("metric", "")
    page = page_number(request.query_params.get("page"))
    try:
        rows, total = cases_behind(svc.engine, sel, metric, offset=(page - 1) * 50, limit=50)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    log_reads(request, principal, [getattr(r, "client_id", None) for r in rows], "sla")
    return render(
        request,
        principal,
        "sla_cases.html",
        sel=sel,
        metric=metric,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // 50)),
        clients=_client_names(svc),
        figures=SUMMARY_FIGURES,
        params=lambda **kw: sel_params(sel, **kw),
    )


def _minutes(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds / 60:.1f}"


# the per-case export's columns, in French: the catalog's "SLA" words for the page's language
CASE_COLUMNS = (
    NC_("SLA", "cas"), NC_("SLA", "client"), NC_("SLA", "technicien"),
    NC_("SLA", "criticité"), NC_("SLA", "ouvert (UTC)"), NC_("SLA", "escaladé N2"),
)


def group_table(rep: dict[str, Any], lang: str) -> tuple[list[str], list[list[str]]]:
    """The SLA table as plain cells (CSV and PDF exports share it)."""
    def say(value: Contextual) -> str:
        return label_text(lang, value)

    header = [say(NC_("SLA", "Groupe")), say(NC_("SLA", "Cas"))]
    for name in SUMMARY_FIGURES:
        label = pair_label(FIGURE_LABELS, lang, name)
        header += [
            say(NC_("SLA", "{figure} — médiane (min)")).format(figure=label),
            say(NC_("SLA", "{figure} — p90 (min)")).format(figure=label),
            say(NC_("SLA", "{figure} — hors délai")).format(figure=label),
        ]
    header += [say(NC_("SLA", "Escaladés N2 (%)")), say(NC_("SLA", "Cas hors délai"))]
    rows = []
    for grp in [*rep["groups"], rep["total"]]:
        label = grp.label or ("Total" if grp is rep["total"] else "")
        cells = [label, str(grp.count)]
        for name in SUMMARY_FIGURES:
            fig = grp.figure(name)
            cells += [
                _minutes(fig["median_seconds"]),
                _minutes(fig["p90_seconds"]),
                str(fig["breaches"]),
            ]
        cells += [
            "" if grp.escalated_pct is None else str(grp.escalated_pct),
            str(grp.breached_cases),
        ]
        rows.append(cells)
    return header, rows


@router.get("/sla/export.csv")
def sla_csv(request: Request, principal: Principal = Depends(require("sla"))) -> Response:
    """The table of the view (``detail=cases``: one line per case with its figures)."""
    lang = lang_of(request)
    svc = svc_of(request)
    sel = selection_of(request)
    name = f"vigie-sla-{sel.period.start}-{sel.period.end}"
    if request.query_params.get("detail") == "cases":
        refresh_for_view(svc.engine, svc.settings)
        clients = _client_names(svc)
        header = [label_text(lang, word) for word in CASE_COLUMNS]
        yes, no = label_text(lang, NC_("SLA", "oui")), label_text(lang, NC_("SLA", "non"))
        header += [f"{pair_label(FIGURE_LABELS, lang, n)} (min)" for n in FIGURES]
        names = list(FIGURES)

        def lines() -> Iterator[list[str]]:
            for r in iter_case_rows(svc.engine, sel):
                yield [
                    r.ref,
                    clients.get(r.client_id, "") if r.client_id is not None else "",
                    r.technician,
                    r.criticality or "",
                    r.opened_at.isoformat(),
                    yes if r.escalated else no,
                    *(_minutes(getattr(r, FIGURES[n][0])) for n in names),
                ]

        body = csv_stream(header, lines())
        name += "-cas"
    else:
        header, rows = group_table(_report(request), lang)
        body = csv_stream(header, rows)
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/sla/export.pdf")
def sla_pdf(request: Request, principal: Principal = Depends(require("sla"))) -> Response:
    """The page's own template and figures, printed (A4 landscape, numbered pages): the
    table with median and p90, both charts, the period and the filters."""
    view = _view_context(request)
    sel: Selection = view["sel"]
    lang = lang_of(request)
    link_base = str(request.base_url).rstrip("/")
    title = gettext(lang, N_("Vigie — rapport SLA"))
    ctx = context(request, principal, doc_title=title, link_base=link_base, **view)
    body = template_to_pdf(
        environment(lang), "print/sla.html", ctx, base_url=link_base + "/", landscape=True
    )
    filename = f"vigie-sla-{sel.period.start}-{sel.period.end}.pdf"
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
