"""Vocabulary shared by the hardware parsers (HP, Dell, IBM): which part a component
name refers to, and whether a state means trouble or recovery."""

from __future__ import annotations

import re

from parsers.textutil import fold

# Order matters: "Smart Array Cache Module Battery" is a battery, "Tape Drive" a tape,
# "Logical Drive" a RAID volume, any other drive a physical disk, a bare array or
# controller the RAID subsystem.
_COMPONENT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (check, re.compile(pattern))
    for check, pattern in (
        ("battery", r"batter|capacitor|\bfbwc\b|\bbbu\b|super-?cap|accumulateur|akku"),
        ("tape", r"\btape|ultrium|autoloader|\blto-?\d|lecteur de bandes?|bandlaufwerk"),
        ("fan", r"\bfans?\b|ventilat|lufter|\bcooling\b"),
        (
            "power_supply",
            r"power ?suppl|\bpsu\b|\bps ?\d|power redundan|alimentation"
            r"|netzteil|\bpower\b",
        ),
        ("temperature", r"temperat|thermal|overheat|\btemp\b|surchauffe"),
        ("memory", r"memory|memoire|speicher|\bdimms?\b|\becc\b|\bram\b"),
        ("processor", r"processor|processeur|\bcpus?\b"),
        (
            "nic",
            r"\bnics?\b|network|ethernet|\blan\b|\bnet(?:work)? (?:port|adapter)"
            r"|carte reseau|netzwerk|\blink\b",
        ),
        (
            "raid",
            r"logical (?:drive|disk|volume)|virtual (?:drive|disk)|\bvdisk|\braid\b"
            r"|array accelerator|\bvolume\b|disque logique|disque virtuel",
        ),
        (
            "physical_disk",
            r"physical (?:drive|disk)|hard (?:drive|disk)|\bdisks?\b"
            r"|\bdrives?\b|\bhdd\b|\bssd\b|drive bay|\bpdisk|disque|festplatte"
            r"|defunct",
        ),
        ("raid", r"array|controller|controleur|storage|stockage"),
    )
)


def component_check(text: str) -> str:
    """Map a component or event description to a hardware ``check`` code."""
    folded = fold(text or "")
    for check, pattern in _COMPONENT_RULES:
        if pattern.search(folded):
            return check
    return "other"


PROBLEM_STATE = re.compile(
    r"fail|fault|degrad|critical|critique|\blost\b|not redundant|non-?redundant"
    r"|redundancy lost|missing|removed|\berror|offline|\bdown\b|predictive|caution"
    r"|warning|interim recovery|rebuild|overheat|disconnected|unplugged|absent|defunct"
    r"|not (?:present|installed|available|responding)|unavailable|expired|low\b|bad\b"
    r"|unknown|panne|defaillan|echec|erreur|defaut|ausgefallen|fehler|\bdead\b|abnormal"
)
RECOVERY_STATE = re.compile(
    r"\bok\b|\bokay\b|normal|repaired|\bredundant|restored|online|\bgood\b|ready|\bpresent"
    r"|connected|recovered|inserted|enabled|rebuilt|rebuild (?:complete|finished)|healthy"
    r"|\bup\b|resolved|cleared|operationnel|retabli"
)


def state_is_problem(text: str) -> bool:
    """True when a state or description contains a failure word (failure words win)."""
    folded = fold(text or "")
    return bool(PROBLEM_STATE.search(folded)) and not re.search(
        r"rebuild (?:complete|completed|finished)|rebuilt", folded
    )


def state_is_recovery(text: str) -> bool:
    """True when a state or description says the part is back to normal."""
    return bool(RECOVERY_STATE.search(fold(text or "")))
