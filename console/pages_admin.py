"""Administration: the client inventory, users and API tokens, policies, expectations, imports.

Administrators only. Every change is a plain form post (CSRF-checked globally) followed by a
redirect with a one-line result; a refusal (duplicate, reference still in use) says why.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select
from starlette.concurrency import run_in_threadpool

from console.auth import (
    ROLES,
    Principal,
    create_api_token,
    hash_password,
    require,
    revoke_api_token,
    set_flash,
)
from console.deps import Services
from console.import_jobs import Busy, TooLarge, spool
from console.inventory_csv import COLUMNS, MAX_BYTES
from console.params import int_or, parse_int
from console.signin_limits import lift as lift_lockout
from console.signin_limits import recent_lockouts
from console.sla import effective_policy
from console.slacache import refresh_for_view
from console.web import log_read, redirect, render
from domain.calendar import BusinessHours
from domain.header_text import first_multiline
from models.auth import ApiToken, Policy, SignInAttempt, UserSession
from models.db import session_scope
from models.tables import (
    BackupJob,
    Client,
    Contact,
    SenderDomain,
    Server,
    ServerAlias,
    Site,
    User,
)
from models.trust import RULE_KINDS, SourceRule
from models.types import utcnow
from models.visits import SiteDays
from planning import ics, site_days
from records import absence, silences
from records.matching import normalize_host
from records.relays import unregistered_relays
from records.sources import parse_network

router = APIRouter(prefix="/admin", dependencies=[Depends(require("admin"))])

MIN_PASSWORD = 10


class Invalid(ValueError):
    """A refused form, shown to the administrator as is."""


def svc_of(request: Request) -> Services:
    return request.app.state.services


async def form_of(request: Request) -> dict[str, str]:
    return {k: v.strip() for k, v in (await request.form()).items() if isinstance(v, str)}


def _required(form: dict[str, str], key: str, label: str) -> str:
    value = form.get(key, "")
    if not value:
        raise Invalid(f"Champ obligatoire : {label}")
    return value


def _int(form: dict[str, str], key: str, default: int = 0) -> int:
    raw = form.get(key, "")
    if not raw:
        return default
    value = parse_int(raw)  # ASCII digits within the database's integers
    if value is None:
        raise Invalid(f"Nombre entier attendu : {key}")
    return value


def _one_line(form: dict[str, str]) -> None:
    """No admin form has a multi-line field, and names typed here reach mail headers."""
    field = first_multiline(form)
    if field is not None:
        raise Invalid(f"Champ « {field} » : retour à la ligne interdit")


def _change(
    request: Request, principal: Principal, back: str, work: Callable[[Session], str],
    form: dict[str, str] | None = None,
) -> Response:
    """Runs one change in a transaction; flashes its result or the reason it was refused
    (a form field holding a line break is refused before anything is written)."""
    svc = svc_of(request)
    try:
        _one_line(form or {})
        with session_scope(svc.engine) as s:
            message = "ok:" + work(s)
    except Invalid as exc:
        message = f"err:{exc}"
    except IntegrityError:
        message = "err:Refusé : doublon, ou élément encore référencé ailleurs."
    set_flash(svc, principal, message)
    return redirect(back)


def _render(request: Request, principal: Principal, template: str, **extra: Any) -> Response:
    return render(request, principal, template, **extra)


# --- index ------------------------------------------------------------------------------------


@router.get("")
def admin_index(request: Request, principal: Principal = Depends(require("admin"))) -> Response:
    with Session(svc_of(request).engine) as s:
        counts = {
            name: int(s.exec(select(func.count()).select_from(model)).one())
            for name, model in (
                ("clients", Client),
                ("servers", Server),
                ("contacts", Contact),
                ("users", User),
                ("jobs", BackupJob),
            )
        }
    return _render(request, principal, "admin/index.html", counts=counts)


# --- clients and their inventory -------------------------------------------------------------


@router.get("/clients")
def clients(request: Request, principal: Principal = Depends(require("admin"))) -> Response:
    with Session(svc_of(request).engine) as s:
        rows = s.exec(
            select(Client, func.count(col(Server.id)))
            .join(Server, col(Server.client_id) == Client.id, isouter=True)
            .group_by(col(Client.id))
            .order_by(col(Client.name))
        ).all()
        relayed = {r.client_id for r in unregistered_relays(s)}
    return _render(request, principal, "admin/clients.html", rows=rows, relayed=relayed)


def _client_fields(form: dict[str, str], client: Client) -> None:
    client.name = _required(form, "name", "nom")
    client.users = _int(form, "users")
    client.fixed_ips = ",".join(p for p in re.split(r"[\s,]+", form.get("fixed_ips", "")) if p)


@router.post("/clients")
async def client_create(
    request: Request, principal: Principal = Depends(require("admin"))
) -> Response:
    form = await form_of(request)

    def work(s: Session) -> str:
        code = _required(form, "code", "code").lower()
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,39}$", code):
            raise Invalid("Code : minuscules, chiffres, - ou _")
        client = Client(code=code, name="")
        _client_fields(form, client)
        s.add(client)
        return f"Client {client.name} créé."

    return _change(request, principal, "/admin/clients", work, form)


@router.get("/clients/{client_id}")
def client_page(
    request: Request, client_id: int, principal: Principal = Depends(require("admin"))
) -> Response:
    with Session(svc_of(request).engine) as s:
        client = s.get(Client, client_id)
        if client is None:
            raise HTTPException(404, "Client introuvable")

        def of(model: type[SQLModel], *order: Any) -> list[Any]:
            return list(
                s.exec(
                    select(model).where(model.client_id == client_id).order_by(*order)  # type: ignore[attr-defined]
                ).all()
            )

        data = {
            "client": client,
            "senders": of(SenderDomain, col(SenderDomain.domain)),
            "sites": of(Site, col(Site.name)),
            "site_days": {st.id: site_days.ranges(s, st.id or 0)
                          for st in of(Site, col(Site.name))},
            "servers": of(Server, col(Server.hostname)),
            "aliases": of(ServerAlias, col(ServerAlias.alias)),
            "contacts": of(Contact, col(Contact.rank), col(Contact.id)),
            "jobs": of(BackupJob, col(BackupJob.id)),
            "sources": of(SourceRule, col(SourceRule.kind), col(SourceRule.value)),
            "rule_kinds": RULE_KINDS,
            "relays": unregistered_relays(s, client_id),
        }
    log_read(request, principal, client_id, "contacts")
    return _render(request, principal, "admin/client.html", **data)


@router.post("/clients/{client_id}")
async def client_update(
    request: Request, client_id: int, principal: Principal = Depends(require("admin"))
) -> Response:
    form = await form_of(request)

    def work(s: Session) -> str:
        client = s.get(Client, client_id)
        if client is None:
            raise Invalid("Client introuvable")
        _client_fields(form, client)
        client.active = form.get("active") == "on"
        s.add(client)
        return "Client enregistré."

    return _change(request, principal, f"/admin/clients/{client_id}", work, form)


def _server_of(s: Session, client_id: int, server_id: int) -> Server:
    srv = s.get(Server, server_id)
    if srv is None or srv.client_id != client_id:
        raise Invalid("Serveur introuvable")
    return srv


def _add_sender(s: Session, client_id: int, form: dict[str, str]) -> str:
    domain = _required(form, "domain", "domaine").lower()
    if s.get(SenderDomain, domain) is not None:
        raise Invalid(f"L'expéditeur {domain} est déjà attribué")
    s.add(SenderDomain(domain=domain, client_id=client_id))
    return f"Expéditeur {domain} ajouté."


def _add_site(s: Session, client_id: int, form: dict[str, str]) -> str:
    subdiv = form.get("calendar_subdiv") or None
    if subdiv:
        try:
            subdiv = BusinessHours(subdiv=subdiv).subdiv
        except ValueError as exc:
            raise Invalid(str(exc)) from None
    s.add(Site(client_id=client_id, name=_required(form, "name", "nom"), calendar_subdiv=subdiv))
    return "Site ajouté."


def _day(form: dict[str, str], key: str) -> date | None:
    text = (form.get(key) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"Date illisible : {text}") from None


def _add_site_days(s: Session, client_id: int, form: dict[str, str]) -> str:
    """A site's own closed days (closed in August) or open days (Whit Monday worked), on top
    of its subdivision's calendar: visits are proposed and suggested accordingly."""
    site = s.get(Site, _int(form, "site_id"))
    if site is None or site.client_id != client_id:
        raise Invalid("Site introuvable")
    first = _day(form, "first")
    if first is None:
        raise Invalid("Indiquer le premier jour")
    is_open = form.get("kind") == "open"
    try:
        row = site_days.add_range(s, site.id or 0, first, _day(form, "last"), is_open,
                                  form.get("note", ""))
    except site_days.SiteDaysError as exc:
        raise Invalid(str(exc)) from None
    span = f"{row.first:%d/%m/%Y}" if row.first == row.last else \
        f"{row.first:%d/%m/%Y} – {row.last:%d/%m/%Y}"
    return (f"Jours d'ouverture ajoutés au site {site.name} : {span}." if is_open
            else f"Jours de fermeture ajoutés au site {site.name} : {span}.")


def _add_server(s: Session, client_id: int, form: dict[str, str]) -> str:
    host = normalize_host(_required(form, "hostname", "nom d'hôte")) or ""
    kind = form.get("kind", "physical")
    if kind not in ("physical", "virtual"):
        raise Invalid("Type : physique ou virtuel")
    site_id = _int(form, "site_id") or None
    if site_id is not None:
        site = s.get(Site, site_id)
        if site is None or site.client_id != client_id:
            raise Invalid("Site introuvable")
    s.add(
        Server(
            client_id=client_id,
            site_id=site_id,
            hostname=host,
            display_name=form.get("display_name") or host.upper(),
            kind=kind,
            role=form.get("role", ""),
        )
    )
    return f"Serveur {host} ajouté."


def _add_alias(s: Session, client_id: int, form: dict[str, str]) -> str:
    srv = _server_of(s, client_id, _int(form, "server_id"))
    alias = normalize_host(_required(form, "alias", "alias")) or ""
    if alias == srv.hostname:
        raise Invalid("L'alias est le nom du serveur lui-même")
    s.add(ServerAlias(client_id=client_id, server_id=srv.id or 0, alias=alias))
    return f"Alias {alias} ajouté à {srv.hostname}."


def _add_contact(s: Session, client_id: int, form: dict[str, str]) -> str:
    role = form.get("role", "primary")
    if role not in ("primary", "backup", "after_hours"):
        raise Invalid("Rôle de contact inconnu")
    email, phone = form.get("email", ""), form.get("phone", "")
    if not email and not phone:
        raise Invalid("Un contact a besoin d'un e-mail ou d'un téléphone")
    if email and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
        raise Invalid("Adresse e-mail invalide")
    if phone and not re.match(r"^\+?[0-9 .()-]{6,20}$", phone):
        raise Invalid("Numéro de téléphone invalide")
    s.add(
        Contact(
            client_id=client_id,
            name=_required(form, "name", "nom"),
            email=email,
            phone=phone,
            role=role,
            rank=_int(form, "rank", 1),
        )
    )
    return "Contact ajouté."


def _add_job(s: Session, client_id: int, form: dict[str, str]) -> str:
    srv = _server_of(s, client_id, _int(form, "server_id"))
    schedule = form.get("schedule") or "0 22 * * 1-5"
    if not croniter.is_valid(schedule):
        raise Invalid(f"Planification cron invalide : {schedule}")
    s.add(
        BackupJob(
            client_id=client_id,
            server_id=srv.id or 0,
            name=form.get("name") or None,
            product=form.get("product", ""),
            schedule=schedule,
            grace_minutes=_int(form, "grace_minutes", 360),
            created_at=utcnow(),
        )
    )
    return "Sauvegarde attendue ajoutée."


_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")


def _add_source_rule(s: Session, client_id: int, form: dict[str, str]) -> str:
    """Who may speak for the client (issue 11): checked by the router on every message."""
    kind = form.get("kind", "")
    if kind not in RULE_KINDS:
        raise Invalid("Type de source inconnu")
    value = _required(form, "value", "valeur").strip().lower()
    if kind in ("ip", "relay"):
        net = parse_network(value)
        if net is None:
            raise Invalid(f"Adresse ou réseau invalide : {value}")
        if net.num_addresses > 65536:
            raise Invalid("Réseau trop large (au plus /16 en IPv4)")
        value = str(net) if net.num_addresses > 1 else str(net.network_address)
    elif kind == "sender":
        address = value.removeprefix("@")
        if not (re.match(r"^[^@\s]+@[^@\s]+$", value) or _DOMAIN.match(address)):
            raise Invalid("Expéditeur : une adresse ou un domaine (@client.example)")
        value = value if "@" in value and not value.startswith("@") else f"@{address}"
    elif not _DOMAIN.match(value.removeprefix("@")):
        raise Invalid(f"Domaine invalide : {value}")
    else:
        value = value.removeprefix("@")
    exists = s.exec(select(SourceRule).where(SourceRule.client_id == client_id,
                                             SourceRule.kind == kind,
                                             SourceRule.value == value)).first()
    if exists is not None:
        raise Invalid("Cette source est déjà enregistrée")
    s.add(SourceRule(client_id=client_id, kind=kind, value=value,
                     note=form.get("note", "")[:300]))
    return f"Source autorisée ajoutée : {value}."


ADDERS: dict[str, Callable[[Session, int, dict[str, str]], str]] = {
    "sources": _add_source_rule,
    "senders": _add_sender,
    "sites": _add_site,
    "site_days": _add_site_days,
    "servers": _add_server,
    "aliases": _add_alias,
    "contacts": _add_contact,
    "jobs": _add_job,
}
DELETABLE: dict[str, tuple[type[SQLModel], str]] = {
    "sources": (SourceRule, "id"),
    "senders": (SenderDomain, "domain"),
    "sites": (Site, "id"),
    "site_days": (SiteDays, "id"),
    "servers": (Server, "id"),
    "aliases": (ServerAlias, "id"),
    "contacts": (Contact, "id"),
    "jobs": (BackupJob, "id"),
}


@router.post("/clients/{client_id}/{kind}")
async def client_add(
    request: Request, client_id: int, kind: str, principal: Principal = Depends(require("admin"))
) -> Response:
    adder = ADDERS.get(kind)
    if adder is None:
        raise HTTPException(404, "Élément inconnu")
    form = await form_of(request)

    def work(s: Session) -> str:
        if s.get(Client, client_id) is None:
            raise Invalid("Client introuvable")
        return adder(s, client_id, form)

    return _change(request, principal, f"/admin/clients/{client_id}", work, form)


@router.post("/clients/{client_id}/{kind}/{key}/delete")
def client_delete(
    request: Request,
    client_id: int,
    kind: str,
    key: str,
    principal: Principal = Depends(require("admin")),
) -> Response:
    found = DELETABLE.get(kind)
    if found is None:
        raise HTTPException(404, "Élément inconnu")
    model, pk = found

    def work(s: Session) -> str:
        row = s.get(model, key if pk == "domain" else int_or(key, -1))
        owner = getattr(row, "client_id", None)
        if isinstance(row, SiteDays):
            site = s.get(Site, row.site_id)
            owner = site.client_id if site else None
        if row is None or owner != client_id:
            raise Invalid("Élément introuvable")
        if model is Site:
            for days in site_days.ranges(s, row.id):  # type: ignore[attr-defined]
                s.delete(days)
        if model is Server:
            for alias in s.exec(select(ServerAlias).where(ServerAlias.server_id == row.id)):  # type: ignore[attr-defined]
                s.delete(alias)
        s.delete(row)
        s.flush()
        return "Supprimé."

    return _change(request, principal, f"/admin/clients/{client_id}", work)


# --- users and tokens ---------------------------------------------------------------------------


@router.get("/users")
def users(request: Request, principal: Principal = Depends(require("admin"))) -> Response:
    with Session(svc_of(request).engine) as s:
        rows = s.exec(select(User).order_by(col(User.username))).all()
        clients = s.exec(select(Client).order_by(col(Client.name))).all()
    return _render(
        request,
        principal,
        "admin/users.html",
        rows=rows,
        clients=clients,
        roles=ROLES,
        client_names={c.id: c.name for c in clients},
    )


def _user_fields(s: Session, form: dict[str, str], user: User, new: bool) -> None:
    role = form.get("role", user.role)
    if role not in ROLES:
        raise Invalid("Rôle inconnu")
    client_id = _int(form, "client_id") or None
    if role == "client":
        if client_id is None or s.get(Client, client_id) is None:
            raise Invalid("Un utilisateur client doit être rattaché à un client")
    else:
        client_id = None
    password = form.get("password", "")
    if new or password:
        if len(password) < MIN_PASSWORD:
            raise Invalid(f"Mot de passe : {MIN_PASSWORD} caractères au moins")
        user.password_hash = hash_password(password)
    user.role = role
    user.client_id = client_id
    user.full_name = form.get("full_name", user.full_name)


@router.post("/users")
async def user_create(
    request: Request, principal: Principal = Depends(require("admin"))
) -> Response:
    form = await form_of(request)

    def work(s: Session) -> str:
        username = _required(form, "username", "identifiant")
        if not re.match(r"^[A-Za-z0-9._@-]{2,120}$", username):
            raise Invalid("Identifiant : lettres, chiffres, . _ @ -")
        if s.exec(select(User).where(User.username == username)).first() is not None:
            raise Invalid("Cet identifiant existe déjà")
        user = User(username=username)
        _user_fields(s, form, user, new=True)
        s.add(user)
        return f"Utilisateur {username} créé."

    return _change(request, principal, "/admin/users", work, form)


@router.post("/users/{user_id}")
async def user_update(
    request: Request, user_id: int, principal: Principal = Depends(require("admin"))
) -> Response:
    form = await form_of(request)

    def work(s: Session) -> str:
        user = s.get(User, user_id)
        if user is None:
            raise Invalid("Utilisateur introuvable")
        _user_fields(s, form, user, new=False)
        active = form.get("active") == "on"
        if not active and user.username == principal.username:
            raise Invalid("Vous ne pouvez pas vous désactiver vous-même")
        deactivated = user.active and not active
        user.active = active
        s.add(user)
        if not active or form.get("password"):
            for sess in s.exec(select(UserSession).where(UserSession.user_id == user_id)):
                s.delete(sess)  # a deactivated user or a reset password ends its sessions
        if deactivated:  # and its calendar link: reactivated, the user makes a new one
            ics.revoke_key(s, user_id, principal.username)
        return f"Utilisateur {user.username} enregistré."

    return _change(request, principal, "/admin/users", work, form)


@router.post("/users/{user_id}/calendar-revoke")
def user_calendar_revoke(
    request: Request, user_id: int, principal: Principal = Depends(require("admin"))
) -> Response:
    """A consultant's feed link leaked (a lost phone): no link works until they make one."""

    def work(s: Session) -> str:
        user = s.get(User, user_id)
        if user is None:
            raise Invalid("Utilisateur introuvable")
        ics.revoke_key(s, user_id, principal.username)
        return f"Calendrier de {user.username} révoqué."

    return _change(request, principal, "/admin/users", work)


@router.get("/tokens")
def tokens(request: Request, principal: Principal = Depends(require("admin"))) -> Response:
    with Session(svc_of(request).engine) as s:
        rows = s.exec(
            select(ApiToken, User.username)
            .join(User, col(User.id) == ApiToken.user_id)
            .order_by(col(ApiToken.id).desc())
        ).all()
        users = s.exec(
            select(User).where(col(User.active).is_(True)).order_by(col(User.username))
        ).all()
    return _render(request, principal, "admin/tokens.html", rows=rows, users=users, new_token=None)


@router.post("/tokens")
async def token_create(
    request: Request, principal: Principal = Depends(require("admin"))
) -> Response:
    form = await form_of(request)
    svc = svc_of(request)
    try:
        if first_multiline(form) is not None:
            raise ValueError("Nom du jeton : retour à la ligne interdit")
        token = create_api_token(
            svc.engine, form.get("username", ""), form.get("name", ""), principal.username
        )
    except ValueError as exc:
        set_flash(svc, principal, f"err:{exc}")
        return redirect("/admin/tokens")
    with Session(svc.engine) as s:
        rows = s.exec(
            select(ApiToken, User.username)
            .join(User, col(User.id) == ApiToken.user_id)
            .order_by(col(ApiToken.id).desc())
        ).all()
        users = s.exec(
            select(User).where(col(User.active).is_(True)).order_by(col(User.username))
        ).all()
    # Shown once, on this response only (never stored in clear, never in a redirect URL).
    return _render(request, principal, "admin/tokens.html", rows=rows, users=users, new_token=token)


@router.post("/tokens/{token_id}/revoke")
def token_revoke(
    request: Request, token_id: int, principal: Principal = Depends(require("admin"))
) -> Response:
    revoke_api_token(svc_of(request).engine, token_id)
    return _change(request, principal, "/admin/tokens", lambda s: "Jeton révoqué.")


@router.get("/signins")
def signins(request: Request, principal: Principal = Depends(require("admin"))) -> Response:
    with Session(svc_of(request).engine) as s:
        rows = s.exec(select(SignInAttempt).order_by(col(SignInAttempt.id).desc()).limit(200)).all()
    return _render(request, principal, "admin/signins.html", rows=rows,
                   lockouts=recent_lockouts(svc_of(request)), now=utcnow())


@router.post("/signins/{lockout_id}/lift")
def signin_lift(
    request: Request, lockout_id: int, principal: Principal = Depends(require("admin"))
) -> Response:
    """Ends a lock-out now: the user (or the address) may sign in again at once."""
    lifted = lift_lockout(svc_of(request), lockout_id, principal.username)

    def work(s: Session) -> str:
        if lifted is None:
            raise Invalid("Verrouillage introuvable ou déjà terminé")
        return f"Verrouillage de {lifted.subject} levé."

    return _change(request, principal, "/admin/signins", work)


# --- policies -------------------------------------------------------------------------------------


@router.get("/policies")
def policies(request: Request, principal: Principal = Depends(require("admin"))) -> Response:
    svc = svc_of(request)
    with Session(svc.engine) as s:
        current = effective_policy(s, svc.settings)
        history = s.exec(select(Policy).order_by(col(Policy.version).desc())).all()
    return _render(request, principal, "admin/policies.html", current=current, history=history)


@router.post("/policies")
async def policy_create(
    request: Request, principal: Principal = Depends(require("admin"))
) -> Response:
    form = await form_of(request)
    svc = svc_of(request)

    def work(s: Session) -> str:
        try:
            start = time.fromisoformat(_required(form, "business_start", "début"))
            end = time.fromisoformat(_required(form, "business_end", "fin"))
        except ValueError:
            raise Invalid("Heures au format HH:MM") from None
        if not start < end:
            raise Invalid("L'ouverture doit précéder la fermeture")
        l1 = _int(form, "l1_minutes", 60)
        if not 5 <= l1 <= 600:
            raise Invalid("Durée N1 entre 5 et 600 minutes")
        last = s.exec(select(func.max(Policy.version))).one() or 0
        s.add(
            Policy(
                version=last + 1,
                business_start=start.strftime("%H:%M"),
                business_end=end.strftime("%H:%M"),
                l1_minutes=l1,
                auto_close_hours=_int(form, "auto_close_hours", 72),
                note=form.get("note", "")[:500],
                created_at=utcnow(),
                created_by=principal.username,
            )
        )
        return f"Politique version {last + 1} en vigueur ; indicateurs SLA en recalcul."

    response = _change(request, principal, "/admin/policies", work, form)
    refresh_for_view(svc.engine, svc.settings)  # a new version rebuilds the SLA cache
    return response


# --- expectations and silences ------------------------------------------------------------------
# The rules live with the absence checks (``records.absence``) and the silences
# (``records.silences``); these pages only call them.


def _local(raw: str, tz: str) -> datetime:
    """A ``datetime-local`` form value, read in the team's time zone."""
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        raise Invalid(f"Date et heure invalides : {raw}") from None


def _expectations_page(
    request: Request, principal: Principal, report: absence.CsvImport | None = None
) -> Response:
    svc = svc_of(request)
    with Session(svc.engine) as s:
        hosts = {srv.id: srv.hostname for srv in s.exec(select(Server)).all()}
        clients = s.exec(select(Client).order_by(col(Client.name))).all()
        jobs = s.exec(
            select(BackupJob, Server.hostname, Client.name)
            .join(Server, col(Server.id) == BackupJob.server_id)
            .join(Client, col(Client.id) == BackupJob.client_id)
            .order_by(col(Client.name), col(Server.hostname))
        ).all()
    return _render(
        request,
        principal,
        "admin/expectations.html",
        expectations=absence.list_expectations(svc.engine),
        silences=silences.list_silences(svc.engine),
        hosts=hosts,
        clients=clients,
        client_names={c.id: c.name for c in clients},
        jobs=jobs,
        report=report,
        csv_columns=absence.CSV_COLUMNS,
        now=utcnow(),
    )


@router.get("/expectations")
def expectations(request: Request, principal: Principal = Depends(require("admin"))) -> Response:
    return _expectations_page(request, principal)


def _absence_call(request: Request, principal: Principal, work: Callable[[], str]) -> Response:
    svc = svc_of(request)
    try:
        message = "ok:" + work()
    except (ValueError, LookupError) as exc:
        message = f"err:{exc}"
    set_flash(svc, principal, message)
    return redirect("/admin/expectations")


@router.post("/expectations/{expectation_id}/{change}")
def expectation_change(
    request: Request,
    expectation_id: int,
    change: str,
    principal: Principal = Depends(require("admin")),
) -> Response:
    engine, by = svc_of(request).engine, principal.username

    def work() -> str:
        if change == "confirm":
            absence.confirm_expectation(engine, expectation_id, by)
            return "Attente confirmée : elle est surveillée."
        if change in ("enable", "disable"):
            absence.set_expectation_enabled(engine, expectation_id, change == "enable", by)
            return "Attente réactivée." if change == "enable" else "Attente désactivée."
        raise ValueError("Changement inconnu")

    return _absence_call(request, principal, work)


@router.post("/expectations-defaults")
async def expectation_defaults(
    request: Request, principal: Principal = Depends(require("admin"))
) -> Response:
    form = await form_of(request)
    engine = svc_of(request).engine
    return _absence_call(  # a malformed client number is refused there, as a flash
        request,
        principal,
        lambda: (
            f"{len(absence.expect_defaults(engine, _int(form, 'client_id'), principal.username))}"
            " attente(s) créée(s)."
        ),
    )


@router.post("/jobs/{job_id}/confirm")
def job_confirm(
    request: Request, job_id: int, principal: Principal = Depends(require("admin"))
) -> Response:
    engine = svc_of(request).engine

    def work() -> str:
        absence.update_backup_job(engine, job_id, confirm=True)
        return "Sauvegarde attendue confirmée."

    return _absence_call(request, principal, work)


@router.post("/silences")
async def silence_create(
    request: Request, principal: Principal = Depends(require("admin"))
) -> Response:
    form = await form_of(request)
    svc = svc_of(request)
    tz = svc.settings.timezone

    def work() -> str:
        sil = silences.create_silence(
            svc.engine,
            silences.SilenceRequest(
                starts_at=_local(form.get("starts", ""), tz),
                ends_at=_local(form.get("ends", ""), tz),
                reason=form.get("reason", ""),
                created_by=principal.username,
                client_id=_int(form, "client_id") or None,
                server_id=_int(form, "server_id") or None,
                check=form.get("check") or None,
            ),
        )
        return f"Silence n° {sil.id} enregistré."

    return _absence_call(request, principal, work)  # Invalid is a ValueError: shown as is


@router.post("/silences/{silence_id}/end")
def silence_end(
    request: Request, silence_id: int, principal: Principal = Depends(require("admin"))
) -> Response:
    engine = svc_of(request).engine

    def work() -> str:
        silences.end_silence(engine, silence_id, principal.username)
        return "Silence terminé."

    return _absence_call(request, principal, work)


@router.post("/expectations-import")
async def expectations_import(
    request: Request, principal: Principal = Depends(require("admin"))
) -> Response:
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPException(422, "Fichier CSV manquant")
    data = await upload.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(422, "Le fichier doit être encodé en UTF-8") from None
    report = await run_in_threadpool(
        absence.import_expectations_csv,
        svc_of(request).engine,
        text,
        by=principal.username,
        dry_run=form.get("dry_run") == "on",
    )
    return await run_in_threadpool(_expectations_page, request, principal, report)


# --- CSV import -----------------------------------------------------------------------------------


@router.get("/import")
def import_form(request: Request, principal: Principal = Depends(require("admin"))) -> Response:
    return _render(request, principal, "admin/import.html", job=None, columns=COLUMNS,
                   jobs=request.app.state.imports.recent())


@router.post("/import")
async def import_post(
    request: Request, principal: Principal = Depends(require("admin"))
) -> Response:
    """Spools the upload and starts the import as a job; its page shows the progress."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES + 64 * 1024:  # before reading it
        raise HTTPException(413, "Fichier trop volumineux (5 Mo au plus)")
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise HTTPException(422, "Fichier CSV manquant")
    svc = svc_of(request)
    folder = svc.settings.var_dir / "imports"
    try:
        path = await run_in_threadpool(_spool_into, upload.file, folder)
        job = request.app.state.imports.start(
            path, by=principal.username, dry_run=form.get("dry_run") == "on",
            filename=upload.filename or "")
    except TooLarge as exc:
        raise HTTPException(413, str(exc)) from None
    except Busy as exc:  # said on the page itself, with a 409: nothing to write for it
        page = _render(request, principal, "admin/import.html", job=None, columns=COLUMNS,
                       jobs=request.app.state.imports.recent(), busy=str(exc))
        page.status_code = 409
        return page
    return redirect(f"/admin/import/{job.id}")


def _spool_into(source: Any, folder: Path) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return spool(source, folder)


@router.get("/import/{job_id}")
def import_job(
    request: Request, job_id: str, principal: Principal = Depends(require("admin"))
) -> Response:
    job = request.app.state.imports.get(job_id)
    if job is None:
        raise HTTPException(404, "Import introuvable (la console a redémarré ?)")
    return _render(request, principal, "admin/import.html", job=job, columns=COLUMNS,
                   jobs=request.app.state.imports.recent())
