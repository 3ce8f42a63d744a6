"""``/api/healthz``: database, Temporal and intake each checked for real."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from console.deps import Services


async def check_database(svc: Services) -> str:
    def ping() -> None:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    await asyncio.to_thread(ping)
    return "ok"


async def check_temporal(svc: Services) -> str:
    client = await svc.temporal()
    await asyncio.wait_for(client.service_client.check_health(), timeout=3)
    return "ok"


async def check_intake(svc: Services) -> str:
    """The intake is up when it greets an SMTP client with 220."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(svc.settings.smtp_host, svc.settings.smtp_port), timeout=3
    )
    try:
        banner = await asyncio.wait_for(reader.readline(), timeout=3)
        writer.write(b"QUIT\r\n")
        await writer.drain()
    finally:
        writer.close()
    if not banner.startswith(b"220"):
        raise RuntimeError(f"unexpected banner {banner[:60]!r}")
    return "ok"


async def health(svc: Services) -> dict[str, str]:
    checks = {"database": check_database, "temporal": check_temporal, "intake": check_intake}
    results = await asyncio.gather(*(f(svc) for f in checks.values()), return_exceptions=True)
    return {
        name: (r if isinstance(r, str) else f"down: {type(r).__name__}: {r}"[:300])
        for name, r in zip(checks, results, strict=True)
    }
