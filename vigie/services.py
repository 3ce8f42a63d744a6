"""The long-running services (worker, intake, router, console), each startable alone.

Production runs each in its own process (``docker-compose.yml``); ``vigie up`` starts all
four plus an embedded Temporal dev server for one machine. The router may also run inside
each intake process (``VIGIE_INTAKE_ROUTES``, the default of a lone ``vigie ingest``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from base.settings import Settings, same_names
from models.db import engine_for

if TYPE_CHECKING:
    from intake.smtp import ProxyTrust

log = logging.getLogger("vigie")


class BadProxySettings(SystemExit):
    """The intake's start refused over the PROXY protocol's settings, said in one sentence
    (a SystemExit: the command says why and stops, no traceback)."""


def smtp_proxy_trust(settings: Settings) -> ProxyTrust | None:
    """The load balancers whose PROXY header the intake believes; None with the protocol off.

    Refuses to start with the protocol on and no balancer listed: believing the header from
    anyone would let any client claim any source address (and pass the source check)."""
    if not settings.smtp_proxy_protocol:
        return None
    from intake.smtp import ProxyTrust

    if not settings.smtp_proxy_from.replace(",", " ").strip():
        raise BadProxySettings(
            "VIGIE_SMTP_PROXY_PROTOCOL=true demande VIGIE_SMTP_PROXY_FROM, les adresses ou "
            "réseaux des répartiteurs de charge autorisés à envoyer l'en-tête PROXY : sans "
            "cette liste, n'importe quel client pourrait se donner n'importe quelle adresse "
            "source"
        )
    if settings.smtp_proxy_timeout <= 0:
        raise BadProxySettings(
            f"VIGIE_SMTP_PROXY_TIMEOUT doit être un nombre de secondes positif (et non "
            f"{settings.smtp_proxy_timeout})"
        )
    try:
        return ProxyTrust.parse(settings.smtp_proxy_from, settings.smtp_proxy_timeout)
    except ValueError as bad:
        raise BadProxySettings(
            f"VIGIE_SMTP_PROXY_FROM : « {bad} » n'est ni une adresse IP ni un réseau CIDR (un "
            "nom d'hôte ne convient pas : le répartiteur est reconnu à l'adresse que voit le "
            "système)"
        ) from None


async def run_until_stopped(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Runs ``main`` until SIGINT/SIGTERM, so Ctrl-C stops every service cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await main(stop)
    finally:
        # Stopping already: a second Ctrl-C (a terminal sends it to the whole group, then
        # ``vigie up`` sends SIGTERM) must not reach the loop's wakeup fd while it closes.
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.remove_signal_handler(sig)
                signal.signal(sig, signal.SIG_IGN)
            except (NotImplementedError, RuntimeError, ValueError):
                pass


async def worker_main(settings: Settings, stop: asyncio.Event) -> None:
    from temporalio.runtime import MetricBuffer, Runtime, TelemetryConfig

    from base import metrics
    from vigie.temporal import build_worker, connect, register_search_attributes

    engine = engine_for(settings.db_url)
    metrics.serve(settings.worker_metrics_port, "worker", settings.metrics_host)
    # the SDK's own measurements (workflow-task latencies) land in a buffer we drain into
    # the process's /metrics
    buffer = MetricBuffer(50_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    client = await connect(settings, runtime=runtime, engine=engine)
    try:  # a case upserts them: without them its workflow tasks would fail until they exist
        await register_search_attributes(client)
    except Exception:
        log.exception("worker: attributs de recherche non enregistrés (CaseRef, ...)")
    beat = asyncio.create_task(
        metrics.beat("worker", lambda: metrics.forward_sdk_metrics(buffer), every=5.0))
    if settings.schedules_enabled:
        from vigie.schedules import ensure_schedules

        try:
            await ensure_schedules(client, settings)
        except Exception:  # the worker still serves cases; the next start retries
            log.exception("worker: planifications des contrôles d'absence non appliquées")
    threads = max(settings.worker_activity_slots, settings.worker_local_activity_slots)
    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        worker = build_worker(client, engine, settings.task_queue, pool, settings)
        async with worker:
            try:
                from planning.launch import ensure_visit_workflows
                from vigie.demo import demo_intents, stage_demo_visits

                intents = demo_intents(engine)  # before the workflows' first save
                await ensure_visit_workflows(client, engine, settings)
                await stage_demo_visits(client, engine, intents)
            except Exception:  # the visits' rows stay; the next start tries again
                log.exception("worker: workflows des visites non démarrés")
            log.info("worker: file %s sur %s", settings.task_queue, settings.temporal_address)
            await stop.wait()
    beat.cancel()


def build_router(settings: Settings, engine: Any, client: Any) -> Any:
    """The router with the settings' case rules and lease (in an intake or on its own)."""
    from datetime import timedelta

    from intake.router import CasePolicy, Router

    return Router(
        engine,
        client,
        settings.task_queue,
        check_ip=settings.check_source_ip,
        policy=CasePolicy(
            **same_names(settings, "l1_minutes", "auto_close_hours", "timezone",
                "business_start", "business_end"),
            open_in_one_step=settings.case_opening == "one_step",
            late_margin_seconds=settings.late_arrival_margin_seconds,
        ),
        lease=timedelta(seconds=settings.router_lease_seconds),
        gather=timedelta(milliseconds=settings.router_gather_ms),
    )


async def intake_main(settings: Settings, stop: asyncio.Event) -> None:
    """SMTP first (mail is accepted even while Temporal is down), then the router: in this
    process (``VIGIE_INTAKE_ROUTES``), or separate ``vigie router`` processes nudged after
    each stored message (``VIGIE_ROUTER_WAKE``)."""
    from base import metrics
    from intake.router import refresh_outbox_gauges
    from intake.smtp import IntakeHandler, SmtpLimits, make_smtp_factory, tls_context_from
    from intake.wake import Nudger, keep_resolving, parse_addresses
    from vigie.temporal import connect

    proxy = smtp_proxy_trust(settings)  # before anything starts: a refusal is one sentence
    engine = engine_for(settings.db_url)
    metrics.serve(settings.intake_metrics_port, "intake", settings.metrics_host)
    beat = asyncio.create_task(metrics.beat("intake", lambda: refresh_outbox_gauges(engine)))
    router: Any = None
    nudge: Nudger | None = None
    if not settings.intake_routes:
        try:
            nudge = Nudger(parse_addresses(settings.router_wake))
        except ValueError as exc:
            raise SystemExit(f"Vigie ne peut pas démarrer : {exc} (réglage VIGIE_ROUTER_WAKE)"
                             ) from None

    resolving = asyncio.create_task(keep_resolving(nudge)) if nudge is not None else None

    def wake(_accepted: object) -> None:
        if router is not None:
            router.wake.set()
        if nudge is not None:
            nudge()

    handler = IntakeHandler(engine, settings.mailbox_set, on_accepted=wake)
    factory = make_smtp_factory(
        handler,
        max_bytes=settings.max_message_bytes,
        tls_context=tls_context_from(settings.tls_cert, settings.tls_key),
        limits=SmtpLimits.from_settings(settings),
        proxy=proxy,
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, settings.smtp_host, settings.smtp_port)
    log.info("intake: SMTP sur %s:%s%s%s", settings.smtp_host, settings.smtp_port,
             f" (protocole PROXY depuis {settings.smtp_proxy_from})" if proxy else "",
             "" if settings.intake_routes else " (routage : processus vigie router)")

    async def route() -> None:
        nonlocal router
        client = await connect(settings, attempts=10**6, engine=engine)
        router = build_router(settings, engine, client)
        await router.run(idle=settings.router_poll_seconds)

    task = asyncio.create_task(route()) if settings.intake_routes else None
    try:
        await stop.wait()
    finally:
        if task is not None:
            task.cancel()
        if resolving is not None:
            resolving.cancel()
        beat.cancel()
        server.close()
        await server.wait_closed()
        if nudge is not None:
            nudge.close()


async def router_main(settings: Settings, stop: asyncio.Event) -> None:
    """A router on its own: drains the outbox into Temporal, as many processes as wanted
    on one database (leases), woken by the intakes' nudges or its own poll."""
    from base import metrics
    from intake.router import refresh_outbox_gauges
    from intake.wake import listen
    from vigie.temporal import connect

    engine = engine_for(settings.db_url)
    wake = asyncio.Event()  # listening before anything else: no nudge is sent to nobody
    transport = None
    if settings.router_wake_port:
        try:
            transport = await listen(settings.router_host, settings.router_wake_port, wake)
        except OSError as exc:  # still correct, only slower: say so and poll
            log.error("router: réveil UDP %s:%s indisponible (%s) ; relève toutes les %s s",
                      settings.router_host, settings.router_wake_port, exc,
                      settings.router_poll_seconds)
    metrics.serve(settings.router_metrics_port, "router", settings.metrics_host)
    beat = asyncio.create_task(metrics.beat("router", lambda: refresh_outbox_gauges(engine)))
    client = await connect(settings, attempts=10**6, engine=engine)
    router = build_router(settings, engine, client)
    router.wake = wake
    log.info("router: %s vers la file %s (réveil UDP %s:%s)", router.name,
             settings.task_queue, settings.router_host, settings.router_wake_port)
    task = asyncio.create_task(router.run(idle=settings.router_poll_seconds))
    try:
        await stop.wait()
    finally:
        task.cancel()
        beat.cancel()
        if transport is not None:
            transport.close()


def trusted_proxies(settings: Settings) -> list[str]:
    return [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]


def console_config(settings: Settings, app: Any) -> Any:
    """uvicorn's configuration of the console.

    ``X-Forwarded-For``/``-Proto`` are believed only from ``VIGIE_TRUSTED_PROXIES`` (uvicorn's
    ``forwarded_allow_ips``); by default from nobody, so the address the sign-in limit counts
    is the peer's own and cannot be chosen by the caller. A forwarded value that is not an
    IP address is ignored and logged (``console.forwarded``)."""
    import uvicorn

    from console.forwarded import CheckedProxyHeaders

    proxies = trusted_proxies(settings)
    return uvicorn.Config(
        CheckedProxyHeaders(app, proxies) if proxies else app,
        host=settings.console_host,
        port=settings.console_port,
        log_level="warning",
        proxy_headers=False,  # done by CheckedProxyHeaders, which checks the address
    )


async def console_main(settings: Settings, stop: asyncio.Event) -> None:
    import uvicorn

    from base import metrics
    from console.app import create_app

    metrics.serve(settings.console_metrics_port, "console", settings.metrics_host)
    beat = asyncio.create_task(metrics.beat("console"))
    app = create_app(settings, engine_for(settings.db_url))
    config = console_config(settings, app)
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    log.info("console: http://%s:%s", settings.console_host, settings.console_port)
    await stop.wait()
    server.should_exit = True
    beat.cancel()
    await task
