"""docker-compose.yml cannot run here (no Docker engine): keep it valid and honest."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from vigie.cli import main as vigie_main

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_temporal_with_postgres_its_ui_the_desk_db_and_the_three_services() -> None:
    services = compose()["services"]
    for name in ("temporal", "temporal-ui", "temporal-db", "desk-db", "worker", "router",
                 "intake", "console", "migrate"):
        assert name in services, name
    assert services["temporal"]["environment"]["DB"].startswith("postgres")
    assert "DATABASE_URL" in services["worker"]["environment"]
    # the router service routes, so the intakes only store (and nudge it)
    assert services["intake"]["environment"]["VIGIE_INTAKE_ROUTES"] == "false"
    assert services["intake"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully")


def test_every_desk_command_in_compose_exists_in_the_cli() -> None:
    services = compose()["services"]
    for name in ("worker", "router", "intake", "console", "migrate"):
        cmd = services[name]["command"]
        assert cmd[0] == "vigie"
        try:
            vigie_main([cmd[1], "--help"])
        except SystemExit as exit_:  # argparse exits 0 after printing the sub-command help
            assert exit_.code == 0, cmd
        else:
            raise AssertionError(f"{cmd} did not reach argparse")


def test_the_dockerfile_copies_every_package_the_services_import() -> None:
    import tomllib

    dockerfile = (ROOT / "Dockerfile").read_text()
    found = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = [p.rstrip("*") for p in found["packages"]["find"]["include"]]
    assert {"workflows", "activities", "models", "vigie"} <= set(packages)
    for pkg in packages:  # every package the install picks up is in the image
        assert f"COPY {pkg} {pkg}" in dockerfile, pkg


def test_no_secret_is_written_in_compose() -> None:
    """Every password, secret or token is taken from the environment (``${...}``)."""
    seen = 0
    for service in compose()["services"].values():
        env = service.get("environment") or {}
        for key, value in env.items():
            if any(w in key.upper() for w in ("PASSWORD", "PWD", "SECRET", "TOKEN")):
                seen += 1
                assert str(value).startswith("${"), (key, value)
    assert seen >= 4


def test_every_desk_variable_in_compose_is_a_real_setting() -> None:
    from base.settings import Settings

    known = {
        f.validation_alias or f"VIGIE_{name.upper()}" for name, f in Settings.model_fields.items()
    }
    for name in ("worker", "router", "intake", "console", "migrate"):
        for key in compose()["services"][name]["environment"]:
            if key.startswith("VIGIE_") or key == "DATABASE_URL":
                assert key in known, f"{name}: {key} is not a setting"


def test_the_case_search_attributes_are_registered_before_the_desk_starts() -> None:
    """Each case workflow upserts them: a worker started before they exist would fail its
    cases' workflow tasks, so the desk waits for the one-shot that creates them."""
    from messages.search import NAMES

    services = compose()["services"]
    setup = services["temporal-search-attributes"]
    script = " ".join(setup["command"])
    assert "temporal operator search-attribute create --type Keyword" in script
    for name in NAMES:
        assert f"--name {name}" in script, name
    assert setup["environment"]["TEMPORAL_ADDRESS"] == "temporal:7233"
    for name in ("worker", "router", "intake", "console"):
        waits = services[name]["depends_on"]["temporal-search-attributes"]
        assert waits["condition"] == "service_completed_successfully"


def test_the_intakes_believe_the_proxy_header_of_smtp_lb_only() -> None:
    """Behind smtp-lb every connection comes from the balancer: it opens each with a PROXY v2
    header naming the sending server (its health checks too, or the intakes would close them),
    and the intakes believe that header from smtp-lb's fixed address only."""
    import ipaddress

    from base.settings import Settings
    from vigie.services import smtp_proxy_trust

    layout = compose()
    services = layout["services"]
    env = services["intake"]["environment"]
    assert env["VIGIE_SMTP_PROXY_PROTOCOL"] == "true"
    balancer = services["smtp-lb"]["networks"]["default"]["ipv4_address"]
    assert env["VIGIE_SMTP_PROXY_FROM"] == f"${{VIGIE_SMTP_PROXY_FROM:-{balancer}}}"
    (pool,) = layout["networks"]["default"]["ipam"]["config"]
    address = ipaddress.ip_address(balancer)
    assert address in ipaddress.ip_network(pool["subnet"])
    assert address not in ipaddress.ip_network(pool["ip_range"])  # never another container's
    trust = smtp_proxy_trust(Settings(smtp_proxy_protocol=True, smtp_proxy_from=balancer))
    assert trust is not None and trust.trusts(balancer)  # the intake starts on that default
    # the console's intake health check goes through the balancer (a direct one is refused)
    assert services["console"]["environment"]["VIGIE_SMTP_HOST"] == "smtp-lb"

    cfg = [line.split() for line in (ROOT / "deploy" / "haproxy.cfg").read_text().splitlines()
           if line.strip() and not line.strip().startswith("#")]
    servers = [words for words in cfg if words[0] in ("server", "server-template")]
    assert servers
    for words in servers:
        assert "send-proxy-v2" in words and "check-send-proxy" in words, words
    # an explicit connect rule sends the server's PROXY header only with "default"
    connects = [words for words in cfg if words[:2] == ["tcp-check", "connect"]]
    assert connects and all("default" in words or "send-proxy" in words for words in connects)


def test_temporal_runs_the_production_server_image_after_its_schema_job() -> None:
    """Temporal documents ``temporalio/auto-setup`` as a development image: production runs
    ``temporalio/server`` and sets its schema up with ``temporal-sql-tool`` from the admin
    tools of the same version, before the server starts (issue 21, finding 15)."""
    services = compose()["services"]
    images = {name: svc.get("image", "") for name, svc in services.items()}
    assert not [name for name, image in images.items() if "auto-setup" in image]
    server = images["temporal"]
    assert server.startswith("temporalio/server:")
    version = server.split(":", 1)[1]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), server  # a release, not a moving tag

    schema = services["temporal-schema"]
    assert schema["image"].startswith(f"temporalio/admin-tools:{version}-")
    assert schema["environment"]["SQL_PLUGIN"] == services["temporal"]["environment"]["DB"]
    assert schema["environment"]["SQL_HOST"] == "temporal-db"
    assert str(schema["environment"]["SQL_PASSWORD"]).startswith("${")
    script = " ".join(schema["command"])
    for step in ("create-database", "setup-schema -v 0.0", "update-schema"):
        assert f"temporal-sql-tool --db \"$$db\" {step}" in script, step
    assert "for db in temporal temporal_visibility" in script
    assert "/etc/temporal/schema/postgresql/v12/$$dir/versioned" in script
    assert schema["depends_on"]["temporal-db"]["condition"] == "service_healthy"
    assert "healthcheck" in services["temporal-db"]
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully")
    # auto-setup also made the default namespace: the one-shot after the server does it now
    setup = " ".join(services["temporal-search-attributes"]["command"])
    assert "temporal operator namespace create --namespace default" in setup
    assert services["temporal-search-attributes"]["image"] == schema["image"]


def test_every_image_is_pinned_to_a_release() -> None:
    """No ``latest`` nor a bare major version for what is pulled (the desk's own image is
    built from the Dockerfile)."""
    for name, svc in compose()["services"].items():
        image = svc.get("image", "")
        if "build" in svc:
            continue
        assert ":" in image, name
        tag = image.split(":", 1)[1]
        assert tag != "latest" and re.match(r"\d+\.\d+", tag), (name, image)
