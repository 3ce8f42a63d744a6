"""Fictional clients for the demo desk, loaded idempotently by ``vigie up`` / ``vigie demo``.

They cover every host and sender domain used in ``shared/samples`` so that each sample lands
on a known client (the one cron mail from ``root@srv-file01`` carries no domain: its bare
address is taught to client A, as a technician would from the unmatched queue).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

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
from models.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoServer:
    hostname: str
    kind: str
    role: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoClient:
    code: str
    name: str
    senders: tuple[str, ...]
    site: str
    servers: tuple[DemoServer, ...]
    contacts: tuple[tuple[str, str, str, str, int], ...]  # name, email, phone, role, rank
    # host, job, product, cron
    jobs: tuple[tuple[str, str | None, str, str], ...] = field(default=())
    users: int = 8
    fixed_ips: str = ""
    subdiv: str | None = None


CLIENTS: tuple[DemoClient, ...] = (
    DemoClient(
        code="client-a",
        name="Cabinet Durand & Associés",
        senders=("client-a.example", "root@srv-file01"),
        site="Lyon — siège",
        servers=(
            DemoServer("srv-dc01", "physical", "Contrôleur de domaine"),
            DemoServer("srv-file01", "physical", "Fichiers et SQL", ("fileserver",)),
            DemoServer("srv-app", "virtual", "Applications métier"),
        ),
        contacts=(
            ("Claire Durand", "claire.durand@client-a.example", "+33472000001", "primary", 1),
            ("Marc Bernard", "marc.bernard@client-a.example", "+33472000002", "backup", 2),
        ),
        jobs=(
            ("srv-file01", "Backup SQL", "arcserve", "0 22 * * 1-5"),
            ("srv-dc01", None, "wsb", "0 1 * * *"),
            ("srv-app", "Backup Job SRV", "veeam", "30 20 * * 1-5"),
        ),
        users=12,
        fixed_ips="127.0.0.1",
    ),
    DemoClient(
        code="client-b",
        name="Boulangeries Martin",
        senders=("client-b.example",),
        site="Strasbourg — atelier",
        servers=(
            DemoServer("srv-dc01", "physical", "Contrôleur de domaine"),
            DemoServer("srv-file01", "physical", "Fichiers"),
            DemoServer("srv-app", "physical", "Caisse et stocks", ("caisse",)),
        ),
        contacts=(
            ("Julien Martin", "julien.martin@client-b.example", "+33388000001", "primary", 1),
            ("Sophie Keller", "sophie.keller@client-b.example", "+33388000002", "backup", 2),
            ("Astreinte Martin", "astreinte@client-b.example", "+33388000009", "after_hours", 3),
        ),
        jobs=(
            ("srv-app", "Sauvegarde quotidienne", "arcserve", "0 23 * * 1-6"),
            ("srv-dc01", None, "wsb", "0 1 * * *"),
            ("srv-file01", None, "tar", "0 2 * * *"),
        ),
        users=25,
        subdiv="6AE",
    ),
    DemoClient(
        code="client-c",
        name="Garage Petit",
        senders=("client-c.example",),
        site="Annecy",
        servers=(DemoServer("srv-01", "physical", "Serveur unique"),),
        contacts=(("Paul Petit", "paul@client-c.example", "+33450000001", "primary", 1),),
        jobs=(("srv-01", None, "ntbackup", "0 21 * * 1-5"),),
        users=4,
    ),
)


# One demo user per console role (user name, role, full name, client code for the portal).
USERS: tuple[tuple[str, str, str, str | None], ...] = (
    ("tech", "technician", "Théo Technicien", None),
    ("n2", "level2", "Nina Niveau-Deux", None),
    ("manager", "manager", "Manon Responsable", None),
    ("planner", "planner", "Paul Planificateur", None),
    ("admin", "admin", "Ada Administratrice", None),
    ("client-a", "client", "Claire Durand (portail)", "client-a"),
    ("conseil", "consultant", "Camille Conseil", None),
)
CREDENTIALS_FILE = "demo-credentials.txt"


def load_demo(engine: Engine) -> dict[str, int]:
    """Insert what is missing, change nothing that exists; returns the client ids by code."""
    ids: dict[str, int] = {}
    with session_scope(engine) as s:
        for dc in CLIENTS:
            ids[dc.code] = _load_client(s, dc)
    load_demo_users(engine, ids)
    load_demo_visits(engine, ids)
    return ids


# Each demo client's year began this many days before the desk's first start, so a fresh
# desk on any date has visits done, late, confirmed, proposed and to propose (issue 19).
DEMO_YEAR_BEGAN = {"client-a": 200, "client-b": 240, "client-c": 200}
# what the demo asks of the first visit whose window has not ended yet, per client
DEMO_NEXT = {"client-a": "confirm", "client-b": "propose", "client-c": ""}
# the clients whose last ended visit is left undone: late, as a planner finds some
DEMO_LATE = frozenset({"client-b", "client-c"})
DEMO_PROPOSE = "démo : à proposer au démarrage du worker"
DEMO_CONFIRM = "démo : à proposer puis confirmer au démarrage du worker"
STAGE_QUERY_TRIES = 40


def _desk_today() -> date:
    from base.settings import get_settings

    return utcnow().astimezone(ZoneInfo(get_settings().timezone)).date()


def load_demo_visits(engine: Engine, client_ids: dict[str, int],
                     today: date | None = None) -> None:
    """The consultant's address and a year of visits for every demo client, its year
    relative to ``today`` (``DEMO_YEAR_BEGAN``): visits whose window has ended are done
    (report sent), except one late visit for two clients; the first open window of client
    A is confirmed and client B's proposed, once the worker runs them
    (:func:`stage_demo_visits`); the others wait to be proposed. Strasbourg's site closes
    on Good Friday and 26 December (Alsace), Lyon's has a postcode. Only when no visit
    exists yet. Visits carry the desk's current contract year
    (``VIGIE_CONTRACT_YEAR_START``); only their windows follow the demo's own year."""
    from base.settings import get_settings
    from models.tables import Site
    from models.visits import ConsultantProfile, SitePlace, Visit
    from planning.entitlement import entitlement_for, year_containing
    from planning.visits import create_visit

    today = today or _desk_today()
    mmdd = get_settings().contract_year_start
    with session_scope(engine) as s:
        if s.exec(select(Visit.id)).first() is not None:
            return
        consultant = s.exec(select(User).where(User.role == "consultant")).first()
        if consultant is not None and s.get(ConsultantProfile, consultant.id) is None:
            s.add(ConsultantProfile(user_id=consultant.id or 0,
                                    email="camille.conseil@desk.example", postcode="69003"))
        for code, postcode in (("client-a", "69002"), ("client-b", "67000"),
                               ("client-c", "74000")):
            site = s.exec(select(Site).where(Site.client_id == client_ids[code])).first()
            if site is not None and s.get(SitePlace, site.id) is None:
                s.add(SitePlace(site_id=site.id or 0, postcode=postcode))
        year = year_containing(today, mmdd)
        who = consultant.id if consultant is not None else None
        offset = 0
        for code in ("client-a", "client-b", "client-c"):
            owed = entitlement_for(s, client_ids[code], year, "start", mmdd).owed
            site = s.exec(select(Site).where(Site.client_id == client_ids[code])).first()
            plans = _demo_year(code, today, owed, site.calendar_subdiv if site else None,
                               offset)
            offset += 3
            # a plain visit to propose first (the first row of a client: the one the tests
            # and the planner's first click take), then the staged, late and done ones
            first = True
            for window, state, day, dates, intent in sorted(
                    plans, key=lambda p: (p[1] != "", p[4] != "", p[0][1] < today)):
                visit = create_visit(s, client_ids[code], "preventive", *window,
                                     site_id=site.id if site else None, contract_year=year)
                if first:
                    visit.consultant_id, first = who, False
                if state:
                    visit.state, visit.date, visit.consultant_id = state, day, who
                if intent:
                    visit.proposed_dates, visit.reason = list(dates), intent
                    visit.consultant_id = who
                s.add(visit)


def _demo_year(code: str, today: date, owed: int, subdiv: str | None, offset: int
               ) -> list[tuple[tuple[date, date], str, date | None, tuple[str, ...], str]]:
    """(window, state to set or "", day done, dates to offer, intent) per visit owed."""
    from domain.calendar import site_business_days
    from planning.entitlement import due_windows

    began = today - timedelta(days=DEMO_YEAR_BEGAN[code])
    try:
        ends = began.replace(year=began.year + 1) - timedelta(days=1)
    except ValueError:  # 29 February
        ends = began.replace(year=began.year + 1, day=28) - timedelta(days=1)
    windows = due_windows(began, ends, owed)
    ended = [w for w in windows if w[1] < today]
    late = ended[-1] if code in DEMO_LATE and ended else None
    out: list[tuple[tuple[date, date], str, date | None, tuple[str, ...], str]] = []
    next_done = False
    for window in windows:
        if window[1] < today:
            if window == late:
                out.append((window, "", None, (), ""))
            else:
                days = site_business_days(subdiv, *window)
                out.append((window, "report_sent", days[len(days) // 2], (), ""))
            continue
        intent = DEMO_NEXT[code] if not next_done else ""
        next_done = True
        if not intent:
            out.append((window, "", None, (), ""))
            continue
        days = site_business_days(subdiv, today + timedelta(days=3), window[1])
        dates = tuple(d.isoformat() for d in days[offset:offset + 3:2])
        out.append((window, "", None, dates,
                    DEMO_CONFIRM if intent == "confirm" else DEMO_PROPOSE))
    return out


def demo_intents(engine: Engine) -> list[tuple[int, tuple[str, ...], bool]]:
    """The demo's visits still to propose (and confirm) through their workflows: planned
    rows carrying the demo's mark whose workflow never ran (no ledger line). Read before
    the worker starts the workflows, whose first save clears the row's dates."""
    from models.visits import Visit, VisitEvent

    with Session(engine) as s:
        rows = s.exec(select(Visit).where(Visit.state == "planned",
                                          col(Visit.reason).in_([DEMO_PROPOSE,
                                                                 DEMO_CONFIRM]))).all()
        return [(v.id or 0, tuple(v.proposed_dates), v.reason == DEMO_CONFIRM) for v in rows
                if v.proposed_dates and s.exec(select(VisitEvent.id).where(
                    VisitEvent.visit_id == v.id)).first() is None]


async def stage_demo_visits(client: Any, engine: Engine,
                            intents: list[tuple[int, tuple[str, ...], bool]]) -> int:
    """Proposes (and confirms by phone) the demo's visits through their workflows, as a
    planner would: the desk then shows a visit awaiting the client and a confirmed one.
    A visit already moved on is left alone (a second start stages nothing)."""
    from messages.visits import ConfirmDate, ProposeDates, VisitView
    from models.visits import Visit
    from planning.launch import visit_handle
    from planning.rules import visit_rules

    async def state_of(handle: Any) -> str:
        for _ in range(STAGE_QUERY_TRIES):  # a workflow just started answers once it ran
            try:
                return str((await handle.query("view", result_type=VisitView)).state)
            except Exception:
                await asyncio.sleep(0.5)
        return ""

    staged = 0
    for vid, dates, confirm in intents:
        handle = visit_handle(client, vid)
        if await state_of(handle) != "planned":
            continue
        with Session(engine) as s:
            visit = s.get(Visit, vid)
            if visit is None:
                continue
            rules = visit_rules(s, visit)
        try:
            await handle.execute_update("propose", ProposeDates(
                "planner", dates, visit.consultant_id, "démonstration", rules))
            if confirm:
                await handle.execute_update("confirm", ConfirmDate(
                    "planner", dates[0], "accord du client par téléphone (démonstration)"))
        except Exception as exc:  # the visit stays to propose: the demo goes on
            log.warning("démo : visite %s non mise en scène : %s", vid, exc)
            continue
        staged += 1
    return staged


def demo_password(var_dir: Path) -> tuple[str, str]:
    """The demo users' password and where it comes from: ``VIGIE_DEMO_PASSWORD``, else one
    generated once and kept in ``var/demo-credentials.txt`` (mode 600)."""
    from base.settings import get_settings

    given = os.environ.get("VIGIE_DEMO_PASSWORD") or get_settings().demo_password
    if given:
        return given, "VIGIE_DEMO_PASSWORD"
    path = var_dir / CREDENTIALS_FILE
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("password: "):
                return line.removeprefix("password: ").strip(), str(path)
    password = secrets.token_urlsafe(12)
    var_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("Comptes de démonstration de la console Vigie (un par rôle)\n")
        fh.write("users: " + ", ".join(u for u, *_ in USERS) + "\n")
        fh.write(f"password: {password}\n")
    return password, str(path)


def credentials_line(var_dir: Path) -> str:
    """How to sign in to the demo console: ``vigie up`` prints it at every start and
    ``vigie demo --credentials`` again at any time."""
    password, source = demo_password(var_dir)
    shown = "celui de VIGIE_DEMO_PASSWORD" if source == "VIGIE_DEMO_PASSWORD" else password
    users = ", ".join(f"{u} ({role})" for u, role, *_ in USERS)
    return f"Comptes de démonstration : {users} ; mot de passe : {shown}"


@lru_cache(maxsize=4)
def _demo_hash(password: str) -> str:
    """One argon2 hash per process: the demo users share their password by design, and
    ``load_demo`` runs in many tests, where six slow hashes each time would add up."""
    from console.auth import hash_password

    return hash_password(password)


def load_demo_users(engine: Engine, client_ids: dict[str, int]) -> list[str]:
    """Creates the demo users that are missing (existing ones and their passwords are kept)
    and says on standard output how to sign in (``vigie up`` shows it)."""
    from base.settings import get_settings

    with session_scope(engine) as s:
        existing = set(s.exec(select(User.username)).all())
    missing = [u for u in USERS if u[0] not in existing]
    if not missing:
        return []
    password, source = demo_password(get_settings().var_dir)
    with session_scope(engine) as s:
        for username, role, full_name, client_code in missing:
            s.add(
                User(
                    username=username,
                    full_name=full_name,
                    password_hash=_demo_hash(password),
                    role=role,
                    client_id=client_ids.get(client_code) if client_code else None,
                )
            )
    shown = (
        "celui de VIGIE_DEMO_PASSWORD"
        if source == "VIGIE_DEMO_PASSWORD"
        else f"{password} (gardé dans {source})"
    )
    print(
        f"Comptes de démonstration de la console : {', '.join(u for u, *_ in missing)} ; "
        f"mot de passe : {shown}",
        flush=True,
    )
    return [u for u, *_ in missing]


def _load_client(s: Session, dc: DemoClient) -> int:
    client = s.exec(select(Client).where(Client.code == dc.code)).first()
    if client is not None:
        return client.id or 0
    client = Client(code=dc.code, name=dc.name, users=dc.users, fixed_ips=dc.fixed_ips)
    s.add(client)
    s.flush()
    cid = client.id or 0
    for sender in dc.senders:
        if s.get(SenderDomain, sender) is None:
            s.add(SenderDomain(domain=sender, client_id=cid))
    site = Site(client_id=cid, name=dc.site, calendar_subdiv=dc.subdiv)
    s.add(site)
    s.flush()
    by_host: dict[str, int] = {}
    for ds in dc.servers:
        srv = Server(
            client_id=cid,
            site_id=site.id,
            hostname=ds.hostname,
            display_name=ds.hostname.upper(),
            kind=ds.kind,
            role=ds.role,
        )
        s.add(srv)
        s.flush()
        by_host[ds.hostname] = srv.id or 0
        for alias in ds.aliases:
            s.add(ServerAlias(client_id=cid, server_id=srv.id or 0, alias=alias.lower()))
    for name, email, phone, role, rank in dc.contacts:
        s.add(Contact(client_id=cid, name=name, email=email, phone=phone, role=role, rank=rank))
    for host, job, product, cron in dc.jobs:
        s.add(
            BackupJob(
                client_id=cid,
                server_id=by_host[host],
                name=job,
                product=product,
                schedule=cron,
                created_at=utcnow(),
            )
        )
    return cid
