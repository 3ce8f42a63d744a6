"""The ``vigie`` command: one entry for every service and tool of the desk."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from vigie.settings import get_settings


def _serve(name: str) -> int:
    from vigie import services

    settings = get_settings()
    main = {
        "worker": services.worker_main,
        "ingest": services.intake_main,
        "console": services.console_main,
    }[name]
    asyncio.run(services.run_until_stopped(lambda stop: main(settings, stop)))
    return 0


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


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # transitions narrates every callback at INFO: the ledger already says what happened
    logging.getLogger("transitions").setLevel(logging.WARNING)
    ap = argparse.ArgumentParser(prog="vigie", description="Vigie, le poste d'alertes")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="toute la pile sur cette machine (Temporal, données démo)")
    p_up.add_argument("--no-demo", action="store_true")
    p_up.add_argument("--send-samples", type=Path, default=None)
    for name in ("worker", "ingest", "console"):
        sub.add_parser(name, help=f"lancer le service {name} seul")
    sub.add_parser("migrate", help="appliquer les migrations du schéma")
    sub.add_parser("demo", help="charger les clients de démonstration")
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
    args = ap.parse_args(argv)
    settings = get_settings()

    if args.cmd == "up":
        from vigie.stack import up

        return up(settings, with_demo=not args.no_demo, send_samples=args.send_samples)
    if args.cmd in ("worker", "ingest", "console"):
        return _serve(args.cmd)
    if args.cmd == "migrate":
        from models.db import migrate

        migrate(settings.db_url)
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
