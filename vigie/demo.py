"""Fictional clients for the demo desk, loaded idempotently by ``vigie up`` / ``vigie demo``.

They cover every host and sender domain used in ``shared/samples`` so that each sample lands
on a known client (the one cron mail from ``root@srv-file01`` carries no domain: its bare
address is taught to client A, as a technician would from the unmatched queue).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

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


def load_demo_visits(engine: Engine, client_ids: dict[str, int]) -> None:
    """The consultant's address, the year's visits of every demo client (their workflows
    are started by the worker, ``planning.launch.ensure_visit_workflows``), the first one of
    each client given to the consultant; Strasbourg's site closes on Good Friday and
    26 December (Alsace), Lyon's has a postcode. Only when no visit exists yet."""
    from models.tables import Site
    from models.types import utcnow
    from models.visits import ConsultantProfile, SitePlace, Visit
    from planning.entitlement import plan_year

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
        year = utcnow().year
        for code in ("client-a", "client-b", "client-c"):
            visits = plan_year(s, client_ids[code], year)
            if visits and consultant is not None:
                visits[0].consultant_id = consultant.id
                s.add(visits[0])


def demo_password(var_dir: Path) -> tuple[str, str]:
    """The demo users' password and where it comes from: ``VIGIE_DEMO_PASSWORD``, else one
    generated once and kept in ``var/demo-credentials.txt`` (mode 600)."""
    from vigie.settings import get_settings

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
    from vigie.settings import get_settings

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
