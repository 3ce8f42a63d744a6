"""Issue 21, finding 6: every route answers bad parameters with a 4xx, never a 500.

Three walks, over real HTTP (uvicorn on loopback), on the planted desk of
``tests/test_trust_roles.py`` (client-a's triaged case, visit in progress, contract):
* the two 500s the attack pass found, as they were sent;
* schemathesis over the console's own OpenAPI schema (every route it declares: the pages
  too), as an administrator (who reaches every route) and as a client, positive and
  negative examples, bounded so that the walk takes about a minute;
* every POST route with malformed form values (huge, negative, non-ASCII digits, CR/LF,
  markup) in every field its handler reads, as an administrator and as a consultant.

The console runs without Temporal here: a route that needs it answers 503 ("retry later",
the documented answer while a service the desk depends on is down), which the walks accept;
500 and every other 5xx fail them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from console.access import MACHINE, PUBLIC, policy_for, registered_routes
from console.auth import create_api_token
from models.auth import ApiToken
from models.visits import Visit
from tests.browser.support import ROLE_USERS, Desk, add_case, make_desk
from tests.test_trust_roles import Served, params_for, plant_visit_and_contract

# The 5xx a route may give when a dependency is down (Temporal is not configured here).
UNAVAILABLE = 503


@contextmanager
def planted_desk(engine: Engine, tmp_path: Path) -> Iterator[tuple[Desk, int, str]]:
    desk = make_desk(engine, tmp_path)
    case_id = add_case(desk.engine, desk.clients["client-a"], criticality="minor",
                       ledger=[(5, "classify", {"criticality": "minor"})])
    plant_visit_and_contract(desk)
    with Served(desk.app) as base:
        yield desk, case_id, base


@pytest.fixture
def served(sqlite_engine: Engine, tmp_path: Path) -> Iterator[tuple[Desk, int, str]]:
    """The long walks run on SQLite, whose integers overflow first."""
    with planted_desk(sqlite_engine, tmp_path) as planted:
        yield planted


@pytest.fixture
def served_on_both(engine: Engine, tmp_path: Path) -> Iterator[tuple[Desk, int, str]]:
    with planted_desk(engine, tmp_path) as planted:
        yield planted


def bearer(desk: Desk, role: str) -> dict[str, str]:
    token = create_api_token(desk.engine, ROLE_USERS[role], f"bad-params-{role}")
    return {"Authorization": f"Bearer {token}"}


def server_errors(r: httpx.Response) -> bool:
    return r.status_code >= 500 and r.status_code != UNAVAILABLE


def test_the_two_500s_of_the_attack_pass_are_4xx(
    served_on_both: tuple[Desk, int, str],
) -> None:
    desk, _, base = served_on_both
    with Session(desk.engine) as s:
        visit_id = s.exec(select(Visit.id).where(Visit.state == "in_progress")).one()
    url = f"/api/visits/{visit_id}/checklist/ups"
    with httpx.Client(base_url=base, timeout=30) as http:
        consultant = bearer(desk, "consultant")
        for body in ([], ["ok"], "ok", 3):
            r = http.post(url, json=body, headers=consultant)
            assert r.status_code == 422, (body, r.status_code, r.text)
        r = http.post(url, content=b"{not json", headers={
            **consultant, "Content-Type": "application/json"})
        assert r.status_code == 422
        r = http.post(url, json={"answer": ["ok"]}, headers=consultant)
        assert r.status_code == 422
        # the right body still saves
        r = http.post(url, json={"answer": "ok", "notes": "onduleur testé"}, headers=consultant)
        assert r.status_code == 200 and r.json()["answer"] == "ok"

        client = bearer(desk, "client")
        for page in ("99999999999999999999", "²", "-3", "1e9", "0x10"):
            r = http.get(f"/portal?page={page}", headers=client)
            assert r.status_code == 200, (page, r.status_code)
        manager = bearer(desk, "manager")
        for path in ("/queue?page=99999999999999999999&client=99999999999999999999",
                     "/queue?client=²", "/sla/cases?metric=total&page=99999999999999999999",
                     "/sla?client=-99999999999999999999"):
            r = http.get(path, headers=manager)
            assert r.status_code < 500, (path, r.status_code)
        for path in ("/planning?year=abc", "/entitlements?year=99999999999999999999",
                     "/planning/suggest?year=²"):
            r = http.get(path, headers=bearer(desk, "admin"))
            assert r.status_code == 422, (path, r.status_code)


# Operations that could sign the walker out (revoke its token, demote its user).
SELF_HARM = {("POST", "/admin/tokens/{token_id}/revoke"), ("POST", "/admin/users/{user_id}")}


def test_schemathesis_finds_no_server_error_on_any_route(
    served: tuple[Desk, int, str],
) -> None:
    """The console's OpenAPI schema (``/api/openapi.json``, every route it mounts), as an
    administrator and as a client: bounded, derandomized examples per operation."""
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.generation import GenerationMode

    desk, _, base = served
    admin, client = bearer(desk, "admin"), bearer(desk, "client")
    with httpx.Client(base_url=base, timeout=30) as http:
        document = http.get("/api/openapi.json", headers=admin).json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        path = operation.path
        if policy_for(operation.method.upper(), path) in MACHINE:
            continue  # their own signature checks: walked in tests/test_trust_*.py
        if (operation.method.upper(), path) in SELF_HARM:
            continue  # walked by the form walk below, with a token that is not its own
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(max_examples=10, deadline=None, database=None, derandomize=True,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def walk(case: Any) -> None:
                for headers in (admin, client):
                    r = case.call(base_url=base, headers=headers, timeout=60,
                                  allow_redirects=False)
                    if r.status_code >= 500 and r.status_code != UNAVAILABLE:
                        failures.append(f"{r.status_code} {case.method} {case.formatted_path}"
                                        f" {case.query or ''} {case.body!r:.100}: {r.text[:200]}")

            try:
                walk()
            except Exception as exc:  # schemathesis could not build a case: say which
                if "Unsatisfiable" not in type(exc).__name__:
                    failures.append(f"{operation.method} {path}: {type(exc).__name__}: {exc}")
    assert operations >= 80  # the schema really lists the console's routes
    with httpx.Client(base_url=base, timeout=30) as http:  # both callers were walking all along
        assert http.get("/admin", headers=admin).status_code == 200
        assert http.get("/portal", headers=client).status_code == 200
    assert failures == [], "\n".join(sorted(set(failures))[:40])


# Malformed values a hostile or broken client sends in any form field.
MALFORMED = ("99999999999999999999", "-1", "²", "1e309", "\r\nBcc: x@evil.example",
             "<script>alert(1)</script>", "", "x" * 5000, "2027-02-30", "NaN")


# Fields read by helpers the handlers pass their form to (not seen in the handler's source).
COMMON_FIELDS = {"text", "reason", "year", "client_id", "user_id", "server_id", "site_id",
                 "date", "start", "end", "name", "kind", "value", "evidence", "status",
                 "channel", "outcome", "criticality", "assignee", "email", "phone", "slot"}


def form_fields(desk: Desk, method: str, path: str) -> set[str]:
    """The form fields a POST route reads (``form.get("x")``, ``form["x"]``, ``Form()``
    parameters), found in its handler's source: a new field is walked without editing here."""
    import inspect

    from fastapi.routing import iter_route_contexts

    for rc in iter_route_contexts(list(desk.app.routes)):
        endpoint = getattr(rc.original_route, "endpoint", None)
        if rc.path == path and method in (getattr(rc, "methods", None) or ()) and endpoint:
            source = inspect.getsource(endpoint)
            names = set(re.findall(r"""form(?:\.get\(|\[)\s*f?["']([\w-]+)["']""", source))
            names |= {p for p in inspect.signature(endpoint).parameters
                      if p not in ("request", "principal") and f"{{{p}" not in path}
            return names | COMMON_FIELDS
    raise AssertionError(f"no endpoint for {method} {path}")


@pytest.mark.parametrize("role", ["admin", "consultant"])
def test_every_form_route_answers_malformed_values_without_a_500(
    served: tuple[Desk, int, str], role: str,
) -> None:
    desk, case_id, base = served
    headers = bearer(desk, role)
    bearer(desk, "planner")  # the token the walk revokes: not its own
    with Session(desk.engine) as s:
        spare_id = s.exec(select(ApiToken.id).where(ApiToken.name == "bad-params-planner")).one()
    problems: list[str] = []
    walked = 0
    with httpx.Client(base_url=base, timeout=60, headers=headers) as http:
        for method, path in registered_routes(desk.app.routes):
            policy = policy_for(method, path)
            if method != "POST" or policy in MACHINE or policy == PUBLIC:
                continue
            if path.endswith("/erase") or path == "/logout":
                continue  # erasing the planted contract would leave the others nothing
            url = params_for(path, desk, case_id).replace("/tokens/999999/",
                                                            f"/tokens/{spare_id}/")
            fields = form_fields(desk, method, path)
            # malformed values in every field, then a malformed id in the path
            bad_url = re.sub(r"/\d+(?=/|$)", "/99999999999999999999", url, count=1)
            for target, form in [*((url, dict.fromkeys(fields, v)) for v in MALFORMED),
                                 (bad_url, {})]:
                walked += 1
                said = f"POST {target} with {next(iter(form.values()), '')[:30]!r}"
                try:
                    r = http.post(target, data=form)
                except httpx.TransportError as exc:  # the server dropped the connection
                    problems.append(f"{type(exc).__name__} {said}")
                    continue
                if server_errors(r) or r.status_code == 401:  # 401: the walk lost its token
                    problems.append(f"{r.status_code} {said}: {r.text[:160]}")
    assert walked >= 40 * len(MALFORMED)
    assert problems == [], "\n".join(problems[:40])
