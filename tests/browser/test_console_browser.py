"""The console in Debian's Chromium, on the real stack in-process: a Temporal dev server, a
worker with the real activities, the intake's store and router, the console served by
uvicorn on a loopback port, one SQLite database.

A technician sees a new case appear and runs its guided steps; a manager exports the SLA
view; a client user cannot reach another company's case or any staff page; a hostile alert
mail stays inert in a real browser.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from base.settings import Settings
from console.app import create_app
from contracts.codec import with_codec
from intake.router import Router
from intake.store import accept
from messages.cases import ActionInput, Criticality
from models.db import make_engine, migrate
from models.tables import AuditEvent, Case
from tests.browser.support import PASSWORD, ROLE_USERS, load_demo_clients
from tests.conftest import fresh_id
from vigie.temporal import build_worker

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PROBE = """From: vigie-probe@{domain}
To: alerts@desk.example
Date: Mon, 23 Nov 2026 10:35:00 +0100
Message-ID: <{msgid}@{domain}>
Subject: [VIGIE] {host} PROBLEM {check}: {subject}
Content-Type: text/plain; charset=utf-8

Host: {host}
Check: {check}
Target: {target}
Status: PROBLEM
Severity: major
Value: 4
Threshold: 10
"""
HOSTILE = (
    "From: vigie-probe@client-a.example\r\n"
    "To: alerts@desk.example\r\n"
    "Message-ID: <hostile-{n}@client-a.example>\r\n"
    "Subject: [VIGIE] SRV-APP PROBLEM service: <script>window.__xss=1</script>"
    '<img src=x onerror="window.__xss=2">\r\n'
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "Host: SRV-APP\r\nCheck: service\r\nTarget: spooler\r\nStatus: PROBLEM\r\n"
    "Note: <script>window.__xss=3</script><img src=x onerror=window.__xss=4>\r\n"
    "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    "<p>Service <b>arrêté</b></p><script>window.__xss=5</script>"
    '<img src="x" onerror="window.__xss=6"><a href="javascript:window.__xss=7">lien</a>\r\n'
    "--b--\r\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    base: str
    engine: Engine
    router: Router
    clients: dict[str, int]
    sent: int = 0

    async def mail(self, data: str, sender: str) -> None:
        """A message through the intake's durable store and router, as SMTP would."""
        await asyncio.to_thread(
            accept,
            self.engine,
            data.encode(),
            mail_from=sender,
            rcpt_to="alerts@desk.example",
            peer_ip="127.0.0.1",
        )
        await self.router.drain_once()

    async def probe(self, domain: str, host: str, check: str, target: str, subject: str) -> int:
        """Sends a probe mail and waits for its case row (written by the open_case activity)."""
        self.sent += 1
        await self.mail(
            PROBE.format(
                domain=domain,
                host=host,
                check=check,
                target=target,
                subject=subject,
                msgid=fresh_id("m"),
            ),
            f"vigie-probe@{domain}",
        )
        return await self.case_for(host, check)

    async def classify(self, case_id: int, criticality: str) -> None:
        """A technician's classification, through the case workflow's update."""
        with Session(self.engine) as s:
            case = s.get(Case, case_id)
            assert case is not None
            workflow_id = case.workflow_id
        handle = self.router.client.get_workflow_handle(workflow_id)
        await handle.execute_update(
            "classify", ActionInput(actor="tech", criticality=Criticality(criticality)))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with Session(self.engine) as s:
                case = s.get(Case, case_id)
                if case is not None and case.criticality == criticality:
                    return
            await asyncio.sleep(0.1)
        raise AssertionError(f"case {case_id} never classified {criticality}")

    async def case_for(self, host: str, check: str, within: float = 30) -> int:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with Session(self.engine) as s:
                found = s.exec(
                    select(Case.id).where(col(Case.host).ilike(host), Case.check == check)
                ).first()
            if found is not None:
                return found
            await asyncio.sleep(0.2)
        raise AssertionError(f"no case for {host}/{check}")


class ConsoleServer:
    """uvicorn in a thread, on a free loopback port: real HTTP for the browser."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "console did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
async def stack(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    var = tmp_path_factory.mktemp("console-browser")
    url = f"sqlite:///{var / 'vigie.sqlite3'}"
    migrate(url)
    engine = make_engine(url)
    clients = load_demo_clients(engine)
    queue = fresh_id("console")
    client = with_codec(dev_env.client, engine)  # the desk's codec, as the console's own
    settings = Settings(
        var_dir=var,
        temporal_address=client.service_client.config.target_host,
        temporal_namespace=client.namespace,
        task_queue=queue,
        secret_key="browser-test-key",
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        async with build_worker(client, engine, queue, pool):
            with ConsoleServer(create_app(settings, engine)) as base:
                yield Stack(base, engine, Router(engine, client, queue), clients)
    engine.dispose()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def dialogs() -> Iterator[list[str]]:
    yield []


async def signed_in(browser: Browser, stack: Stack, role: str) -> Page:
    context = await browser.new_context(base_url=stack.base, accept_downloads=True)
    page = await context.new_page()
    await page.goto("/login")
    await page.fill("input[name=username]", ROLE_USERS[role])
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    assert "/login" not in page.url, await page.content()
    return page


async def run_step(page: Page, action: str, **fields: str) -> None:
    """Fills and submits the guided step's form for ``action``; waits for the new page."""
    form = page.locator(f".steps .step form.action-{action}").first
    await expect(form).to_be_visible()
    for name, value in fields.items():
        await form.locator(f"[name={name}]").select_option(value)
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()


async def test_technician_sees_a_new_case_appear_and_runs_the_major_steps(
    stack: Stack, browser: Browser
) -> None:
    page = await signed_in(browser, stack, "technician")
    await page.goto("/queue")
    before = await page.title()
    assert before.startswith("(0) Vigie")
    case_id = await stack.probe("client-a.example", "SRV-DC01", "disk_free", "C:", "C: 4% free")
    # the open page refreshes itself: the row and the count in the title appear
    row = page.locator(f'tr[data-case="{case_id}"]')
    await expect(row).to_be_visible(timeout=15_000)
    await expect(page).to_have_title(re.compile(r"^\(1\) Vigie"))
    await row.locator("a").first.click()
    await page.wait_for_url(f"**/cases/{case_id}")
    assert "injoignable" not in await page.content()  # the workflow answered the query
    await expect(page.locator("#case-state")).to_have_text("nouveau")

    await run_step(page, "classify", criticality="major")
    await expect(page.locator(".flash.ok")).to_contain_text("Action enregistrée")
    await expect(page.locator("#case-criticality")).to_have_text("majeur/étendu")
    await run_step(page, "register_demande")
    await expect(page.locator("#case-state")).to_have_text("demande enregistrée")
    # the call: phone is preselected for a major case; the client was reached
    await run_step(page, "record_contact", channel="phone", outcome="reached")
    await expect(page.locator("#case-state")).to_have_text("client appelé")
    await run_step(page, "start_l1")
    await expect(page.locator("#case-state")).to_have_text("diagnostic N1 en cours")
    await expect(page.locator(".countdown")).to_contain_text(" min ")

    # a refused action comes back as the workflow's own sentence, shown plainly
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = await page.request.post(
        f"/cases/{case_id}/act/close", form={"csrf_token": token or ""}, max_redirects=0
    )
    assert refused.status == 303  # back to the case page, which says why
    await page.goto(f"/cases/{case_id}")
    await expect(page.locator(".flash.error")).to_be_visible()
    print("refusal shown:", await page.locator(".flash.error").inner_text())
    # and a post without the token is refused outright
    forged = await page.request.post(f"/cases/{case_id}/act/resolve", form={}, max_redirects=0)
    assert forged.status == 403

    with Session(stack.engine) as s:
        actions = s.exec(
            select(AuditEvent.action, AuditEvent.actor)
            .where(AuditEvent.case_id == case_id)
            .order_by(col(AuditEvent.seq))
        ).all()
    assert actions[0][0] == "open"
    assert [a for a, actor in actions if actor == "tech"] == [
        "assign",  # the first technician to act becomes the assignee
        "classify",
        "register_demande",
        "record_contact",
        "start_l1",
    ]
    await page.context.close()


async def test_manager_opens_the_sla_view_and_exports_csv(
    stack: Stack, browser: Browser, tmp_path: Path
) -> None:
    await stack.probe("client-c.example", "SRV-01", "cpu", "_Total", "CPU 99%")
    page = await signed_in(browser, stack, "manager")
    await page.goto("/sla")
    await expect(page.locator("#sla-table")).to_be_visible()
    total = page.locator("#sla-table tr.total")
    await expect(total).to_contain_text("Total")
    async with page.expect_download() as info:
        await page.click("#export-csv")
    download = await info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.name.startswith("vigie-sla-") and saved.suffix == ".csv"
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert rows[0][:2] == ["Groupe", "Cas"]
    by_group = {r[0]: r for r in rows[1:]}
    assert int(by_group["Total"][1]) >= 1
    assert "Garage Petit" in by_group
    # every number is a link to the cases behind it
    await total.locator("td a").first.click()
    await expect(page.locator("h1")).to_contain_text("Cas derrière le chiffre")
    await page.context.close()


async def test_a_client_user_cannot_reach_another_company_or_staff_pages(
    stack: Stack, browser: Browser
) -> None:
    own = await stack.probe("client-a.example", "SRV-FILE01", "disk_free", "D:", "D: 3% free")
    raw = await stack.probe("client-a.example", "SRV-FILE01", "cpu", "_Total", "CPU 99%")
    foreign = await stack.probe("client-b.example", "SRV-APP", "disk_free", "C:", "C: 2% free")
    for case_id in (own, foreign):  # a client sees its cases once a technician triaged them
        await stack.classify(case_id, "minor")
    page = await signed_in(browser, stack, "client")
    assert page.url.endswith("/portal")
    await expect(page.locator(f'a[href="/portal/cases/{own}"]')).to_be_visible()
    assert f"/portal/cases/{foreign}" not in await page.content()
    assert f"/portal/cases/{raw}" not in await page.content()  # the raw, untriaged alert
    response = await page.goto(f"/portal/cases/{own}")
    assert response is not None and response.status == 200
    # changing the id in the URL
    response = await page.goto(f"/portal/cases/{foreign}")
    assert response is not None and response.status == 404
    assert "SRV-APP" not in await page.content()
    for path in (
        f"/cases/{foreign}",
        f"/cases/{own}",
        "/queue",
        "/admin",
        "/admin/users",
        "/admin/clients",
        "/sla",
        "/unmatched",
    ):
        response = await page.goto(path)
        assert response is not None and response.status == 403, path
    await page.context.close()


async def test_a_hostile_alert_mail_stays_inert_in_the_browser(
    stack: Stack, browser: Browser
) -> None:
    await stack.mail(HOSTILE.format(n=fresh_id()), "vigie-probe@client-a.example")
    case_id = await stack.case_for("SRV-APP", "service")
    page = await signed_in(browser, stack, "technician")
    fired: list[str] = []
    page.on("dialog", lambda d: (fired.append(d.message), asyncio.ensure_future(d.dismiss())))
    for path in ("/queue", f"/cases/{case_id}"):
        await page.goto(path)
        await page.wait_for_load_state("networkidle")
    for summary in await page.locator("details summary").all():
        await summary.click()  # open the HTML part and the raw source too
    await page.wait_for_timeout(300)
    assert await page.evaluate("window.__xss === undefined")
    assert not fired
    assert await page.locator("main script, main img, main iframe").count() == 0
    assert await page.locator("[onerror], [onclick], a[href^='javascript:']").count() == 0
    # shown as text, exactly as received
    await expect(page.locator(".mail-subject").first).to_contain_text(
        "<script>window.__xss=1</script>"
    )
    await expect(page.locator(".mail-html b").first).to_have_text("arrêté")
    await page.context.close()
