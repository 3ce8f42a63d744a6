"""The normalized alert event: the one shape every parser emits and everything downstream
(case correlation, backup audit, heartbeat watch, reports, the webhook) reads.

See ``shared/docs/alert-event.md``. Events are frozen and hashable so they can be
deduplicated, used as keys and passed between workflow activities safely.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from parsers.dates import PARIS, as_aware, parse_iso
from parsers.frozendict import FrozenDict
from parsers.hosts import host_key


class Family(StrEnum):
    """What kind of thing the alert is about."""

    HARDWARE = "hardware"
    BACKUP = "backup"
    PERFORMANCE = "performance"
    DISK_SPACE = "disk_space"
    EVENTLOG = "eventlog"
    SERVICE = "service"
    HEARTBEAT = "heartbeat"
    LINK = "link"
    ANTIVIRUS = "antivirus"
    UNKNOWN = "unknown"


class Status(StrEnum):
    """``problem`` opens or feeds a case, ``recovery`` closes it, ``info`` does neither."""

    PROBLEM = "problem"
    RECOVERY = "recovery"
    INFO = "info"


class Severity(StrEnum):
    """The source's own severity mapped to the desk's scale (highest first)."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"
    INFO = "info"


class BackupResult(StrEnum):
    """Outcome of a backup job; only set on ``family=backup`` events."""

    SUCCESS = "success"
    WARNING = "warning"
    INCOMPLETE = "incomplete"
    FAILED = "failed"
    CANCELLED = "cancelled"


_E = TypeVar("_E", bound=StrEnum)

FINGERPRINT_MAX = 200
_FIELDS = (
    "family",
    "status",
    "host",
    "check",
    "target",
    "severity",
    "backup_result",
    "product",
    "value",
    "threshold",
    "occurred_at",
    "summary",
    "extra",
)
_IGNORED_KEYS = frozenset({"fingerprint"})


def _coerce_enum(enum: type[_E], value: Any, name: str) -> _E:
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        try:
            return enum(value.strip().lower())
        except ValueError:
            pass
    allowed = ", ".join(member.value for member in enum)
    raise ValueError(f"{name} must be one of {allowed}; got {value!r}")


def _coerce_optional_text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string or null; got {type(value).__name__}")
    value = value.strip()
    return value or None


def _coerce_number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number or null; got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number; got {value!r}")
    return number


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace("|", "%7C")


def _target_key(target: str | None) -> str:
    return " ".join((target or "").split()).lower()


@dataclass(frozen=True)
class AlertEvent:
    """One normalized alert. Construction validates and coerces (enum names given as
    strings, ints to floats, ``extra`` to a read-only mapping) and raises ValueError on
    contradictions, so a buggy parser fails loudly and is skipped by ``parse_message``."""

    family: Family
    status: Status
    host: str | None
    check: str
    target: str | None
    severity: Severity
    backup_result: BackupResult | None
    product: str
    value: float | None = None
    threshold: float | None = None
    occurred_at: datetime | None = None
    summary: str = ""
    extra: Mapping[str, str] = field(default_factory=FrozenDict)

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("family", _coerce_enum(Family, self.family, "family"))
        put("status", _coerce_enum(Status, self.status, "status"))
        put("severity", _coerce_enum(Severity, self.severity, "severity"))
        if self.backup_result is not None:
            put("backup_result", _coerce_enum(BackupResult, self.backup_result, "backup_result"))
            if self.family is not Family.BACKUP:
                raise ValueError(
                    f"backup_result is only allowed on family=backup, not {self.family.value}"
                )
        put("host", _coerce_optional_text(self.host, "host"))
        put("target", _coerce_optional_text(self.target, "target"))
        check = _coerce_optional_text(self.check, "check")
        if check is None:
            raise ValueError("check must be a non-empty string")
        put("check", check)
        product = _coerce_optional_text(self.product, "product")
        if product is None:
            raise ValueError("product must be a non-empty string")
        put("product", product)
        put("value", _coerce_number(self.value, "value"))
        put("threshold", _coerce_number(self.threshold, "threshold"))
        if self.occurred_at is not None:
            if not isinstance(self.occurred_at, datetime):
                raise ValueError("occurred_at must be a datetime or None")
            if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
                raise ValueError("occurred_at must be timezone-aware (use dates.as_aware)")
        if not isinstance(self.summary, str):
            raise ValueError("summary must be a string")
        if not isinstance(self.extra, FrozenDict):
            if not isinstance(self.extra, Mapping):
                raise ValueError("extra must be a mapping of strings")
            put("extra", FrozenDict(self.extra))

    def fingerprint(self, client_key: str) -> str:
        """Stable key for "the same problem": ``client|host|family|check|target``.

        Host and target are compared case-insensitively and the host without domain
        suffix, so ``SRV-APP`` and ``srv-app.corp.local`` give one case. Readable when
        short; beyond 200 characters, truncated and suffixed with a SHA-1 of the full key.
        """
        parts = (
            (client_key or "").strip(),
            host_key(self.host),
            self.family.value,
            self.check.strip().lower(),
            _target_key(self.target),
        )
        key = "|".join(_escape(part) for part in parts)
        if len(key) <= FINGERPRINT_MAX:
            return key
        digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()
        return key[: FINGERPRINT_MAX - len(digest) - 1] + "#" + digest

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: enums as strings, ``occurred_at`` ISO 8601 or None."""
        return {
            "family": self.family.value,
            "status": self.status.value,
            "host": self.host,
            "check": self.check,
            "target": self.target,
            "severity": self.severity.value,
            "backup_result": self.backup_result.value if self.backup_result else None,
            "product": self.product,
            "value": self.value,
            "threshold": self.threshold,
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
            "summary": self.summary,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AlertEvent:
        """Build and validate an event from ``to_dict`` output or a webhook payload.

        Required: ``family``, ``status``, ``check``. Defaults: ``severity`` info (warning
        for a problem), ``product`` "unknown", other fields null/empty. A naive
        ``occurred_at`` is Europe/Paris. Unknown keys are refused (a ``fingerprint`` key
        is ignored). Raises ValueError naming every problem found.
        """
        if not isinstance(d, Mapping):
            raise ValueError(f"alert event must be a JSON object; got {type(d).__name__}")
        errors: list[str] = []
        unknown = sorted(str(k) for k in d if k not in _FIELDS and k not in _IGNORED_KEYS)
        if unknown:
            errors.append("unknown field(s): " + ", ".join(unknown))
        for required in ("family", "status", "check"):
            if d.get(required) in (None, ""):
                errors.append(f"{required} is required")

        def number(name: str) -> Any:
            value = d.get(name)
            if isinstance(value, str):
                text = value.strip().replace(",", ".")
                if not text:
                    return None
                try:
                    return float(text)
                except ValueError:
                    errors.append(f"{name} must be a number or null; got {value!r}")
                    return None
            return value

        occurred: datetime | None = None
        raw_when = d.get("occurred_at")
        if isinstance(raw_when, datetime):
            occurred = as_aware(raw_when, PARIS)
        elif isinstance(raw_when, str) and raw_when.strip():
            occurred = parse_iso(raw_when)
            if occurred is None:
                errors.append(f"occurred_at must be ISO 8601; got {raw_when!r}")
        elif raw_when not in (None, ""):
            errors.append(f"occurred_at must be an ISO 8601 string or null; got {raw_when!r}")

        extra = d.get("extra") or {}
        if not isinstance(extra, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str | int | float) for k, v in extra.items()
        ):
            errors.append("extra must be an object of strings")
            extra = {}

        status = d.get("status")
        severity = d.get("severity")
        if severity in (None, ""):
            severity = Severity.WARNING if str(status).lower() == "problem" else Severity.INFO
        product = d.get("product")
        if product in (None, ""):
            product = "unknown"
        summary = d.get("summary") or ""
        if not isinstance(summary, str):
            errors.append("summary must be a string")
            summary = ""
        value = number("value")
        threshold = number("threshold")
        if errors:
            raise ValueError("invalid alert event: " + "; ".join(errors))
        try:
            return cls(
                family=d["family"],
                status=d["status"],
                host=d.get("host"),
                check=d["check"],
                target=d.get("target"),
                severity=severity,
                backup_result=d.get("backup_result"),
                product=product,
                value=value,
                threshold=threshold,
                occurred_at=occurred,
                summary=summary,
                extra=extra,
            )
        except (ValueError, TypeError) as exc:
            raise ValueError(f"invalid alert event: {exc}") from exc
