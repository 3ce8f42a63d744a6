"""A contract from signature to service, in Debian's Chromium on the real stack (Temporal dev
server, worker with the real activities, console on a loopback port, one SQLite database):
an administrator records the contract and its 3.1 checklist with evidence, a manager waives
the one item still open with a reason and puts the contract in service; the planner then
sees the client's first visit entitlement, which was not there during onboarding."""

from __future__ import annotations

import concurrent.futures
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from base.settings import Settings
from console.app import create_app
from models.contracts import Contract
from models.db import make_engine, migrate, session_scope
from models.tables import Client, Server, Site
from models.visits import Visit
from tests.browser.support import PASSWORD, ROLE_USERS, load_demo_clients
from tests.browser.test_console_browser import CHROMIUM, CHROMIUM_ARGS, ConsoleServer
from tests.conftest import fresh_id
from tests.test_contract_workflows import fresh_visit_ids
from vigie.temporal import build_worker

pytestmark = pytest.mark.browser
WAIVED = "server_room_phone"


@dataclass
class Stack:
    base: str
    engine: Engine
    client_id: int


@pytest.fixture(scope="module")
async def stack(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    var = tmp_path_factory.mktemp("contract-browser")
    url = f"sqlite:///{var / 'vigie.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    fresh_visit_ids(engine, load_demo_clients(engine)["client-a"])
    with session_scope(engine) as s:  # a new client: 5 users, one server (1 day on site)
        client = Client(code="client-e", name="Boulangerie Martin", users=5)
        s.add(client)
        s.flush()
        site = Site(client_id=client.id or 0, name="Annecy")
        s.add(site)
        s.flush()
        s.add(Server(client_id=client.id or 0, site_id=site.id, hostname="srv-martin"))
        client_id = client.id or 0
    queue = fresh_id("contract-ui")
    env_client = dev_env.client
    settings = Settings(var_dir=var, temporal_address=env_client.service_client.config.target_host,
                        temporal_namespace=env_client.namespace, task_queue=queue,
                        secret_key="contract-browser-key")
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        async with build_worker(env_client, engine, queue, pool):
            with ConsoleServer(create_app(settings, engine)) as base:
                yield Stack(base, engine, client_id)
            # workflow ids are per database (``visit-{id}``) and the dev server is shared by
            # the session: what this module started ends with it
            with Session(engine) as s:
                ids = [v.workflow_id for v in s.exec(select(Visit))]
                ids += [c.onboarding_workflow_id for c in s.exec(select(Contract))]
            for wid in ids:
                try:
                    await env_client.get_workflow_handle(wid).terminate("end of module")
                except Exception:
                    pass
    engine.dispose()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def signed_in(browser: Browser, stack: Stack, role: str) -> Page:
    context = await browser.new_context(base_url=stack.base)
    page = await context.new_page()
    await page.goto("/login")
    await page.fill("input[name=username]", ROLE_USERS[role])
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    assert "/login" not in page.url
    return page


async def test_admin_records_the_checklist_a_manager_waives_one_item_and_service_starts(
    stack: Stack, browser: Browser
) -> None:
    admin = await signed_in(browser, stack, "admin")
    await admin.goto("/contracts")
    form = admin.locator("#new-contract")
    await form.locator("select[name=client_id]").select_option(str(stack.client_id))
    async with admin.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(admin.locator("#contract-status")).to_have_attribute("data-status", "onboarding")
    contract_url = admin.url
    # the onboarding workflow sizes it (5 users, 1 server: 1 day) and books the visit
    for _ in range(50):
        if await admin.locator("#onboarding-state").count() and "sondes" in (
                await admin.locator("#onboarding-state").inner_text()):
            break
        await admin.wait_for_timeout(200)
        await admin.reload()
    await expect(admin.locator("#onboarding-days")).to_have_text("1")

    planner = await signed_in(browser, stack, "planner")
    await planner.goto("/planning")
    assert await planner.locator('#entitlements tr[data-client="client-e"]').count() == 0

    codes = await admin.locator("#prerequisites tr[data-status=open]").evaluate_all(
        "rows => rows.map(r => r.dataset.code)")
    assert WAIVED in codes and "fixed_ip" in codes
    for code in codes:
        if code == WAIVED:
            continue
        row = admin.locator(f'#prerequisites tr[data-code="{code}"] form.record-prereq')
        if code == "fixed_ip":
            await row.locator("input[name=value]").fill("203.0.113.40")
        await row.locator("input[name=evidence]").fill(f"vérifié sur site ({code})")
        async with admin.expect_navigation():
            await row.locator("button[type=submit]").click()
        await expect(admin.locator(f'#prerequisites tr[data-code="{code}"]')).to_have_attribute(
            "data-status", "met")
    # the administrator cannot start the service with the phone line missing: no waiver
    # form for them to hide it, and the manager's activation is refused until the waiver
    manager = await signed_in(browser, stack, "manager")
    await manager.goto(contract_url)
    async with manager.expect_navigation():
        await manager.locator("#activate button").click()
    await expect(manager.locator(".flash.error")).to_contain_text(
        "Ligne téléphonique dans la salle serveur")
    await expect(manager.locator("#contract-status")).to_have_attribute("data-status",
                                                                         "onboarding")
    waive = manager.locator(f'#prerequisites tr[data-code="{WAIVED}"] form.waive-prereq')
    await waive.locator("input[name=reason]").fill("ligne posée le 15/12, GSM de secours")
    async with manager.expect_navigation():
        await waive.locator("button[type=submit]").click()
    await expect(manager.locator(f'#prerequisites tr[data-code="{WAIVED}"]')).to_have_attribute(
        "data-status", "waived")
    async with manager.expect_navigation():
        await manager.locator("#activate button").click()
    await expect(manager.locator(".flash.ok")).to_be_visible()
    await expect(manager.locator("#contract-status")).to_have_attribute("data-status", "active")
    await expect(manager.locator("#contract-timeline")).to_contain_text("GSM de secours")

    await planner.goto("/planning")
    row = planner.locator('#entitlements tr[data-client="client-e"]')
    await expect(row).to_be_visible()
    await expect(row.locator(".owed")).to_have_text("2")
    with Session(stack.engine) as s:
        contract = s.exec(select(Contract).where(Contract.client_id == stack.client_id)).one()
        client = s.get(Client, stack.client_id)
    assert contract.status == "active" and contract.onboarding_days == 1
    assert client is not None and client.fixed_ips == "203.0.113.40"
    for page in (admin, manager, planner):
        await page.context.close()
