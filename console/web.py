"""Server-rendered pages: a Jinja2 environment per language (autoescaped, the Jinja2 i18n
extension wired to that language's catalog), Babel's dates and numbers, render().

Times are stored in UTC and shown in the team's time zone (``VIGIE_TIMEZONE``, Europe/Paris).
The language is French unless ``?lang=en`` (remembered in a cookie) asks for English.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from console import i18n, i18n_contracts, i18n_messages, i18n_timeline, i18n_visits
from console.auth import CSRF_FIELD, PERMISSIONS, Principal, clear_flash
from console.deps import Services
from console.idempotency import key_field
from console.sent import sent_view
from contracts.privacy import record_access, record_accesses
from models.types import utcnow

HERE = Path(__file__).resolve().parent
LANG_COOKIE = "vigie_lang"

N_ = i18n.N_
NAV: tuple[tuple[str, str, str], ...] = (
    ("/queue", N_("File d'attente"), "queue"),
    ("/unmatched", N_("Non rattachés"), "triage"),
    ("/backups", N_("Sauvegardes"), "queue"),
    ("/sla", N_("SLA"), "sla"),
    ("/planning", N_("Planification"), "planning"),
    ("/contracts", N_("Contrats"), "contracts"),
    ("/privacy/access", N_("Accès aux données"), "privacy"),
    ("/visits/mine", N_("Mes visites"), "visit.run"),
    ("/entitlements", N_("Droits de visite"), "entitlement"),
    ("/admin", N_("Administration"), "admin"),
    ("/portal", N_("Mes cas"), "portal"),
    ("/portal/contract", N_("Mon contrat"), "portal"),
)


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in i18n.LANGS:
        return asked
    kept = request.cookies.get(LANG_COOKIE)
    return kept if kept in i18n.LANGS else i18n.DEFAULT_LANG


def local_time(value: datetime | None, tz: str, fmt: str = "datetime",
               lang: str = i18n.DEFAULT_LANG) -> str:
    """A stored moment in the team's zone, by Babel (``i18n.DATE_FORMATS`` names ``fmt``)."""
    return i18n.moment(lang, value, tz, fmt)


def duration(seconds: float | None) -> str:
    """Business or wall durations as "1 h 05" (or "2 j 3 h 10" past a day), floored."""
    if seconds is None:
        return "—"
    minutes = max(0, int(seconds // 60))
    days, minutes = divmod(minutes, 24 * 60)
    text = f"{minutes // 60} h {minutes % 60:02d}"
    return f"{days} j {text}" if days else text


def tel_uri(phone: str) -> str:
    """``tel:`` link target: digits and a leading plus only (click-to-call)."""
    kept = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    return "tel:" + kept


@lru_cache(maxsize=len(i18n.LANGS))
def environment(lang: str = i18n.DEFAULT_LANG) -> Environment:
    """The templates for one language: ``_()``, ``gettext``, ``ngettext`` and ``{% trans %}``
    blocks read that language's catalog (looked up in ``console.i18n`` at each call, so a
    test may watch every lookup)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        lambda text: i18n.gettext(lang, text),
        lambda singular, plural, n: i18n.ngettext(lang, singular, plural, n),
        pgettext=lambda context, text: i18n.pgettext(lang, context, text),
        newstyle=False,
    )
    env.filters["duration"] = duration
    env.filters["tel"] = tel_uri
    env.filters["number"] = lambda value, digits=1: i18n.number(lang, value, digits)
    env.filters["percent"] = lambda value, digits=1: i18n.percent(lang, value, digits)
    env.globals["urlencode"] = urlencode
    return env


def query_with(request: Request, **changes: Any) -> str:
    """The current query string with some parameters changed (None removes one)."""
    params = dict(request.query_params)
    params.pop("lang", None)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    return "?" + urlencode(params) if params else "?"


class FormTokens:
    """What ``{{ csrf_field }}`` writes in every form: the session's CSRF token and, for a
    signed-in user, a fresh idempotency key each time it is written (so each form of a page
    has its own, and a form sent twice is done once: ``console.idempotency``)."""

    def __init__(self, csrf: str | None) -> None:
        self.csrf = csrf

    def __html__(self) -> str:
        if not self.csrf:
            return ""
        return f'<input type="hidden" name="{CSRF_FIELD}" value="{self.csrf}">' + key_field()

    def __str__(self) -> str:
        return self.__html__()


def context(request: Request, principal: Principal | None, **extra: Any) -> dict[str, Any]:
    svc: Services = request.app.state.services
    lang = lang_of(request)
    tz = svc.settings.timezone

    def dt(value: datetime | None, fmt: str = "datetime") -> str:
        return local_time(value, tz, fmt, lang)

    nav = [
        (href, i18n.gettext(lang, label), request.url.path.startswith(href))
        for href, label, perm in NAV
        if principal is not None and principal.role in PERMISSIONS[perm]
    ]
    return {
        "request": request,
        "me": principal,
        "lang": lang,
        "other_lang": "en" if lang == "fr" else "fr",
        "msg": lambda text: i18n_messages.translate(lang, text),  # a flash with its values
        "dt": dt,
        "date_of": lambda value, fmt="date": i18n.date_text(lang, value, fmt),
        "now": utcnow(),
        "state_label": lambda s: i18n.state_label(lang, s),
        "crit_label": lambda c: i18n.criticality_label(lang, c),
        "role_label": lambda r: i18n.pair_label(i18n.ROLE_LABELS, lang, r),
        "family_label": lambda f: i18n.pair_label(i18n.FAMILY_LABELS, lang, f),
        "source_label": lambda k: i18n.pair_label(i18n.SOURCE_LABELS, lang, k),
        "rule_kind_label": lambda k: i18n.pair_label(i18n.RULE_KIND_LABELS, lang, k),
        "action_label": lambda a: i18n.pair_label(i18n.ACTION_LABELS, lang, a),
        "channel_label": lambda c: i18n.pair_label(i18n.CHANNEL_LABELS, lang, c),
        "outcome_label": lambda o: i18n.pair_label(i18n.OUTCOME_LABELS, lang, o),
        "figure_label": lambda f: i18n.pair_label(i18n.FIGURE_LABELS, lang, f),
        # any other label table by name (comm_status, contact_role, header, ...)
        "label": lambda kind, key: i18n.pair_label(i18n.LABEL_TABLES[kind], lang, key),
        "data_items": lambda data, skip=(): i18n.data_items(lang, data, skip),
        "explain": lambda text: i18n.explain(lang, text),
        "ledger_reason": lambda text: i18n_timeline.timeline_reason(lang, text),
        "actor": lambda a: i18n.actor_label(lang, a),
        "number": lambda value, digits=1: i18n.number(lang, value, digits),
        "percent": lambda value, digits=1: i18n.percent(lang, value, digits),
        # the contract pages (console.i18n_contracts)
        "blocker_text": lambda what: i18n_contracts.blocker_text(lang, what),
        "event_label": lambda action: i18n_contracts.event_label(lang, action),
        # the visit pages (console.i18n_visits)
        "ent_explain": lambda text: i18n_visits.entitlement_explanation(lang, text),
        "visit_text": lambda text: i18n_visits.visit_text(lang, text),
        "sent": sent_view,
        "csrf_field": FormTokens(principal.csrf if principal is not None else None),
        "csrf_token": principal.csrf if principal is not None else "",
        "nav": nav,
        "flash": principal.flash if principal is not None else "",
        "q": lambda **kw: query_with(request, **kw),
        **extra,
    }


def render(
    request: Request,
    principal: Principal | None,
    template: str,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    """Renders a page; consumes the session's flash message and remembers ``?lang=``."""
    ctx = context(request, principal, **extra)
    html = environment(ctx["lang"]).get_template(template).render(ctx)
    if principal is not None and principal.flash:
        clear_flash(request.app.state.services, principal)
    response = HTMLResponse(html, status_code=status_code)
    asked = request.query_params.get("lang")
    if asked in i18n.LANGS and asked != request.cookies.get(LANG_COOKIE):
        response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, samesite="lax")
    return response


def render_fragment(
    request: Request, principal: Principal | None, template: str, **extra: Any
) -> str:
    ctx = context(request, principal, **extra)
    return environment(ctx["lang"]).get_template(template).render(ctx)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(url: str | None, default: str) -> str:
    """Only same-site paths after a sign-in (no ``//evil.example`` or ``https://...``)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    return url


def log_read(request: Request, principal: Principal, client_id: int | None, subject: str,
             subject_id: int | None = None) -> None:
    """One access-log line for a page or API answer that shows a client's people or what
    was said to them (``contracts.privacy.record_access``: staff only, clients reading their
    own data are not logged)."""
    svc: Services = request.app.state.services
    record_access(svc.engine, username=principal.username, role=principal.role,
                  client_id=client_id, subject=subject, subject_id=subject_id,
                  path=request.url.path)


def too_long(value: object, limit: int, label: str) -> None:
    """A text over its cap (``VIGIE_*_MAX_CHARS``) is refused whole with a 413, never cut
    short and stored: the writer still has it and can shorten it (issue 21, finding 8)."""
    if isinstance(value, str) and len(value) > limit:
        raise HTTPException(413, f"« {label} » : {len(value)} caractères, {limit} au plus")


def log_reads(request: Request, principal: Principal, client_ids: list[int | None],
              subject: str, *, portal: bool = False) -> None:
    """One access-log line per client a list shows (the queue, the SLA cases, the portal)."""
    svc: Services = request.app.state.services
    record_accesses(svc.engine, username=principal.username, role=principal.role,
                    client_ids=client_ids, subject=subject, path=request.url.path,
                    include_client=portal)
