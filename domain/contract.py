"""The contract's lifecycle rules as data: the 3.1 checklist, the onboarding length, the notice.

Pure (no database, no clock): the onboarding and termination workflows import it passed
through the sandbox, the console and the tests call it directly, so the rule the planner
reads on the page is the rule the workflow applied.

* **Prerequisites (3.1)**: one item per line of the article; the antivirus and security-box
  services apply only when the client bought them (otherwise *not applicable*).
* **Onboarding length (3.2.1)** as a rule table read top to bottom. The contract's
  "10 à 49 utilisateurs. 3 serveurs et plus" is read as *both* conditions; a size no row
  covers (5 users with 3 servers, 20 users with 1 server) is flagged for a planner's decision,
  never guessed. From 50 users the figure written in the contract record applies.
* **Notice (articles 5-7)**: termination takes effect 20 calendar days after receipt of the
  formal notice, at 00:00 (team time zone) of day 20. Day 1 is the day after receipt by
  default (the French civil-procedure reading: the day of the event that starts a period does
  not count), or the day of receipt itself when ``receipt_day_counts`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from messages.contracts import TerminationInput, TerminationKind
from messages.words import N_


class ContractStatus(StrEnum):
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    NOTICE = "notice"
    TERMINATED = "terminated"


# The desk monitors a client whose contract is in one of these (or who has no contract row:
# the clients that existed before contracts were recorded keep being monitored).
MONITORED = frozenset({ContractStatus.ACTIVE, ContractStatus.NOTICE})

OPTIONS: dict[str, str] = {
    "antivirus": N_("Antivirus"),
    "security_appliance": N_("Boîtier de sécurité"),
}


class PrereqStatus(StrEnum):
    OPEN = "open"
    MET = "met"
    WAIVED = "waived"  # a manager accepted to start without it, with a reason
    NOT_APPLICABLE = "not_applicable"  # an option the client did not buy


@dataclass(frozen=True)
class PrerequisiteSpec:
    code: str
    label: str
    label_en: str
    mandatory: bool = True
    option: str | None = None  # applies only when this option was bought


PREREQUISITES: tuple[PrerequisiteSpec, ...] = (
    PrerequisiteSpec("security_appliance_smtp", "Boîtier de sécurité avec relais SMTP",
                     "Security appliance with SMTP relay"),
    PrerequisiteSpec("fixed_ip", "Accès internet professionnel avec IP fixe",
                     "Professional internet access with a fixed IP"),
    PrerequisiteSpec("hardware_conformity", "Matériel conforme aux prérequis techniques",
                     "Hardware conforming to the technical prerequisites"),
    PrerequisiteSpec("configuration_homologated",
                     "Logiciels configurés ou homologués par le prestataire",
                     "Software configured or approved by the provider"),
    PrerequisiteSpec("vendor_maintained_versions", "Versions maintenues par l'éditeur",
                     "Vendor-maintained versions"),
    PrerequisiteSpec("remote_assistance", "Accès de télémaintenance",
                     "Remote-assistance access"),
    PrerequisiteSpec("server_room_phone", "Ligne téléphonique dans la salle serveur",
                     "Phone line in the server room"),
    PrerequisiteSpec("administrator_access", "Accès administrateur", "Administrator access"),
    PrerequisiteSpec("subscribed_services",
                     "Services serveur Windows, base de données et sauvegarde souscrits",
                     "Windows server, database and backup services subscribed"),
    PrerequisiteSpec("antivirus_service", "Service antivirus souscrit auprès du prestataire",
                     "Antivirus service bought from the provider", option="antivirus"),
    PrerequisiteSpec("security_box_service", "Service boîtier de sécurité souscrit",
                     "Security-box service bought from the provider",
                     option="security_appliance"),
)
PREREQUISITE_CODES = frozenset(p.code for p in PREREQUISITES)
FIXED_IP = "fixed_ip"  # its value is the client's fixed IP, the one the intake checks


def prerequisite_spec(code: str) -> PrerequisiteSpec | None:
    return next((p for p in PREREQUISITES if p.code == code), None)


def initial_status(spec: PrerequisiteSpec, options: frozenset[str]) -> PrereqStatus:
    if spec.option is not None and spec.option not in options:
        return PrereqStatus.NOT_APPLICABLE
    return PrereqStatus.OPEN


def blocks_activation(mandatory: bool, status: str) -> bool:
    """A mandatory item blocks the service until it is met, waived or not applicable."""
    return mandatory and status == PrereqStatus.OPEN


# --- onboarding length (3.2.1) -----------------------------------------------------------------

CONTRACTED = -1  # "the figure in the contract record"


@dataclass(frozen=True)
class SizingRule:
    """Users in [min_users, max_users] and servers in [min_servers, max_servers] -> days."""

    label: str
    min_users: int
    max_users: int | None
    min_servers: int
    max_servers: int | None
    days: int  # CONTRACTED: the contract record's figure

    def covers(self, users: int, servers: int) -> bool:
        return (
            self.min_users <= users
            and (self.max_users is None or users <= self.max_users)
            and self.min_servers <= servers
            and (self.max_servers is None or servers <= self.max_servers)
        )


SIZING_RULES: tuple[SizingRule, ...] = (
    SizingRule("1 à 9 utilisateurs, 2 serveurs au plus : 1 jour", 1, 9, 0, 2, 1),
    SizingRule("10 à 49 utilisateurs et 3 serveurs et plus : 2 jours", 10, 49, 3, None, 2),
    SizingRule("50 utilisateurs et plus : durée fixée au contrat", 50, None, 0, None,
               CONTRACTED),
)


@dataclass(frozen=True)
class Sizing:
    """What the rule table says: a number of days, or a flag for the planner (``days`` None)."""

    days: int | None
    rule: str
    flagged: bool = False

    @property
    def needs_decision(self) -> bool:
        return self.days is None


def onboarding_sizing(users: int, servers: int, contracted_days: int | None) -> Sizing:
    for rule in SIZING_RULES:
        if rule.covers(users, servers):
            if rule.days != CONTRACTED:
                return Sizing(rule.days, rule.label)
            if contracted_days:
                return Sizing(contracted_days, rule.label)
            return Sizing(None, f"{rule.label} — le contrat ne fixe aucune durée", True)
    return Sizing(
        None,
        f"{users} utilisateur(s) et {servers} serveur(s) : aucune ligne du contrat "
        "ne couvre ce cas, décision du planificateur",
        True,
    )


# --- notice (articles 5-7) ----------------------------------------------------------------------

NOTICE_DAYS = 20


def notice_effective_date(received_on: date, days: int = NOTICE_DAYS,
                          receipt_day_counts: bool = False) -> date:
    """Day ``days`` of the period: day 1 is the day after receipt, or receipt day itself."""
    return received_on + timedelta(days=days - 1 if receipt_day_counts else days)


def notice_effective_at(received_on: date, tz: str, days: int = NOTICE_DAYS,
                        receipt_day_counts: bool = False) -> datetime:
    """When termination takes effect: 00:00 of day ``days`` in the team's time zone."""
    day = notice_effective_date(received_on, days, receipt_day_counts)
    return datetime.combine(day, time(0, 0), tzinfo=ZoneInfo(tz))


def notice_day(received_on: date, today: date, receipt_day_counts: bool = False) -> int:
    """Which day of the period ``today`` is (0: before the period started)."""
    return (today - received_on).days + (1 if receipt_day_counts else 0)


def termination_refusal(inp: TerminationInput) -> str | None:
    """Why a termination request cannot start, or None: the same words for the console, which
    refuses before starting the workflow, and the workflow, which refuses what slips past."""
    if not inp.actor.strip():
        return "L'auteur doit être indiqué"
    if not inp.reason.strip():
        return ("Décrivez le manquement" if inp.kind == TerminationKind.NOTICE
                else "Indiquez la version non supportée")
    if inp.kind == TerminationKind.NOTICE:
        try:
            date.fromisoformat(inp.received_on or "")
        except ValueError:
            return "Date de réception de la mise en demeure obligatoire"
    if inp.kind not in (TerminationKind.NOTICE, TerminationKind.IMMEDIATE):
        return f"Type de résiliation inconnu : {inp.kind}"
    return None
