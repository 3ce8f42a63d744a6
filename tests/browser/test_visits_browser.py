"""A preventive visit in Debian's Chromium, on the real stack in-process (Temporal dev server,
the worker with every real activity, the console on a loopback port, one SQLite database):

the planner plans next year and proposes two dates; the client confirms from the link in the
captured mail; the consultant starts the visit, fills the checklist (one answer typed while
the network is cut reaches the desk when it is back), writes the report and sends it; the
client reads it in the portal, with the technical document.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from base.settings import Settings, get_settings
from console.app import create_app
from domain.calendar import site_business_days
from models.db import make_engine, migrate
from models.tables import Communication, Site
from models.visits import ChecklistAnswer, Visit, VisitEvent
from tests.browser.support import PASSWORD, ROLE_USERS, load_demo_clients
from tests.browser.test_console_browser import CHROMIUM, CHROMIUM_ARGS, ConsoleServer
from tests.conftest import fresh_id, paris_today
from vigie.temporal import build_worker

pytestmark = pytest.mark.browser
LINK = re.compile(r"https?://\S+/visits/answer/\S+")
SECRET = "browser-visit-links"


@dataclass
class Stack:
    base: str
    engine: Engine
    clients: dict[str, int]
    settings: Settings | None = None


@pytest.fixture(scope="module")
async def stack(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    async with open_stack(dev_env, tmp_path_factory.mktemp("visits-browser")) as opened:
        yield opened


@asynccontextmanager
async def open_stack(dev_env: Any, var: Path, **changes: Any) -> AsyncIterator[Stack]:
    """The stack on ``var``; ``changes`` go to the console's settings (e.g. its day)."""
    url = f"sqlite:///{var / 'vigie.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    clients = load_demo_clients(engine)
    queue = fresh_id("visits")
    client = dev_env.client
    settings = Settings(
        var_dir=var,
        temporal_address=client.service_client.config.target_host,
        temporal_namespace=client.namespace,
        task_queue=queue,
        secret_key="browser-test-key",
        visit_link_secret=SECRET,
        team_email="equipe@desk.example",
        **changes,
    )
    server = ConsoleServer(create_app(settings, engine))
    base = f"http://127.0.0.1:{server.port}"
    # the worker's activities read the environment's settings: the same key and address
    saved = {k: os.environ.get(k) for k in ("VIGIE_VISIT_LINK_SECRET", "VIGIE_PUBLIC_URL",
                                            "VIGIE_VAR_DIR", "VIGIE_TEAM_EMAIL")}
    os.environ.update({"VIGIE_VISIT_LINK_SECRET": SECRET, "VIGIE_PUBLIC_URL": base,
                       "VIGIE_VAR_DIR": str(var), "VIGIE_TEAM_EMAIL": "equipe@desk.example"})
    get_settings.cache_clear()
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            async with build_worker(client, engine, queue, pool):
                with server as started:
                    assert started == base
                    yield Stack(base, engine, clients, settings)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
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
    assert "/login" not in page.url, await page.content()
    return page


async def eventually(check: Any, within: float = 30.0, every: float = 0.25) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(every)


async def reload_until(page: Page, selector: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while await page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"{selector} never appeared"
        await asyncio.sleep(0.5)
        await page.reload()


async def test_a_visit_from_the_proposal_to_the_report_in_the_portal(
    stack: Stack, browser: Browser
) -> None:
    year = paris_today().year + 1
    client_a = stack.clients["client-a"]

    # --- the planner plans next year and proposes two dates --------------------------------
    planner = await signed_in(browser, stack, "planner")
    await planner.goto(f"/planning?year={year}")
    async with planner.expect_navigation():
        await planner.click("#plan-year button")
    await expect(planner.locator(".flash.ok")).to_contain_text("planifiée")

    def first_visit() -> Visit | None:
        with Session(stack.engine) as s:
            return s.exec(select(Visit).where(Visit.client_id == client_a,
                                              Visit.contract_year == year)
                          .order_by(col(Visit.due_start))).first()

    visit = await eventually(first_visit)
    with Session(stack.engine) as s:
        site = s.get(Site, visit.site_id)
        subdiv = site.calendar_subdiv if site else None
    days = site_business_days(subdiv, visit.due_start + dt.timedelta(days=10), visit.due_end)
    await planner.click(f'#to-plan tr[data-visit="{visit.id}"] a')
    await planner.wait_for_url(f"**/visits/{visit.id}")
    await reload_until(planner, "form.action-propose")
    form = planner.locator("form.action-propose")
    await form.locator("input[name=date1]").fill(days[0].isoformat())
    await form.locator("input[name=date2]").fill(days[3].isoformat())
    async with planner.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(planner.locator(".flash.ok")).to_be_visible()
    await reload_until(planner, "#visit-state:has-text('en attente du client')")

    # --- the client confirms from the mail's link ---------------------------------------------
    def proposal_mail() -> Communication | None:
        with Session(stack.engine) as s:
            return s.exec(select(Communication).where(
                Communication.step == "visit_proposal",
                col(Communication.key).startswith(f"VIS-{visit.id:05d}:"),
                Communication.status == "sent")).first()

    mail = await eventually(proposal_mail)
    assert "claire.durand@client-a.example" in mail.recipient
    links = LINK.findall(mail.body)
    assert len(links) == 3 and all(u.startswith(stack.base) for u in links)
    reader = await (await browser.new_context()).new_page()
    await reader.goto(links[1])  # the second date
    await expect(reader.locator("#answer-date")).to_be_visible()
    async with reader.expect_navigation():
        await reader.click("#answer-submit")
    await expect(reader.locator("#answer-done")).to_contain_text("confirmée")
    await reader.context.close()
    await planner.reload()
    await expect(planner.locator("#visit-state")).to_have_text("confirmée")
    await expect(planner.locator("#visit-date")).to_have_text(f"{days[3]:%d/%m/%Y}")
    await planner.context.close()

    # --- the consultant runs it: checklist, report -----------------------------------------
    consultant = await signed_in(browser, stack, "consultant")
    assert consultant.url.endswith("/visits/mine")
    await consultant.click(f'#my-visits tr[data-visit="{visit.id}"] a')
    async with consultant.expect_navigation():
        await consultant.click("form.action-start button")
    await expect(consultant.locator("#visit-state")).to_have_text("en cours")
    rows = consultant.locator("#checklist-form tr[data-item]")
    keys = [await rows.nth(i).get_attribute("data-item") for i in range(await rows.count())]
    assert "ups" in keys and "backups" in keys
    def answers() -> dict[str, tuple[str, str]]:
        with Session(stack.engine) as s:
            return {a.item_key: (a.answer, a.notes) for a in s.exec(
                select(ChecklistAnswer).where(ChecklistAnswer.visit_id == visit.id)).all()}

    for key in keys:
        if key in ("ups", "redundancy"):
            continue
        row = consultant.locator(f'tr[data-item="{key}"]')
        await row.locator("input[value=ok]").check()
        await expect(row.locator(".saved")).to_have_text("✓ enregistré")
    ups = consultant.locator('tr[data-item="ups"]')
    await ups.locator("input[value=ko]").check()
    await ups.locator("textarea").fill("Batterie de l'onduleur à remplacer")
    await expect(ups.locator(".saved")).to_have_text("✓ enregistré")
    await eventually(lambda: answers().get("ups", ("", ""))[1].startswith("Batterie"))
    # the network drops: the next answer waits on the laptop, then reaches the desk
    await consultant.context.set_offline(True)
    red = consultant.locator('tr[data-item="redundancy"]')
    await red.locator("input[value=na]").check()
    await expect(red.locator(".saved")).to_have_text("en attente du réseau")
    await consultant.context.set_offline(False)
    await expect(red.locator(".saved")).to_have_text("✓ enregistré", timeout=15_000)

    saved = await eventually(lambda: (a := answers()) and len(a) == len(keys) and a)
    assert saved["ups"] == ("ko", "Batterie de l'onduleur à remplacer")
    assert saved["redundancy"][0] == "na"
    await consultant.reload()
    form = consultant.locator("form.action-write_report")
    await form.locator("textarea[name=advice]").fill("Remplacer la batterie de l'onduleur")
    await form.locator("textarea[name=questions]").fill(
        "Sauvegarde externalisée ? Oui, chaque soir.")
    async with consultant.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(consultant.locator("#visit-state")).to_have_text("rapport rédigé")
    await reload_until(consultant, "#report-link")
    async with consultant.expect_navigation():
        await consultant.click("form.action-send_report button")
    await reload_until(consultant, "#visit-state:has-text('rapport envoyé')")
    await consultant.context.close()

    # --- the client reads it in the portal -----------------------------------------------------
    client = await signed_in(browser, stack, "client")
    await client.goto("/portal/documents")
    await client.click(f'#portal-visits tr[data-visit="{visit.id}"] a.report-link')
    report = client.locator("#visit-report")
    await expect(report).to_contain_text("Cabinet Durand")
    await expect(report.locator("tr.answer-ko")).to_contain_text("Onduleurs")
    await expect(report).to_contain_text("Remplacer la batterie de l'onduleur")
    await expect(report).to_contain_text("Sauvegarde externalisée")
    pdf = await client.request.get(f"/visits/{visit.id}/report.pdf")
    assert pdf.status == 200 and (await pdf.body()).startswith(b"%PDF")
    await client.goto("/portal/documents")
    await expect(client.locator("#portal-techdoc")).to_contain_text("SRV-DC01")
    await client.context.close()

    def team_mail() -> Communication | None:
        with Session(stack.engine) as s:
            return s.exec(select(Communication).where(
                Communication.step == "visit_report",
                col(Communication.key).startswith(f"VIS-{visit.id:05d}:"))).first()

    sent = await eventually(team_mail)
    assert sent.recipient == "equipe@desk.example" and "application/pdf" in sent.raw
    with Session(stack.engine) as s:  # what the consultant typed is in the visit's ledger
        line = s.exec(select(VisitEvent).where(VisitEvent.visit_id == visit.id,
                                               VisitEvent.action == "write_report")).one()
    assert line.data["advice"] == "Remplacer la batterie de l'onduleur"
    assert line.actor == ROLE_USERS["consultant"]
