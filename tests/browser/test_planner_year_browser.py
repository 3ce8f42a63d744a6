"""A planner's December in Debian's Chromium, on the real stack (Temporal dev server, the
worker with every real activity, the console on a loopback port, one SQLite database).

The console's day is fixed in December (``VIGIE_DESK_TODAY``), whatever the real date; the
workflows keep the server's clock. A visit whose window closed weeks ago is still owed: the
planner proposes it from the suggestion page in one click (dates after its window), the
client answers "none suits" through the mail's link, the planner's inbox shows it, and the
planner books a date agreed by phone; the mail's other links then show that date, with no
button.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from sqlmodel import Session, col, select

from contracts.codec import with_codec
from messages.visits import CancelVisit
from models.tables import Communication
from models.visits import Visit
from planning.launch import start_visit_workflow
from planning.rules import free_days
from planning.visits import create_visit
from tests.browser.test_visits_browser import (  # noqa: F401  (the module's fixtures)
    LINK,
    Stack,
    browser,
    eventually,
    open_stack,
    reload_until,
    signed_in,
)
from tests.conftest import paris_today

pytestmark = pytest.mark.browser
WINDOW = re.compile(r"(\d\d)/(\d\d)/(\d{4}) – (\d\d)/(\d\d)/(\d{4})")


def december_day() -> dt.date:
    """A December day never before the real one (the workflows' clock)."""
    today = paris_today()
    return max(today, dt.date(today.year, 12, 7))


@pytest.fixture(scope="module")
async def stack(dev_env: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    var = tmp_path_factory.mktemp("planner-year")
    async with open_stack(dev_env, var, desk_today=december_day().isoformat()) as opened:
        yield opened


def mail_of(stack: Stack, vid: int, step: str) -> Communication | None:
    with Session(stack.engine) as s:
        return s.exec(select(Communication).where(
            Communication.step == step, Communication.status == "sent",
            col(Communication.key).startswith(f"VIS-{vid:05d}:"))).first()


async def test_a_late_visit_proposed_in_one_click_none_suits_inbox_then_a_phone_date(
    stack: Stack, browser: Browser, dev_env: Any  # noqa: F811  (the imported fixture)
) -> None:
    today = december_day()
    real = paris_today()
    with Session(stack.engine) as s:
        # workflow ids are visit-{id} on the session's dev server: a cancelled placeholder
        # row moves this database's ids away from the other modules' (as visit_desk does)
        s.add(Visit(id=random.randrange(10**5, 10**8), client_id=stack.clients["client-a"],
                    contract_year=2000, due_start=dt.date(2000, 1, 1),
                    due_end=dt.date(2000, 1, 1), state="cancelled"))
        s.commit()
    with Session(stack.engine) as s:  # its window closed weeks ago, on both clocks
        site_visit = s.exec(select(Visit).where(
            Visit.client_id == stack.clients["client-a"])).first()
        visit = create_visit(s, stack.clients["client-a"], "preventive",
                             real - dt.timedelta(days=100), real - dt.timedelta(days=40),
                             site_id=site_visit.site_id if site_visit else None,
                             contract_year=today.year)
        s.commit()
        vid = visit.id or 0
    assert stack.settings is not None
    desk = with_codec(dev_env.client, stack.engine)  # the desk's codec, as its worker has
    await start_visit_workflow(desk, stack.engine, vid, stack.settings)

    # --- one click on the suggestion page ------------------------------------------------
    planner = await signed_in(browser, stack, "planner")
    await planner.goto(f"/planning/suggest?year={today.year}")
    row = planner.locator(f'#suggestions tr[data-visit="{vid}"]')
    await expect(row).to_be_visible()
    for text in await planner.locator("#suggestions td").all_inner_texts():
        for d1, m1, y1, d2, m2, y2 in WINDOW.findall(text):  # no window backwards
            assert (y1, m1, d1) <= (y2, m2, d2), text
    offered = re.findall(r"\d\d/\d\d/\d{4}", (await row.locator("td").nth(3).inner_text()))
    assert len(offered) >= 2, offered
    async with planner.expect_navigation():
        await row.locator("button[type=submit]").click()
    await expect(planner.locator(".flash.ok")).to_be_visible()

    # --- the client: none of these suit --------------------------------------------------
    mail = await eventually(lambda: mail_of(stack, vid, "visit_proposal"))
    links = LINK.findall(mail.body)
    assert len(links) == len(offered) + 1
    reader = await (await browser.new_context()).new_page()
    await reader.goto(links[-1])
    await expect(reader.locator("#answer-none")).to_be_visible()
    async with reader.expect_navigation():
        await reader.click("#answer-submit")
    await expect(reader.locator("#answer-done")).to_contain_text("autres dates")

    # --- the planner's inbox shows it, with its action -----------------------------------
    await planner.goto("/planning/inbox")
    await reload_until(planner, f'#inbox tr[data-kind="none_suits"][data-visit="{vid}"]')
    async with planner.expect_navigation():
        await planner.click(f'#inbox tr[data-visit="{vid}"] a.inbox-action')
    assert f"/visits/{vid}" in planner.url
    await expect(planner.locator("#visit-late")).to_be_visible()  # late by n business days
    await expect(planner.locator("#visit-proposed")).to_have_count(0)  # no open proposal

    # --- a date agreed by phone ----------------------------------------------------------
    with Session(stack.engine) as s:
        row_now = s.get(Visit, vid)
        assert row_now is not None
        taken = {dt.date(int(y), int(m), int(d)) for d, m, y in
                 (x.split("/") for x in offered)}
        phone = next(d for d in free_days(s, row_now, row_now.consultant_id, today, 10)
                     if d not in taken)
    form = planner.locator("form#confirm")
    await form.locator("input[name=phone_date]").fill(phone.isoformat())
    async with planner.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(planner.locator(".flash.ok")).to_be_visible()
    await reload_until(planner, "#visit-state:has-text('confirmée')")
    await expect(planner.locator("#visit-date")).to_have_text(f"{phone:%d/%m/%Y}")
    await expect(planner.locator("#visit-mails details.mail")).not_to_have_count(0)

    # --- the mail's first link now shows the booked date, with no button -----------------
    await reader.goto(links[0])
    await expect(reader.locator("#answer-done")).to_contain_text(f"{phone.day}")
    await expect(reader.locator("#answer-done")).to_contain_text("confirmée le")
    await expect(reader.locator("#answer-submit")).to_have_count(0)
    await reader.context.close()
    await planner.context.close()
    await desk.get_workflow_handle(f"visit-{vid}").execute_update(
        "cancel", CancelVisit("planner", "fin du test"))  # no timer left on the server
