"""English pages show refusals and flashes in English, values and all (issue 10's words rule
for what the words walk cannot see: messages built with a value, and the refusals the
workflows and the data layer write in French).

The messages are found in the code itself, so a new refusal without its English fails here:
every literal the case and visit machines refuse with, every error the contract, privacy and
visit data layers raise, and every flash the console sets.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from console.i18n import gettext
from console.i18n_messages import MESSAGES, translate
from messages.cases import ActionInput, CaseState, Criticality
from messages.comms import Channel
from workflows.case_machine import CaseCore

ROOT = Path(__file__).resolve().parents[1]
ERRORS = ("ContractError", "PrivacyError", "VisitError", "ValueError")


def template(node: ast.AST) -> str | None:
    """A string literal, an f-string (values as ``{}``) or a sum of them; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = template(node.left), template(node.right)
        if left is not None or right is not None:
            return (left if left is not None else "{}") + (right if right is not None else "{}")
    return None


def refusals(path: Path, functions: set[str]) -> set[str]:
    """The sentences returned or listed inside ``functions`` (docstrings left out)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef) or fn.name not in functions:
            continue
        docstring = fn.body[0] if fn.body and isinstance(fn.body[0], ast.Expr) else None
        for node in ast.walk(fn):
            if docstring is not None and node is docstring.value:
                continue
            text = template(node)
            if text and " " in text.strip() and len(text) > 12 and not _part(fn, node):
                found.add(text)
    return found


def _part(fn: ast.FunctionDef, node: ast.AST) -> bool:
    """A piece of a larger f-string or sum (only the whole is a message)."""
    for parent in ast.walk(fn):
        if isinstance(parent, ast.JoinedStr | ast.BinOp) and parent is not node:
            if any(child is node for child in ast.iter_child_nodes(parent)):
                return True
    return False


def raised(globs: tuple[str, ...]) -> set[str]:
    found: set[str] = set()
    for pattern in globs:
        for path in ROOT.glob(pattern):
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                        and getattr(node.exc.func, "id", "") in ERRORS and node.exc.args):
                    text = template(node.exc.args[0])
                    if text:
                        found.add(text)
    return found


def flashes() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "console").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(
                    node.func, "id", getattr(node.func, "attr", "")) in ("set_flash", "_flash"):
                for arg in node.args[2:]:
                    text = template(arg)
                    if text and text not in ("", "{}"):
                        if text.startswith(("ok:", "err:")):
                            text = text.split(":", 1)[1]
                        if text.strip("{}"):
                            found.add(text)
    return found


def sample(text: str) -> str:
    """The message as a person meets it: each value an opaque word."""
    parts = text.split("{}")
    return "".join(p + (f"V{i}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


def english(text: str) -> str:
    return translate("en", sample(text))


MACHINE = refusals(ROOT / "workflows" / "case_refusals.py", {"refusal", "not_now", "rules"}) \
    | refusals(ROOT / "workflows" / "visit_machine.py", {"check", "_check_dates", "_check_day",
                                                            "answer_refused"})
DATA = raised(("contracts/*.py", "planning/*.py"))
FLASHES = flashes()


def test_the_scan_finds_the_messages_it_is_meant_to_guard() -> None:
    # a scan that found nothing would pass every test below
    assert "Le cas est déjà clôturé" in MACHINE and "Proposer deux ou trois dates" in MACHINE
    assert "{} a déjà un contrat" in DATA and "Visite introuvable" in DATA
    assert "Serveur {} créé ; l'événement y est rattaché." in FLASHES
    assert len(MACHINE) > 40 and len(DATA) > 25


@pytest.mark.parametrize("text", sorted(MACHINE | DATA | FLASHES))
def test_every_refusal_and_flash_has_its_english(text: str) -> None:
    assert english(text) != sample(text), f"no English for: {text}"


def test_the_values_keep_their_place_and_labels_are_translated() -> None:
    assert translate("en", "Serveur srv-x créé ; l'événement y est rattaché.") == (
        "Server srv-x created; the event is attached to it.")
    assert translate("en", "Le cas est clôturé : rouvrez-le d'abord") == (
        "The case is closed: reopen it first")
    assert translate("en", "Le 12/03/2027 est hors de la fenêtre de la visite "
                           "(01/01/2027 – 30/06/2027)") == (
        "12/03/2027 is outside the visit's window (01/01/2027 – 30/06/2027)")
    # French pages keep the French; an unknown message stays as written (never lost)
    assert translate("fr", "Le cas est déjà clôturé") == "Le cas est déjà clôturé"
    assert translate("en", "Message inconnu du poste") == "Message inconnu du poste"


def test_every_template_has_as_many_values_in_english_as_in_french() -> None:
    for french in MESSAGES:
        assert french.count("{}") == gettext("en", french).count("{}"), french


def test_what_the_case_workflow_really_refuses_reads_in_english() -> None:
    """The refusals as the running machine builds them (states and criticalities as
    values), in every state and for every action a person can take."""
    from tests.test_case_machine import opened
    from workflows.case_machine import PERSON_ACTIONS

    inputs = [ActionInput(actor=""), ActionInput(actor="alice"),
              ActionInput(actor="alice", criticality=Criticality.MINOR),
              ActionInput(actor="alice", channel=Channel.SMS, text="x" * 400),
              ActionInput(actor="alice", assignee="alice")]
    seen = 0
    for state in CaseState:
        for crit in (None, *Criticality):
            core, _ = opened()
            core.machine.set_state(str(state))
            core.model.criticality = crit
            for action in (*PERSON_ACTIONS, "nonsense"):
                for inp in inputs:
                    reason = CaseCore.check(core, action, inp)
                    if reason is not None:
                        seen += 1
                        assert translate("en", reason) != reason, reason
    assert seen > 500


def test_an_english_page_shows_a_refusal_with_its_value_in_english(engine, tmp_path) -> None:
    """The admin types a contract for a client that already has one, on the English
    console: the refusal names the client, in English; the French page says it in French."""
    import datetime as dt

    from contracts import store
    from tests.browser.support import make_desk

    desk = make_desk(engine, tmp_path)
    client_id = desk.clients["client-a"]
    store.create_contract(desk.engine, client_id, dt.date(2026, 12, 1), by="admin")
    admin, token = desk.signed_in("admin")
    for lang, expected in (("en", "already has a contract"), ("fr", "a déjà un contrat")):
        admin.cookies.set("vigie_lang", lang)
        page = admin.post("/contracts", data={"client_id": str(client_id),
                                              "start_date": "2026-12-01",
                                              "csrf_token": token}, follow_redirects=True)
        flash = page.text.split('class="flash error"', 1)[1].split("</div>", 1)[0]
        assert expected in flash, flash


def test_a_message_wrapping_a_refusal_is_translated_inside_too() -> None:
    assert translate("en", "Cas non modifiable : Le cas est déjà clôturé") == (
        "Case cannot be changed: The case is already closed")
