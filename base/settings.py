"""Every setting of the desk, read from the environment (``VIGIE_*``) and nowhere else.

Secrets (Twilio token, SMTP relay password, session key) come only from the environment; the
embedded defaults are for the one-machine desk that ``make up`` starts.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from base.secret import with_secret_key

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_", extra="ignore")

    env: Literal["development", "production"] = Field(
        default="development",
        description="production refuses to start without a strong VIGIE_SECRET_KEY "
        "(so does any start with DATABASE_URL set)",
    )
    log_level: str = Field(
        default="INFO", description="Log level of the services (DEBUG for the SMTP dialogue)"
    )
    var_dir: Path = Field(default=ROOT / "var", description="Embedded state (SQLite, Temporal)")
    database_url: str = Field(
        default="",
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL; empty means SQLite under var/",
    )
    temporal_address: str = Field(default="127.0.0.1:7233", description="Temporal frontend")
    temporal_namespace: str = Field(default="default", description="Temporal namespace")
    temporal_ui_port: int = Field(default=8233, description="Dev server web UI port (up only)")
    task_queue: str = Field(default="vigie", description="Temporal task queue")
    temporal_ui_url: str = Field(
        default="http://127.0.0.1:8233",
        description="Temporal web UI base URL (the case page links each case's workflow)",
    )

    smtp_host: str = Field(default="127.0.0.1", description="Intake listen address")
    smtp_port: int = Field(default=2525, description="Intake listen port")
    mailboxes: str = Field(
        default="alerts@desk.example",
        description="Comma-separated mailboxes the intake accepts (others: 550 at RCPT)",
    )
    max_message_bytes: int = Field(default=10 * 1024 * 1024, description="Intake size limit")
    tls_cert: str = Field(default="", description="PEM certificate enabling STARTTLS")
    tls_key: str = Field(default="", description="PEM key for STARTTLS")
    check_source_ip: bool = Field(
        default=False,
        description="Strict source check: a client with no registered IP, relay, DKIM or SPF "
        "domain is unverified too (off: checked once a client has one)",
    )
    smtp_max_connections: int = Field(
        default=100, description="Intake SMTP connections at once (more: 421, retry later)"
    )
    smtp_max_per_peer: int = Field(
        default=10, description="Intake SMTP connections at once from one address (more: 421)"
    )
    smtp_relay_peers: str = Field(
        default="",
        description="Addresses or networks (comma-separated) of the MTAs relaying mail to the "
        "intake (e.g. the provider's Postfix): each gets VIGIE_SMTP_RELAY_PEER_MAX connections",
    )
    smtp_relay_peer_max: int = Field(
        default=30, description="Intake SMTP connections at once from one registered relay"
    )
    smtp_idle_timeout: float = Field(
        default=60.0, description="Seconds an SMTP connection may stay silent (then 421, closed)"
    )
    smtp_max_line_bytes: int = Field(
        default=1024 * 1024,
        description="Longest line accepted in a message (RFC 5321 says 1,000; longer: 451)",
    )
    smtp_command_timeout: float = Field(
        default=60.0,
        description="Seconds an SMTP command line may take to arrive whole, counted from the "
        "previous answer, however steadily its bytes trickle (then 421, closed)",
    )
    smtp_envelope_timeout: float = Field(
        default=300.0,
        description="Seconds all the SMTP commands before one message (greeting or previous "
        "message to DATA, NOOPs included) may take together (then 421, closed)",
    )
    smtp_data_timeout: float = Field(
        default=60.0,
        description="Seconds the DATA phase may take before the rate below is asked of it "
        "(then 421, closed)",
    )
    smtp_data_min_rate: int = Field(
        default=1024,
        description="Bytes a second the DATA phase must average beyond VIGIE_SMTP_DATA_TIMEOUT: "
        "each byte received extends its deadline by 1/rate s (a slower trickle: 421, closed)",
    )
    note_max_chars: int = Field(
        default=10_000,
        description="Longest case note, contact record or instructions text (more: 413, "
        "nothing stored)",
    )
    checklist_note_max_chars: int = Field(
        default=4_000, description="Longest note on one visit checklist answer (more: 413)"
    )
    report_max_chars: int = Field(
        default=20_000,
        description="Longest part of a visit report (advice, questions; more: 413)",
    )
    import_max_rows: int = Field(
        default=10_000,
        description="Most rows in one CSV inventory import (read as a stream; more: refused)",
    )
    webhook_max_bytes: int = Field(
        default=1_000_000, description="Largest webhook body (read as a stream; more: 413)"
    )
    webhook_max_depth: int = Field(default=32, description="Deepest JSON nesting of a webhook")
    webhook_max_events: int = Field(
        default=200, description="Most events (or Alertmanager alerts) in one webhook request"
    )

    console_host: str = Field(default="127.0.0.1", description="Console listen address")
    console_port: int = Field(default=8000, description="Console listen port")
    secret_key: str = Field(
        default="",
        description="Session/CSRF/link signing key, at least 32 characters; required outside "
        "embedded mode; empty in embedded mode: generated once into var/secret-key (0600)",
    )
    bootstrap_api_token: str = Field(
        default="",
        description="API token accepted as an administrator's (automation, e2e); empty: none",
    )
    cookie_secure: bool = Field(
        default=False, description="Always mark the session cookie Secure (behind TLS proxies)"
    )
    session_hours: int = Field(default=12, description="Console session lifetime (hours)")
    login_max_failures: int = Field(
        default=5, description="Failed sign-ins per user name and address before 429"
    )
    login_account_max_failures: int = Field(
        default=10, description="Failed sign-ins of one account, from any address, before 429"
    )
    login_address_max_failures: int = Field(
        default=20, description="Failed sign-ins from one address, any account, before 429"
    )
    login_window_minutes: int = Field(default=15, description="Window of the sign-in limit")
    login_known_address_days: int = Field(
        default=30,
        description="An account's lock-out does not apply from an address it signed in from "
        "in these last days (0: everywhere)",
    )
    login_lockout_seconds: int = Field(
        default=300, description="First lock-out of a sign-in limit; each next one doubles"
    )
    login_lockout_max_seconds: int = Field(
        default=3600, description="Longest sign-in lock-out (the back-off stops growing)"
    )
    trusted_proxies: str = Field(
        default="",
        description="Addresses/networks of reverse proxies whose X-Forwarded-For is believed "
        "(comma-separated); empty: none, the peer address is the client's",
    )
    idempotency_lease_seconds: float = Field(
        default=40.0,
        description="How long a keyed action may run before a repeat of its key takes it over "
        "(its process died between the action and the answer)",
    )
    idempotency_keep_hours: int = Field(
        default=72, description="How long the first answer of a keyed action is kept for repeats"
    )
    console_query_timeout: float = Field(
        default=2.0, description="Seconds the console waits for a workflow query (case page)"
    )
    portal_cases: Literal["triaged", "triaged_with_no_impact", "all"] = Field(
        default="triaged",
        description="Cases client users see: triaged (minor, significant, major), "
        "triaged_with_no_impact, or all (untriaged alerts too)",
    )
    demo_password: str = Field(
        default="", description="Password of the demo users; empty: generated once into var/"
    )

    timezone: str = Field(default="Europe/Paris", description="Team time zone for display")
    business_start: str = Field(default="09:00", description="Business hours start")
    business_end: str = Field(default="18:00", description="Business hours end")
    l1_minutes: int = Field(default=60, description="Level-1 diagnosis length (business minutes)")
    auto_close_hours: int = Field(default=72, description="Resolved cases close after this")
    late_arrival_margin_seconds: int = Field(
        default=120, ge=0,
        description="Clock-skew margin of occurrence order: a problem that happened more than "
        "this before its case's last recovery is a late arrival (no repeat, no reopening)",
    )

    # outgoing mail (the daily backup report to the team; shared with client mail)
    smtp_relay_host: str = Field(default="", description="Outgoing SMTP relay; empty: none")
    smtp_relay_port: int = Field(default=25, description="SMTP relay port")
    mail_from: str = Field(default="vigie@desk.example", description="From: of the desk's mail")
    team_email: str = Field(default="", description="Team address for the daily backup report")
    smtp_relay_tls: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="Relay TLS: starttls, tls (implicit, port 465) or none"
    )
    smtp_relay_user: str = Field(default="", description="Relay login; empty: no AUTH")
    smtp_relay_password: str = Field(default="", description="Relay password (secret, env only)")
    smtp_relay_timeout: float = Field(default=20.0, description="Relay timeout (seconds)")

    # client communication (activities/mail.py, activities/phone.py)
    mail_transport: Literal["smtp", "capture"] = Field(
        default="capture",
        description="Client mail: smtp (through the relay) or capture (kept in the database "
        "and shown in the console; nothing leaves the machine)",
    )
    mail_reply_to: str = Field(
        default="", description="Reply-To: of client mail; empty: the first VIGIE_MAILBOXES"
    )
    level2_email: str = Field(default="", description="Level-2 team address (L2 transfer)")
    phone_transport: Literal["twilio", "dry-run"] = Field(
        default="dry-run",
        description="Calls and SMS: twilio (real account) or dry-run (recorded, never sent)",
    )
    twilio_account_sid: str = Field(default="", description="Twilio account SID")
    twilio_auth_token: str = Field(
        default="", description="Twilio auth token (secret, env only; also checks callbacks)"
    )
    twilio_from_number: str = Field(default="", description="Twilio number calls come from")
    twilio_callback_base: str = Field(
        default="",
        description="Public base URL of the console as Twilio reaches it (callbacks, TwiML)",
    )
    twilio_api_base: str = Field(
        default="", description="Other base URL for Twilio's REST API (tests); empty: Twilio"
    )
    technician_phone: str = Field(default="", description="Technician's phone (click-to-call)")
    call_mode: Literal["automated", "click_to_call"] = Field(
        default="automated",
        description="Major-case call: automated (French message, press 1) or click_to_call",
    )
    call_attempts: int = Field(default=2, description="Calls per contact before the next one")
    call_retry_seconds: int = Field(default=300, description="Delay between two calls")
    call_ring_seconds: int = Field(default=30, description="How long a call rings")
    sms_code_max_tries: int = Field(
        default=3, description="Wrong SMS confirmation codes before an SMS's code expires"
    )
    call_answer_wait_seconds: int = Field(
        default=600, description="Longest wait for a call's final status before moving on"
    )

    # absence checks (heartbeats, disk reports, backups): Temporal Schedules at worker start
    schedules_enabled: bool = Field(
        default=True, description="Create/update the absence Schedules when the worker starts"
    )
    absence_sweep_seconds: int = Field(
        default=60, description="Period of the absence sweep (heartbeats, disk reports)"
    )
    backup_audit_at: str = Field(
        default="08:30", description="Daily backup audit time, business mornings (timezone)"
    )
    repeat_stale_minutes: int = Field(
        default=60, description="A re-sent problem silent this long (at least) is flagged"
    )

    # preventive visits (planning/, workflows/visit.py)
    visit_counting: Literal["start", "max"] = Field(
        default="start",
        description="Servers counted for a contract year's visits: start (in scope on the "
        "period's first day) or max (most servers in scope at any time of the period)",
    )
    contract_year_start: str = Field(
        default="01-01",
        description="First day (MM-DD) of the contract year of a client without a contract "
        "record (others: their contract's start date)",
    )
    visit_reminder_hours: str = Field(
        default="48,96",
        description="Comma-separated delays (hours after the proposal) of the reminders to "
        "a client who has not answered",
    )
    visit_answer_hours: int = Field(
        default=168, description="The client's answer deadline (hours after the proposal)"
    )
    visit_day_before_at: str = Field(
        default="10:00", description="Time (timezone) of the day-before visit reminders"
    )
    visit_link_secret: str = Field(
        default="",
        description="Key signing the clients' answer links (secret, env only); empty: "
        "VIGIE_SECRET_KEY, else one generated once into var/",
    )
    public_url: str = Field(
        default="",
        description="Console address as clients reach it (links in mail); empty: "
        "http://VIGIE_CONSOLE_HOST:VIGIE_CONSOLE_PORT",
    )
    planner_email: str = Field(
        default="", description="Planners' address (no answer, none of the dates suit)"
    )
    visit_report_email: str = Field(
        default="", description="Where visit reports go; empty: VIGIE_TEAM_EMAIL"
    )
    desk_today: str = Field(
        default="",
        description="Tests and demos only: the day (YYYY-MM-DD) the console's planning pages "
        "take as today; empty: the real date (workflows always keep the server's clock)",
    )

    # contract lifecycle (workflows/onboarding.py, workflows/termination.py, contracts/)
    notice_days: int = Field(
        default=20, description="Calendar days between a formal notice's receipt and termination"
    )
    notice_receipt_day_counts: bool = Field(
        default=False,
        description="Day of receipt of a formal notice counts as day 1 (default: the next day)",
    )
    codec_master_key: str = Field(
        default="",
        description="Master key (64 hex digits) wrapping each client's key of Temporal "
        "payloads; empty: generated once into var/codec-master.key (0600)",
    )
    codec_cors_origin: str = Field(
        default="", description="Origin of the Temporal UI allowed to call /codec/decode "
        "(e.g. http://localhost:8233); empty: same origin only",
    )
    erasure_schedule_hours: int = Field(
        default=24, description="Hours between two runs of the erasure of expired data"
    )
    data_retention_days: int = Field(
        default=365,
        description="Days a terminated client's personal data is kept before erasure",
    )

    # scale-out and self-watching (README "Scaling")
    router_lease_seconds: int = Field(
        default=20, description="A claimed outbox batch is taken over after this (dead router)"
    )
    intake_routes: bool = Field(
        default=True,
        description="The intake process also routes its outbox; false: separate "
        "`vigie router` processes do (`vigie up` runs one)",
    )
    router_host: str = Field(
        default="127.0.0.1", description="Address a `vigie router` listens on for nudges (UDP)"
    )
    router_wake_port: int = Field(
        default=2526, description="UDP port of a `vigie router`'s nudges; 0: it only polls"
    )
    router_wake: str = Field(
        default="127.0.0.1:2526",
        description="Routers an intake without its own router nudges after each stored "
        "message (UDP host:port, comma-separated; empty: none)",
    )
    router_poll_seconds: float = Field(
        default=0.5, description="An idle router looks at the outbox again after this"
    )
    router_gather_ms: float = Field(
        default=5.0, description="A router woken by a nudge waits this long before it claims, "
        "so that messages arriving together are taken in one batch (0: claim at once)"
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address every /metrics endpoint listens on (0.0.0.0: all interfaces, for "
        "a Prometheus on another machine or container)",
    )
    router_metrics_port: int = Field(
        default=9104, description="Router's Prometheus /metrics port; 0: off"
    )
    intake_metrics_port: int = Field(
        default=9101, description="Intake's Prometheus /metrics port; 0: off"
    )
    worker_metrics_port: int = Field(
        default=9102, description="Worker's Prometheus /metrics port; 0: off"
    )
    console_metrics_port: int = Field(
        default=9103, description="Console's Prometheus /metrics port; 0: off"
    )
    workflow_runner: Literal["passthrough", "sandbox", "unsandboxed"] = Field(
        default="passthrough",
        description="Workflow sandbox: passthrough (desk modules imported once), sandbox "
        "(re-imported per workflow), unsandboxed",
    )
    worker_workflow_slots: int = Field(
        default=8, description="Workflow tasks one worker runs at once"
    )
    worker_activity_slots: int = Field(
        default=16, description="Activities one worker runs at once (threads)"
    )
    worker_local_activity_slots: int = Field(
        default=16, description="Local activities one worker runs at once"
    )
    worker_pollers: int = Field(
        default=2, description="Task-queue pollers per worker, workflow and activity each"
    )
    worker_cached_workflows: int = Field(
        default=2000, description="Sticky cache: workflows kept in memory between tasks"
    )
    case_opening: Literal["one_step", "legacy"] = Field(
        default="one_step",
        description="How new cases open: one_step (one local activity) or legacy (four "
        "activities; for measurement)",
    )

    # PROXY protocol behind the SMTP load balancer
    smtp_proxy_protocol: bool = Field(
        default=False,
        description="Intake expects a PROXY protocol header (v1/v2) on every SMTP connection "
        "(behind a TCP load balancer)",
    )
    smtp_proxy_from: str = Field(
        default="",
        description="Comma-separated addresses or CIDR networks of the load balancers allowed "
        "to send that header; any other peer is refused (421); required when it is on",
    )
    smtp_proxy_timeout: float = Field(
        default=5.0, description="Seconds the intake waits for the PROXY header (then closed)"
    )

    @property
    def embedded(self) -> bool:
        """The one-machine desk of ``make up``: SQLite under ``var/``, not production."""
        return not self.database_url and self.env != "production"

    @property
    def db_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{self.var_dir / 'vigie.sqlite3'}"

    @property
    def mailbox_set(self) -> frozenset[str]:
        return frozenset(m.strip().lower() for m in self.mailboxes.split(",") if m.strip())


@lru_cache
def get_settings() -> Settings:
    """The process's settings; in embedded mode an empty secret key is the one kept in
    ``var/`` (generated on the first start), so a restart keeps everyone signed in."""
    return with_secret_key(Settings())


def same_names(settings: object, *names: str) -> dict[str, Any]:
    """The settings a component takes under the settings' own names, as keyword arguments
    (``cls(**same_names(settings, "timezone", "mail_from"), other=...)``): one list of names
    instead of a ``name=settings.name`` line per field, repeated in every component."""
    return {name: getattr(settings, name) for name in names}
