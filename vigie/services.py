"""The three long-running services (worker, intake, console), each startable alone.

Production runs each in its own process (``docker-compose.yml``); ``vigie up`` starts all
three plus an embedded Temporal dev server for one machine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from models.db import engine_for
from vigie.settings import Settings

log = logging.getLogger("vigie")


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

    from vigie import metrics
    from vigie.temporal import build_worker, connect, register_search_attributes

    engine = engine_for(settings.db_url)
    metrics.serve(settings.worker_metrics_port, "worker")
    # the SDK's own measurements (workflow-task latencies) land in a buffer we drain into
    # the process's /metrics
    buffer = MetricBuffer(50_000)
    runtime = Runtime(telemetry=TelemetryConfig(metrics=buffer))
    client = await connect(settings, runtime=runtime)
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

                await ensure_visit_workflows(client, engine, settings)
            except Exception:  # the visits' rows stay; the next start tries again
                log.exception("worker: workflows des visites non démarrés")
            log.info("worker: file %s sur %s", settings.task_queue, settings.temporal_address)
            await stop.wait()
    beat.cancel()


async def intake_main(settings: Settings, stop: asyncio.Event) -> None:
    """SMTP first (mail is accepted even while Temporal is down), then the router."""
    from datetime import timedelta

    from intake.router import CasePolicy, Router, refresh_outbox_gauges
    from intake.smtp import IntakeHandler, SmtpLimits, make_smtp_factory, tls_context_from
    from vigie import metrics
    from vigie.temporal import connect

    engine = engine_for(settings.db_url)
    metrics.serve(settings.intake_metrics_port, "intake")
    beat = asyncio.create_task(metrics.beat("intake", lambda: refresh_outbox_gauges(engine)))
    router: Router | None = None

    def wake(_accepted: object) -> None:
        if router is not None:
            router.wake.set()

    handler = IntakeHandler(engine, settings.mailbox_set, on_accepted=wake)
    factory = make_smtp_factory(
        handler,
        max_bytes=settings.max_message_bytes,
        tls_context=tls_context_from(settings.tls_cert, settings.tls_key),
        limits=SmtpLimits.from_settings(settings),
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, settings.smtp_host, settings.smtp_port)
    log.info("intake: SMTP sur %s:%s", settings.smtp_host, settings.smtp_port)

    async def route() -> None:
        nonlocal router
        client = await connect(settings, attempts=10**6)
        router = Router(
            engine,
            client,
            settings.task_queue,
            check_ip=settings.check_source_ip,
            policy=CasePolicy(
                l1_minutes=settings.l1_minutes,
                auto_close_hours=settings.auto_close_hours,
                timezone=settings.timezone,
                business_start=settings.business_start,
                business_end=settings.business_end,
                open_in_one_step=settings.case_opening == "one_step",
            ),
            lease=timedelta(seconds=settings.router_lease_seconds),
        )
        await router.run()

    task = asyncio.create_task(route())
    try:
        await stop.wait()
    finally:
        task.cancel()
        beat.cancel()
        server.close()
        await server.wait_closed()


def trusted_proxies(settings: Settings) -> list[str]:
    return [p.strip() for p in settings.trusted_proxies.split(",") if p.strip()]


def console_config(settings: Settings, app: Any) -> Any:
    """uvicorn's configuration of the console.

    ``X-Forwarded-For``/``-Proto`` are believed only from ``VIGIE_TRUSTED_PROXIES`` (uvicorn's
    ``forwarded_allow_ips``); by default from nobody, so the address the sign-in limit counts
    is the peer's own and cannot be chosen by the caller."""
    import uvicorn

    proxies = trusted_proxies(settings)
    return uvicorn.Config(
        app,
        host=settings.console_host,
        port=settings.console_port,
        log_level="warning",
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies,
    )


async def console_main(settings: Settings, stop: asyncio.Event) -> None:
    import uvicorn

    from console.app import create_app
    from vigie import metrics

    metrics.serve(settings.console_metrics_port, "console")
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
