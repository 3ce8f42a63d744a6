"""CSV import of a client inventory, all-or-nothing, with a dry run that lists errors by line.

One file describes any mix of records, one per line, told apart by the ``type`` column:

=========== ====================================================================
type        columns used
=========== ====================================================================
client      client (code), name, users, fixed_ips (separated by ``|`` or spaces)
sender      client, domain (a mail domain, or a full address)
site        client, name, subdiv (holiday region, e.g. ``6AE`` Alsace, ``57``)
server      client, hostname, name (display), site, kind (physical|virtual),
            role, aliases (separated by ``|``)
contact     client, name, email, phone, role (primary|backup|after_hours), rank
backup_job  client, hostname, name (job, may be empty), product, schedule (cron)
=========== ====================================================================

Records are matched on their natural keys (client code, hostname in the client, contact
name in the client ...): importing the same file twice changes nothing. A client referred to
must exist already or be defined on an earlier line. Either every line is valid and all are
applied in one transaction, or nothing is written (a dry run always writes nothing). Lines
are checked in order against the database *as the earlier lines left it*, so a dry run
reports exactly what the real import would.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from croniter import croniter
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from domain.calendar import BusinessHours
from domain.header_text import first_multiline
from models.tables import BackupJob, Client, Contact, SenderDomain, Server, ServerAlias, Site
from models.types import utcnow
from records.matching import normalize_host

COLUMNS = (
    "type", "client", "name", "hostname", "site", "kind", "role", "aliases", "email", "phone",
    "rank", "product", "schedule", "domain", "users", "fixed_ips", "subdiv",
)  # fmt: skip
TYPES = ("client", "sender", "site", "server", "contact", "backup_job")
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
HOST_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,254}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9 .()-]{6,20}$")
DOMAIN_RE = re.compile(r"^([^@\s]+@)?[a-z0-9.-]+$")
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000  # VIGIE_IMPORT_MAX_ROWS


@dataclass
class ImportReport:
    dry_run: bool
    lines: int = 0
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return not self.dry_run and not self.errors


class LineError(ValueError):
    pass


Rows = Iterator[tuple[int, dict[str, str]]]


def _reader(stream: BinaryIO) -> tuple[list[str], Rows]:
    """The header and the rows, read one record at a time (a quoted cell may span lines);
    each row with the line it starts on. A UnicodeDecodeError may come from either."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    first = text.readline()
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader, [])]

    def rows() -> Rows:
        start = reader.line_num + 1
        for cells in reader:
            if any(c.strip() for c in cells):
                yield start, {h: (cells[i].strip() if i < len(cells) else "")
                              for i, h in enumerate(header)}
            start = reader.line_num + 1

    return header, rows()


def import_inventory(engine: Engine, data: bytes | BinaryIO, *, dry_run: bool,
                     max_rows: int = MAX_ROWS,
                     progress: Callable[[int], None] | None = None) -> ImportReport:
    """Validates every line; applies them all only if none is wrong and it is not a dry run.

    The file is read as a stream (``data`` may be an open file), one record at a time, and
    reading stops at the first row past ``max_rows``: a huge file costs its first rows only.
    ``progress`` is told how many rows were read, every hundred rows and at the end."""
    report = ImportReport(dry_run=dry_run)
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            report.errors.append((0, "Fichier trop volumineux (5 Mo au plus)"))
            return report
        data = io.BytesIO(data)
    try:
        with Session(engine) as s:
            _import_rows(s, _Importer(s, report), data, report, max_rows, progress)
    except UnicodeDecodeError:
        report.errors.append((0, "Le fichier doit être encodé en UTF-8"))
    except csv.Error as exc:
        report.errors.append((0, f"Fichier CSV illisible : {exc}"))
    return report


def _import_rows(s: Session, importer: _Importer, stream: BinaryIO, report: ImportReport,
                 max_rows: int, progress: Callable[[int], None] | None) -> None:
    header, rows = _reader(stream)
    unknown = [h for h in header if h and h not in COLUMNS]
    if "type" not in header or "client" not in header:
        report.errors.append((1, "En-tête : les colonnes « type » et « client » sont requises"))
        return
    if unknown:
        report.errors.append((1, f"En-tête : colonnes inconnues : {', '.join(unknown)}"))
        return
    for line, row in rows:
        if report.lines >= max_rows:
            report.errors.append((line, f"plus de {max_rows} lignes : fichier refusé, "
                                        "découpez-le (VIGIE_IMPORT_MAX_ROWS)"))
            break
        report.lines += 1
        if progress is not None and report.lines % 100 == 0:
            progress(report.lines)
        try:
            importer.apply(row)
        except LineError as exc:
            report.errors.append((line, str(exc)))
        except IntegrityError as exc:  # a conflict the checks above did not foresee
            report.errors.append((line, f"conflit avec les données existantes : {exc.orig}"))
            report.errors.append((line, "import interrompu à cette ligne"))
            break
    if progress is not None:
        progress(report.lines)
    if report.applied:
        s.commit()
    else:
        s.rollback()


class _Importer:
    def __init__(self, s: Session, report: ImportReport) -> None:
        self.s = s
        self.report = report

    def apply(self, row: dict[str, str]) -> None:
        kind = row.get("type", "").lower()
        if kind not in TYPES:
            raise LineError(f"type inconnu « {kind} » (attendu : {', '.join(TYPES)})")
        column = first_multiline(row)  # a quoted cell may hold one; names reach mail headers
        if column is not None:
            raise LineError(f"colonne « {column} » : retour à la ligne interdit")
        getattr(self, f"_{kind}")(row)
        self.s.flush()

    def _count(self, kind: str, created: bool) -> None:
        (self.report.created if created else self.report.updated)[kind] += 1

    def _client_of(self, row: dict[str, str]) -> Client:
        code = row.get("client", "").lower()
        if not code:
            raise LineError("colonne « client » vide")
        client = self.s.exec(select(Client).where(Client.code == code)).first()
        if client is None:
            raise LineError(f"client « {code} » inconnu (à définir sur une ligne « client »)")
        return client

    def _client(self, row: dict[str, str]) -> None:
        code = row.get("client", "").lower()
        if not CODE_RE.match(code):
            raise LineError(f"code client invalide « {code} » (minuscules, chiffres, - ou _)")
        name = row.get("name", "")
        if not name:
            raise LineError("nom du client manquant (colonne « name »)")
        users = _int(row.get("users", ""), "users", default=0)
        ips = [p for p in re.split(r"[|\s,]+", row.get("fixed_ips", "")) if p]
        for ip in ips:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise LineError(f"adresse IP invalide « {ip} »") from None
        client = self.s.exec(select(Client).where(Client.code == code)).first()
        created = client is None
        client = client or Client(code=code, name=name)
        client.name = name
        if row.get("users"):
            client.users = users
        if ips:
            client.fixed_ips = ",".join(ips)
        self.s.add(client)
        self._count("client", created)

    def _sender(self, row: dict[str, str]) -> None:
        client = self._client_of(row)
        domain = row.get("domain", "").lower()
        if not domain or not DOMAIN_RE.match(domain):
            raise LineError(f"domaine ou adresse d'expéditeur invalide « {domain} »")
        found = self.s.get(SenderDomain, domain)
        if found is not None and found.client_id != client.id:
            raise LineError(f"l'expéditeur « {domain} » appartient déjà à un autre client")
        if found is None:
            self.s.add(SenderDomain(domain=domain, client_id=client.id or 0))
        self._count("sender", found is None)

    def _site(self, row: dict[str, str]) -> None:
        client = self._client_of(row)
        name = row.get("name", "")
        if not name:
            raise LineError("nom du site manquant (colonne « name »)")
        subdiv = row.get("subdiv") or None
        if subdiv:
            try:
                subdiv = BusinessHours(subdiv=subdiv).subdiv
            except ValueError as exc:
                raise LineError(str(exc)) from None
        site = self.s.exec(
            select(Site).where(Site.client_id == client.id, Site.name == name)
        ).first()
        created = site is None
        site = site or Site(client_id=client.id or 0, name=name)
        site.calendar_subdiv = subdiv
        self.s.add(site)
        self._count("site", created)

    def _server(self, row: dict[str, str]) -> None:
        client = self._client_of(row)
        host = normalize_host(row.get("hostname", "")) or ""
        if not HOST_RE.match(host):
            raise LineError(f"nom d'hôte invalide « {row.get('hostname', '')} »")
        kind = (row.get("kind") or "physical").lower()
        if kind not in ("physical", "virtual"):
            raise LineError(f"type de serveur invalide « {kind} » (physical ou virtual)")
        site_id = None
        if row.get("site"):
            site = self.s.exec(
                select(Site).where(Site.client_id == client.id, Site.name == row["site"])
            ).first()
            if site is None:
                raise LineError(f"site « {row['site']} » inconnu pour ce client")
            site_id = site.id
        srv = self.s.exec(
            select(Server).where(Server.client_id == client.id, Server.hostname == host)
        ).first()
        created = srv is None
        srv = srv or Server(client_id=client.id or 0, hostname=host)
        srv.display_name = row.get("name") or srv.display_name or host.upper()
        srv.kind = kind
        srv.role = row.get("role") or srv.role
        srv.site_id = site_id if site_id is not None else srv.site_id
        self.s.add(srv)
        self.s.flush()
        for raw_alias in [a for a in re.split(r"[|\s]+", row.get("aliases", "")) if a]:
            alias = normalize_host(raw_alias) or ""
            if not HOST_RE.match(alias):
                raise LineError(f"alias invalide « {raw_alias} »")
            found = self.s.exec(
                select(ServerAlias).where(
                    ServerAlias.client_id == client.id, ServerAlias.alias == alias
                )
            ).first()
            if found is not None and found.server_id != srv.id:
                raise LineError(f"l'alias « {alias} » désigne déjà un autre serveur")
            if found is None:
                self.s.add(
                    ServerAlias(client_id=client.id or 0, server_id=srv.id or 0, alias=alias)
                )
        self._count("server", created)

    def _contact(self, row: dict[str, str]) -> None:
        client = self._client_of(row)
        name = row.get("name", "")
        if not name:
            raise LineError("nom du contact manquant (colonne « name »)")
        email, phone = row.get("email", ""), row.get("phone", "")
        if email and not EMAIL_RE.match(email):
            raise LineError(f"adresse e-mail invalide « {email} »")
        if phone and not PHONE_RE.match(phone):
            raise LineError(f"numéro de téléphone invalide « {phone} »")
        if not email and not phone:
            raise LineError("un contact a besoin d'un e-mail ou d'un téléphone")
        role = (row.get("role") or "primary").lower()
        if role not in ("primary", "backup", "after_hours"):
            raise LineError(f"rôle de contact invalide « {role} »")
        rank = _int(row.get("rank", ""), "rank", default=1)
        found = self.s.exec(
            select(Contact).where(Contact.client_id == client.id, Contact.name == name)
        ).first()
        created = found is None
        contact = found or Contact(client_id=client.id or 0, name=name)
        contact.email, contact.phone, contact.role, contact.rank = email, phone, role, rank
        self.s.add(contact)
        self._count("contact", created)

    def _backup_job(self, row: dict[str, str]) -> None:
        client = self._client_of(row)
        host = normalize_host(row.get("hostname", "")) or ""
        srv = self.s.exec(
            select(Server).where(Server.client_id == client.id, Server.hostname == host)
        ).first()
        if srv is None:
            raise LineError(f"serveur « {row.get('hostname', '')} » inconnu pour ce client")
        schedule = row.get("schedule") or "0 22 * * 1-5"
        if not croniter.is_valid(schedule):
            raise LineError(f"planification cron invalide « {schedule} »")
        name = row.get("name") or None
        found = self.s.exec(
            select(BackupJob).where(
                BackupJob.client_id == client.id,
                BackupJob.server_id == srv.id,
                BackupJob.name == name if name is not None else BackupJob.name.is_(None),  # type: ignore[union-attr]
            )
        ).first()
        created = found is None
        job = found or BackupJob(
            client_id=client.id or 0, server_id=srv.id or 0, name=name, created_at=utcnow()
        )
        job.product = row.get("product") or job.product
        job.schedule = schedule
        self.s.add(job)
        self._count("backup_job", created)


def _int(raw: str, column: str, default: int) -> int:
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise LineError(f"nombre entier attendu dans « {column} » : « {raw} »") from None
    if value < 0:
        raise LineError(f"nombre positif attendu dans « {column} »")
    return value
