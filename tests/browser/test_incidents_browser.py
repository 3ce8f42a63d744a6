"""Site incidents and storms in Debian's Chromium (issue 22), on the real stack in-process:
Temporal dev server, worker with the real activities, the intake's store and router, the
console over HTTP.

* the same check failing at three clients within minutes is one banner on the queue with its
  count; one click acknowledges every case, each in its own ledger;
* a site whose link is down is one incident on the queue, its servers' alerts folded under it.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import Session, col, select

from models.tables import AlertEventRow, AuditEvent, Case
from records.incidents import CHILD
from tests.browser.test_console_browser import PROBE, Stack, fresh_id, signed_in

pytestmark = pytest.mark.browser
# The ``stack`` and ``browser`` fixtures come from test_console_browser through conftest.py.


async def children_routed(stack: Stack, hosts: set[str], within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with Session(stack.engine) as s:
            kept = {r.host for r in s.exec(select(AlertEventRow).where(
                AlertEventRow.triage == CHILD))}
        if hosts <= {h.lower() for h in kept if h}:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{hosts} never kept under the incident")


async def test_a_storm_across_clients_is_one_banner_with_a_bulk_acknowledge(
        stack: Stack, browser: Browser) -> None:
    ids = [await stack.probe(domain, host, "service", "veeam-agent", "agent Veeam arrêté")
           for domain, host in (("client-a.example", "SRV-APP"),
                                ("client-b.example", "SRV-FILE01"),
                                ("client-c.example", "SRV-01"))]
    page = await signed_in(browser, stack, "technician")
    await page.goto("/queue")
    banner = page.locator(".storm-banner").filter(has_text="veeam") \
        if await page.locator(".storm-banner").count() > 1 else page.locator(".storm-banner")
    await expect(banner).to_be_visible()
    await expect(banner.locator(".storm-count")).to_have_text("3")
    async with page.expect_navigation():
        await banner.locator("form.storm-ack button").click()
    await expect(page.locator(".flash.ok")).to_contain_text("3 cas, 0 refusés")
    with Session(stack.engine) as s:
        for case_id in ids:
            case = s.get(Case, case_id)
            assert case is not None and case.assignee == "tech"
            assigned = s.exec(select(AuditEvent).where(
                AuditEvent.case_id == case_id, AuditEvent.action == "assign")).all()
            assert len(assigned) == 1  # each case keeps its own ledger line
    await page.context.close()


async def test_a_site_incident_shows_once_with_its_children_folded(
        stack: Stack, browser: Browser) -> None:
    # client A's domain controller (site Lyon) reports its site's VPN down: the incident
    incident = await stack.probe("client-a.example", "SRV-DC01", "vpn", "SITE-LYON",
                                 "VPN coupé")
    for host, target in (("SRV-FILE01", "spooler"), ("SRV-FILE01", "sqlserver"),
                         ("SRV-APP", "iis")):
        await stack.mail(PROBE.format(domain="client-a.example", host=host, check="service",
                                      target=target, subject=f"{target} arrêté",
                                      msgid=fresh_id("m")), "vigie-probe@client-a.example")
    await children_routed(stack, {"srv-file01", "srv-app"})
    with Session(stack.engine) as s:
        assert s.exec(select(Case).where(col(Case.check) == "service",
                                         col(Case.host).in_(("srv-file01", "SRV-FILE01")),
                                         Case.client_id == stack.clients["client-a"])
                      ).all() == []  # no case of their own
    page = await signed_in(browser, stack, "technician")
    await page.goto("/queue")
    row = page.locator(f'tr[data-case="{incident}"]')
    await expect(row).to_be_visible()
    folded = row.locator("details.incident-children")
    await expect(folded.locator("summary")).to_contain_text("3 alertes rattachées")
    first_child = folded.locator("li").first
    await expect(first_child).to_be_hidden()  # folded until asked
    await folded.locator("summary").click()
    await expect(first_child).to_be_visible()
    await page.wait_for_timeout(6_000)  # past a live refresh of the rows
    await expect(row.locator("details.incident-children li").first).to_be_visible()
    await page.goto(f"/cases/{incident}")
    await expect(page.locator("#incident-children tr[data-child-state]")).to_have_count(3)
    await page.context.close()
