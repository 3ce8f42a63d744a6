"""The ``vigie`` command: one entry for every service and tool of the desk."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from base.settings import get_settings


def _serve(name: str) -> int:
    from base.secret import check_secret_key
    from vigie import services

    settings = get_settings()
    check_secret_key(settings)
    main = {
        "worker": services.worker_main,
        "ingest": services.intake_main,
        "router": services.router_main,
        "console": services.console_main,
    }[name]
    asyncio.run(services.run_until_stopped(lambda stop: main(settings, stop)))
    # Every write is committed and the Temporal worker has drained by now. Leaving through
    # the interpreter's finalization lets the SDK's native threads call back into a dying
    # interpreter ("PyGILState_Release ... finalizing"), so the service ends here.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def cmd_parse(path: Path, as_json: bool) -> int:
    from parsers import parse_file

    parsed = parse_file(path)
    if as_json:
        print(json.dumps([e.to_dict() for e in parsed.events], ensure_ascii=False, indent=1))
    else:
        print(f"{path.name}: parser={parsed.parser} subject={parsed.envelope.subject!r}")
        for e in parsed.events:
            print(
                f"  {e.family}/{e.status} host={e.host} check={e.check} target={e.target} "
                f"backup={e.backup_result} severity={e.severity} — {e.summary}"
            )
    return 0


def configure_logging(level_name: str) -> None:
    """One INFO line per accepted message, per case opened and per action; the chatty
    libraries (the SMTP dialogue, Alembic's plugins, transitions' callbacks) speak only when
    DEBUG is asked for (``VIGIE_LOG_LEVEL=DEBUG``)."""
    level = logging.getLevelName(level_name.upper())
    if not isinstance(level, int):
        level = logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s", force=True)
    quiet = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for noisy in ("mail.log", "alembic", "transitions", "temporalio", "httpx", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(quiet, level))


def cmd_sensor_rules(out: Path | None, scale: float) -> int:
    """Writes the Prometheus rules generated from ``domain/sensors.py``."""
    from vigie.sensor_rules import RULES_FILE, render

    if not 0 < scale <= 1:
        print("--time-scale : entre 0 (exclu) et 1", file=sys.stderr)
        return 2
    text = render(scale)
    if out is not None and str(out) == "-":
        sys.stdout.write(text)
        return 0
    target = out or Path(__file__).resolve().parents[1] / RULES_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"règles écrites : {target}")
    return 0


def main(argv: list[str] | None = None) -> int:
    configure_logging(get_settings().log_level)
    ap = argparse.ArgumentParser(prog="vigie", description="Vigie, le poste d'alertes")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="toute la pile sur cette machine (Temporal, données démo)")
    p_up.add_argument("--no-demo", action="store_true")
    p_up.add_argument("--send-samples", type=Path, default=None)
    for name in ("worker", "ingest", "router", "console"):
        sub.add_parser(name, help=f"lancer le service {name} seul")
    sub.add_parser("migrate", help="appliquer les migrations du schéma")
    p_demo = sub.add_parser("demo", help="charger les clients de démonstration")
    p_demo.add_argument(
        "--credentials", action="store_true", help="afficher les comptes de démonstration"
    )
    p_parse = sub.add_parser("parse", help="afficher les événements d'un message .eml")
    p_parse.add_argument("file", type=Path)
    p_parse.add_argument("--json", action="store_true")
    p_send = sub.add_parser("send", help="envoyer un dossier de .eml à une adresse SMTP")
    p_send.add_argument("dir", type=Path)
    p_send.add_argument("--host", default=None)
    p_send.add_argument("--port", type=int, default=None)
    p_send.add_argument("--to", default="alerts@desk.example")
    p_tok = sub.add_parser("token", help="créer le jeton d'une source webhook")
    p_tok.add_argument("name")
    p_tok.add_argument("--client", default=None, help="code du client de la source")
    p_tok.add_argument("--kind", choices=["event", "alertmanager"], default="event")
    p_sens = sub.add_parser("sensors", help="capteurs du contrat (3.2.2) : règles Prometheus")
    p_sens.add_argument("what", choices=["rules"])
    p_sens.add_argument("--out", type=Path, default=None,
                        help="fichier à écrire (défaut : deploy/preventcare/preventcare-rules.yml;"
                        " - : sortie standard)")
    p_sens.add_argument("--time-scale", type=float, default=1.0,
                        help="raccourcit toutes les durées (essais seulement)")
    args = ap.parse_args(argv)
    if args.cmd == "sensors":
        return cmd_sensor_rules(args.out, args.time_scale)
    settings = get_settings()

    if args.cmd == "up":
        from base.secret import check_secret_key
        from vigie.stack import up

        check_secret_key(settings)
        return up(settings, with_demo=not args.no_demo, send_samples=args.send_samples)
    if args.cmd in ("worker", "ingest", "router", "console"):
        return _serve(args.cmd)
    if args.cmd == "migrate":
        from models.db import migrate

        migrate(settings.db_url)
        return 0
    if args.cmd == "demo" and args.credentials:
        from vigie.demo import credentials_line

        print(credentials_line(settings.var_dir))
        return 0
    if args.cmd == "demo":
        from models.db import engine_for, migrate
        from vigie.demo import load_demo

        migrate(settings.db_url)
        print(load_demo(engine_for(settings.db_url)))
        return 0
    if args.cmd == "parse":
        return cmd_parse(args.file, args.json)
    if args.cmd == "send":
        from vigie.send import send_dir

        n = send_dir(
            args.dir, args.host or settings.smtp_host, args.port or settings.smtp_port, args.to
        )
        print(f"{n} messages envoyés")
        return 0
    if args.cmd == "token":
        from intake.webhook import create_source_token
        from models.db import engine_for

        print(create_source_token(engine_for(settings.db_url), args.name, args.client, args.kind))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
