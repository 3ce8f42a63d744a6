"""In Debian's Chromium, on the real stack (Temporal dev server, worker, intake router,
console over HTTP): a mail names a server client B's inventory lacks; the technician creates
it from the unmatched queue, and the case follows on the new server. The backup report
shows today's failed result, with its time, linking to its message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import Session, select

from models.db import session_scope
from models.tables import AlertEventRow, BackupJob, BackupRun, RawMessage, Server
from models.types import utcnow
from tests.browser.test_console_browser import (  # the same real stack and browser
    PROBE,
    Stack,
    browser,
    signed_in,
    stack,
)
from tests.conftest import fresh_id

pytestmark = pytest.mark.browser
__all__ = ["browser", "stack"]  # fixtures, used by name


async def test_create_the_missing_server_from_the_unmatched_queue(
    stack: Stack, browser: Browser
) -> None:
    await stack.mail(
        PROBE.format(domain="client-b.example", host="SRV-NEW02", check="disk_free",
                     target="C:", subject="C: 3% free", msgid=fresh_id("m")),
        "vigie-probe@client-b.example",
    )  # fmt: skip
    with Session(stack.engine) as s:
        ev = s.exec(
            select(AlertEventRow).where(AlertEventRow.host == "SRV-NEW02",
                                        AlertEventRow.triage == "pending")
        ).one()
    page = await signed_in(browser, stack, "technician")
    await page.goto("/unmatched")
    row = page.locator(f'tr[data-event="{ev.id}"]')
    await expect(row).to_be_visible()
    # the sender's client's servers come first
    first_group = row.locator("select[name=server_id] optgroup").first
    await expect(first_group).to_have_attribute(
        "label", "Boulangeries Martin (client de l'expéditeur)"
    )
    await row.locator("details.create-server summary").click()
    form = row.locator("form.create-server")
    await expect(form.locator("select[name=client_id]")).to_have_value(
        str(stack.clients["client-b"])
    )
    await expect(form.locator("input[name=hostname]")).to_have_value("srv-new02")
    await form.locator("input[name=display_name]").fill("Nouveau serveur comptable")
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Serveur srv-new02 créé")
    await expect(page.locator(f'tr[data-event="{ev.id}"]')).to_have_count(0)
    # the router routes the attached message: the case opens on the new server
    await stack.router.drain_once()
    case_id = await stack.case_for("srv-new02", "disk_free")
    await page.goto(f"/cases/{case_id}")
    await expect(page.locator("section.summary")).to_contain_text("Nouveau serveur comptable")
    await page.context.close()


async def test_the_backup_report_shows_todays_failure_with_its_time_and_link(
    stack: Stack, browser: Browser
) -> None:
    now = utcnow()
    with session_scope(stack.engine) as s:
        job = s.exec(select(BackupJob).where(BackupJob.name == "Backup SQL")).one()
        job.schedule = "0 * * * *"  # hourly: today is scheduled whatever the hour
        job.created_at = now - timedelta(days=2)  # known since the day before yesterday
        srv = s.get(Server, job.server_id)
        raw = RawMessage(sha256=fresh_id("d").ljust(64, "0")[:64], data=b"Subject: KO\r\n\r\nx",
                         mail_from="arcserve@client-a.example")  # fmt: skip
        s.add_all([job, raw])
        s.flush()
        ev = AlertEventRow(raw_message_id=raw.id or 0, family="backup", status="problem",
                           check="backup", backup_result="failed", received_at=now,
                           host=srv.hostname if srv else None, client_id=job.client_id,
                           server_id=job.server_id, summary="Backup SQL : échec")  # fmt: skip
        s.add(ev)
        s.flush()
        s.add(BackupRun(event_id=ev.id or 0, client_id=job.client_id, server_id=job.server_id,
                        job_name=job.name, product=job.product, result="failed",
                        received_at=now))  # fmt: skip
        job_id, event_id = job.id, ev.id
    page = await signed_in(browser, stack, "technician")
    await page.goto("/backups")
    row = page.locator(f'tr[data-job="{job_id}"]')
    cells = row.locator("td[data-day]")
    await expect(cells).to_have_count(7)
    today = cells.last
    await expect(today).to_have_attribute("data-status", "failed")
    await expect(today).to_contain_text("échec")
    # days before the job was known are blank, not "non reçue"
    for i in range(4):
        await expect(cells.nth(i)).to_have_attribute("data-status", "before")
        await expect(cells.nth(i)).to_have_text("")
    async with page.expect_navigation():
        await today.locator("a").click()
    assert page.url.endswith(f"/events/{event_id}")
    await expect(page.locator("main")).to_contain_text("Backup SQL : échec")
    await page.context.close()
