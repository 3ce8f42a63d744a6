"""A technician's day in Debian's Chromium (issue 10), on the real stack in-process: the
Temporal dev server (with the case search attributes), a worker with the real activities
(mail captured, calls in dry-run), the intake's store and router, the console over HTTP.

Instructions typed and sent by mail from a minor case, a call report on the timeline, no
running clock once a case is resolved, a major case whose calls all fail keeps its first
contact open after the fallback mail, and the live queue's counts equal its rows.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect
from sqlmodel import Session, col, select

from models.tables import AuditEvent, Case, Communication
from tests.browser.test_console_browser import Stack, signed_in

pytestmark = pytest.mark.browser
# The ``stack`` and ``browser`` fixtures come from test_console_browser through conftest.py.


async def step(page: Page, action: str, where: str = ".steps .step", **fields: str) -> None:
    """Fills the form of ``action`` (selects chosen, text typed) and submits it."""
    form = page.locator(f"{where} form.action-{action}").first
    await expect(form).to_be_visible()
    for name, value in fields.items():
        field = form.locator(f"[name={name}]")
        if await field.evaluate("el => el.tagName") == "SELECT":
            await field.select_option(value)
        else:
            await field.fill(value)
    async with page.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(page.locator(".flash.ok")).to_contain_text("Action enregistrée")


async def open_case(page: Page, case_id: int) -> None:
    await page.goto(f"/cases/{case_id}")
    assert "injoignable" not in await page.content()


async def wait_for_state(page: Page, case_id: int, state: str) -> None:
    """Reload until the workflow's news (a sent mail, a call's outcome) reached the page."""
    for _ in range(60):
        await open_case(page, case_id)
        if (await page.locator("#case-state").inner_text()) == state:
            return
        await page.wait_for_timeout(500)
    raise AssertionError(f"case {case_id} never became {state}")


def ledger(stack: Stack, case_id: int) -> list[AuditEvent]:
    with Session(stack.engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.case_id == case_id)
                           .order_by(col(AuditEvent.seq))).all())


async def test_instructions_typed_on_a_minor_case_are_mailed_and_shown(
    stack: Stack, browser: Browser
) -> None:
    case_id = await stack.probe("client-a.example", "SRV-FILE01", "disk_free", "E:", "E: 5%")
    page = await signed_in(browser, stack, "technician")
    await open_case(page, case_id)
    # no class is preselected, and there is nothing to reclassify yet
    classify = page.locator(".steps .step form.action-classify select[name=criticality]")
    assert await classify.input_value() == ""
    await expect(page.locator("details.more form.action-classify")).to_have_count(0)
    await step(page, "classify", criticality="minor")
    await expect(page.locator("#case-assignee")).to_have_text("tech")  # first to act
    await page.goto("/queue?mine=1")  # so "Mes cas" lists it
    await expect(page.locator(f'tr[data-case="{case_id}"]')).to_be_visible()
    await open_case(page, case_id)
    await expect(page.locator("details.more form.action-classify")).to_have_count(1)

    text = "Videz la corbeille de E: puis relancez la sauvegarde de 22 h."
    form = page.locator(".steps form.action-send_instructions")
    assert await form.locator("select[name=channel] option").all_inner_texts() == [
        "mail", "SMS (300 caractères au plus)", "appel automatisé (puis mail)"]
    await step(page, "send_instructions", text=text, channel="email")
    await wait_for_state(page, case_id, "consignes transmises au client")
    # the instructions are on the case page (timeline), and the mail that carried them
    await expect(page.locator("#timeline blockquote.report").first).to_have_text(text)
    with Session(stack.engine) as s:
        mail = s.exec(select(Communication).where(Communication.case_id == case_id,
                                                  Communication.channel == "email")).one()
    assert text in mail.body and mail.status == "sent"
    await expect(page.locator("main")).to_contain_text(mail.subject)
    # the mail as it left, readable on the case page: its headers and its body
    await page.reload()
    sent_mail = page.locator(f"#comm-{mail.id}")
    headers = sent_mail.locator(".comm-headers")
    await expect(headers).to_contain_text("claire.durand@client-a.example")
    await expect(sent_mail.locator(".comm-body")).to_contain_text(text)
    sent = [a for a in ledger(stack, case_id) if a.action == "send_instructions"]
    assert [(a.actor, a.data["channel"], a.data["text"]) for a in sent] == [
        ("tech", "email", text)]
    await page.context.close()


async def test_a_call_report_is_kept_in_the_ledger_and_shown_on_the_timeline(
    stack: Stack, browser: Browser
) -> None:
    case_id = await stack.probe("client-b.example", "SRV-DC01", "disk_free", "C:", "C: 6%")
    page = await signed_in(browser, stack, "level2")
    await open_case(page, case_id)
    await step(page, "classify", criticality="minor")
    report = "Julien Martin joint : il purge les profils ce soir, rappel demain 9 h."
    await step(page, "record_contact", channel="phone", outcome="reached", text=report)
    await expect(page.locator("#case-state")).to_have_text("consignes transmises au client")
    await expect(page.locator("#timeline li").filter(has_text="contact client")
                 .locator("blockquote.report")).to_have_text(report)
    (line,) = [a for a in ledger(stack, case_id) if a.action == "record_contact"]
    assert line.data == {"channel": "phone", "outcome": "reached", "text": report}
    await expect(page.locator("#case-assignee")).to_have_text("n2")
    await page.context.close()


async def test_a_resolved_case_shows_no_running_countdown(
    stack: Stack, browser: Browser
) -> None:
    case_id = await stack.probe("client-c.example", "SRV-01", "disk_free", "D:", "D: 1%")
    page = await signed_in(browser, stack, "technician")
    await open_case(page, case_id)
    await step(page, "classify", criticality="major")
    await step(page, "register_demande")
    await step(page, "record_contact", channel="phone", outcome="reached")
    await step(page, "start_l1")
    await expect(page.locator(".countdown")).to_contain_text(" min ")
    await step(page, "resolve")
    await expect(page.locator("#case-state")).to_have_text("résolu")
    await expect(page.locator(".countdown, [data-deadline]")).to_have_count(0)
    await expect(page.locator("dd.l1-ended")).to_contain_text("diagnostic N1 terminé")
    await page.wait_for_timeout(1500)  # a script ticking a clock would have changed it
    ended = await page.locator("dd.l1-ended").inner_text()
    await page.reload()  # as after a restart: the same figures, still no clock
    await expect(page.locator("dd.l1-ended")).to_have_text(ended)
    await expect(page.locator(".countdown, [data-deadline]")).to_have_count(0)
    await page.context.close()


async def test_a_major_case_whose_calls_all_fail_has_no_first_contact_after_the_fallback_mail(
    stack: Stack, browser: Browser
) -> None:
    case_id = await stack.probe("client-b.example", "SRV-APP", "cpu", "_Total", "CPU 100%")
    page = await signed_in(browser, stack, "technician")
    await open_case(page, case_id)
    await step(page, "classify", criticality="major")
    await step(page, "register_demande")
    # every call is a dry run (nobody answers), then the fallback mail goes out
    for _ in range(60):
        with Session(stack.engine) as s:
            fallback = s.exec(select(Communication).where(
                Communication.case_id == case_id,
                Communication.step == "l1_call_fallback")).first()
        if fallback is not None and any(
                a.data.get("step") == "l1_call_fallback" for a in ledger(stack, case_id)):
            break
        await page.wait_for_timeout(500)
    else:
        raise AssertionError("no fallback mail")
    await open_case(page, case_id)
    await expect(page.locator("#case-state")).to_have_text("demande enregistrée")
    await expect(page.locator("main")).to_contain_text(fallback.subject)  # sent and shown
    contact_row = page.locator("table.sla-figures tr").filter(
        has_text="Délai du premier contact client")
    await expect(contact_row).not_to_contain_text("respecté")
    await expect(contact_row).to_contain_text("en cours")
    await expect(page.locator(".steps .step").first).to_contain_text(
        "Personne n'a été joint par téléphone")
    await expect(page.locator("#timeline")).to_contain_text("reste à faire")
    # a person reached by phone is what ends it
    await step(page, "record_contact", channel="phone", outcome="reached")
    await expect(page.locator("#case-state")).to_have_text("client appelé")
    await expect(page.locator("table.sla-figures tr").filter(
        has_text="Délai du premier contact client")).to_contain_text("respecté")
    await page.context.close()


async def test_an_english_reader_sees_the_failed_calls_and_the_timeline_in_english(
    stack: Stack, browser: Browser
) -> None:
    """Issue 25: the case the workflow wrote in French (call lines, fallback mail, the first
    contact still due) reads in English with ``?lang=en``: state, next step, SLA row and
    every timeline line the desk wrote; the numbers and times are Babel's."""
    case_id = await stack.probe("client-b.example", "SRV-APP", "memory", "RAM", "RAM 99%")
    page = await signed_in(browser, stack, "technician")
    await open_case(page, case_id)
    await step(page, "classify", criticality="major")
    await step(page, "register_demande")
    for _ in range(60):  # the dry-run calls, then the fallback mail, reach the ledger
        if any(a.data.get("step") == "l1_call_fallback" for a in ledger(stack, case_id)):
            break
        await page.wait_for_timeout(500)
    else:
        raise AssertionError("no fallback mail")
    await page.goto(f"/cases/{case_id}?lang=en")
    await expect(page.locator("#case-state")).to_have_text("request registered")
    await expect(page.locator(".steps .step").first).to_contain_text(
        "Nobody was reached by phone")
    await expect(page.locator("table.sla-figures tr").filter(
        has_text="Time to first client contact")).to_contain_text("running")
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text("call 1/")
    await expect(timeline).to_contain_text("no contact reached by phone; fallback mail")
    await expect(timeline).to_contain_text("is still to do")
    text = await timeline.inner_text()
    for french in ("appel ", "mail de repli", "reste à faire", "aucun contact", "ouverture",
                   "demande enregistrée"):
        assert french not in text, (french, text)
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", text)  # Babel's day-first moment
    await page.goto(f"/cases/{case_id}?lang=fr")  # the French page keeps the workflow's words
    await expect(page.locator("#timeline")).to_contain_text("reste à faire")
    await page.context.close()


async def test_the_live_queue_counts_equal_its_rows(stack: Stack, browser: Browser) -> None:
    page = await signed_in(browser, stack, "technician")
    await page.goto("/queue")
    rows = page.locator("#queue-rows tr[data-case]")
    before = await rows.count()
    total = page.locator('[data-count="total"]')
    await expect(total).to_have_text(str(before))
    case_id = await stack.probe("client-a.example", "SRV-DC01", "service", "spooler",
                                "spouleur arrêté")
    await expect(page.locator(f'tr[data-case="{case_id}"]')).to_be_visible(timeout=15_000)
    after = await rows.count()
    assert after == before + 1
    await expect(total).to_have_text(str(after))  # refreshed with the rows, no reload
    await expect(page.locator("#queue-total")).to_have_text(str(after))
    by_class: dict[str, int] = {}
    for cls in await rows.evaluate_all("rs => rs.map(r => r.className)"):
        key = re.sub(r"^crit-", "", cls.split()[0])
        by_class[key] = by_class.get(key, 0) + 1
    for key in ("major", "significant", "minor", "no_impact", "unclassified"):
        await expect(page.locator(f'[data-count="{key}"]')).to_have_text(
            str(by_class.get(key, 0)))
    with Session(stack.engine) as s:
        assert s.get(Case, case_id) is not None
    await page.context.close()
