"""Who may call each route of the console: one registry, enforced in one place (issue 11).

Every route the application registers must be listed in :data:`ROUTE_POLICY` with the
policy that guards it. The registry is enforced by :func:`enforce_route_policy`, a dependency
of the whole application that runs before any route code; a route missing from it is refused
(403) and ``create_app`` refuses to start (:func:`check_policies`), so a future route cannot
be forgotten. The routes' own ``require(...)`` stay as a second lock on the same door.

Policies:

* ``public``: anyone (the health check, the sign-in form, static files);
* ``signed_in``: any signed-in role; reads are scoped to the caller's client at the data layer
  (``Principal.client_scope``) and a client gets the portal's serializer
  (``console.client_view``), never the staff's;
* ``twilio`` / ``source_token`` / ``signed_link``: callers authenticated by the route itself
  (Twilio's request signature, a webhook source token, a signed and expiring link in a mail
  or a calendar feed URL), never by a session;
* any permission of ``console.auth.PERMISSIONS`` (``queue``, ``case.act``, ``triage``,
  ``sla``, ``planning``, ``admin``, ``portal``, the visit and contract ones): the roles
  holding it.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException, Request
from fastapi.routing import iter_route_contexts

from console.auth import PERMISSIONS, LoginRequired, get_principal

PUBLIC = "public"
SIGNED_IN = "signed_in"
TWILIO = "twilio"
SOURCE_TOKEN = "source_token"
SIGNED_LINK = "signed_link"  # the URL carries its own signature (a client's answer, a feed)
MACHINE = frozenset({TWILIO, SOURCE_TOKEN, SIGNED_LINK})
POLICIES = frozenset({PUBLIC, SIGNED_IN, *MACHINE, *PERMISSIONS})

G, P = "GET", "POST"
# (method, path as registered) -> policy. HEAD follows GET.
ROUTE_POLICY: dict[tuple[str, str], str] = {
    # sign-in and the health check
    (G, "/"): PUBLIC,  # redirects to the caller's home, or to the sign-in form
    (G, "/login"): PUBLIC,
    (P, "/login"): PUBLIC,  # its own pre-session CSRF token
    (P, "/logout"): SIGNED_IN,
    (G, "/api/healthz"): PUBLIC,
    (G, "/static"): PUBLIC,  # the mount: CSS and the console's script
    # the JSON API
    (G, "/api/openapi.json"): "queue",  # the desk's map of routes: staff only
    (G, "/api/cases"): SIGNED_IN,  # a client: its own cases, the portal's lines
    (G, "/api/cases/{case_id}"): SIGNED_IN,  # a client: exactly its portal page
    (P, "/api/cases/{case_id}/actions/{action}"): "case.act",
    (G, "/api/expectations"): "queue",
    (P, "/api/expectations"): "case.act",
    (G, "/api/expectations/proposals"): "queue",
    (P, "/api/expectations/defaults/{client_id:int}"): "case.act",
    (P, "/api/expectations/import"): "case.act",
    (P, "/api/expectations/{expectation_id:int}/{action}"): "case.act",
    (P, "/api/expectations/backup-jobs/{job_id:int}"): "case.act",
    (G, "/api/silences"): "queue",
    (P, "/api/silences"): "case.act",
    (P, "/api/silences/{silence_id:int}/end"): "case.act",
    (G, "/api/silences/{silence_id:int}/hits"): "queue",
    (G, "/api/backups/report"): "queue",
    (P, "/api/backups/audit"): "case.act",
    (G, "/api/comms"): "queue",
    (G, "/api/comms/{comm_id}"): "queue",
    (P, "/api/cases/{case_id}/instructions"): "case.act",
    # machines
    (P, "/api/events"): SOURCE_TOKEN,
    (P, "/api/alertmanager"): SOURCE_TOKEN,
    (P, "/twilio/voice/{comm_id}"): TWILIO,
    (P, "/twilio/voice/{comm_id}/key"): TWILIO,
    (P, "/twilio/bridge/{comm_id}"): TWILIO,
    (P, "/twilio/whisper/{comm_id}"): TWILIO,
    (P, "/twilio/whisper/{comm_id}/key"): TWILIO,
    (P, "/twilio/bridge/{comm_id}/done"): TWILIO,
    (P, "/twilio/status/call/{comm_id}"): TWILIO,
    (P, "/twilio/status/sms/{comm_id}"): TWILIO,
    (P, "/twilio/sms/incoming"): TWILIO,
    # the staff's pages
    (G, "/queue"): "queue",
    (G, "/queue/live"): "queue",
    (P, "/queue/storm"): "case.act",  # a storm's bulk classify or acknowledge (issue 22)
    (G, "/admin/inhibitions"): "admin",  # inhibition rules (issue 22)
    (P, "/admin/inhibitions"): "admin",
    (P, "/admin/inhibitions/{rule_id:int}/edit"): "admin",
    (P, "/admin/inhibitions/{rule_id:int}/revoke"): "admin",
    (G, "/cases/{case_id}"): "queue",
    (G, "/cases/{case_id}/sla"): "queue",
    (P, "/cases/{case_id}/act/{action}"): "case.act",
    (G, "/events/{event_id}"): "queue",
    (G, "/unmatched"): "triage",
    (P, "/unmatched/{event_id}/attach"): "triage",
    (P, "/unmatched/{event_id}/dismiss"): "triage",
    (P, "/unmatched/{event_id}/attach-reply"): "triage",
    (P, "/unmatched/{event_id}/create-server"): "triage",
    (G, "/backups"): "queue",
    (G, "/sla"): "sla",
    (G, "/sla/cases"): "sla",
    (G, "/sla/export.csv"): "sla",
    (G, "/sla/export.pdf"): "sla",
    (G, "/planning"): "planning",
    # administration
    (G, "/admin"): "admin",
    (G, "/admin/clients"): "admin",
    (P, "/admin/clients"): "admin",
    (G, "/admin/clients/{client_id}"): "admin",
    (P, "/admin/clients/{client_id}"): "admin",
    (P, "/admin/clients/{client_id}/{kind}"): "admin",
    (P, "/admin/clients/{client_id}/{kind}/{key}/delete"): "admin",
    (G, "/admin/users"): "admin",
    (P, "/admin/users"): "admin",
    (P, "/admin/users/{user_id}"): "admin",
    (P, "/admin/users/{user_id}/calendar-revoke"): "admin",
    (G, "/admin/tokens"): "admin",
    (P, "/admin/tokens"): "admin",
    (P, "/admin/tokens/{token_id}/revoke"): "admin",
    (G, "/admin/signins"): "admin",
    (P, "/admin/signins/{lockout_id}/lift"): "admin",
    (G, "/admin/policies"): "admin",
    (P, "/admin/policies"): "admin",
    (G, "/admin/expectations"): "admin",
    (P, "/admin/expectations/{expectation_id}/{change}"): "admin",
    (P, "/admin/expectations-defaults"): "admin",
    (P, "/admin/jobs/{job_id}/confirm"): "admin",
    (P, "/admin/silences"): "admin",
    (P, "/admin/silences/{silence_id}/end"): "admin",
    (P, "/admin/expectations-import"): "admin",
    (G, "/admin/import"): "admin",
    (P, "/admin/import"): "admin",
    (G, "/admin/import/{job_id}"): "admin",
    # preventive visits (console/pages_visits.py, console/pages_planning.py)
    (G, "/visits/report.css"): PUBLIC,  # the report's stylesheet
    (G, "/visits/mine"): "visit.run",
    (P, "/calendar/{change}"): "visit.run",
    (G, "/visits/{visit_id:int}"): "visit.read",
    (P, "/visits/{visit_id:int}/act/{action}"): "visit.read",  # per action in visit_actions
    (P, "/visits/{visit_id:int}/start-workflow"): "visit.plan",
    (P, "/api/visits/{visit_id:int}/checklist/{key}"): "visit.run",
    (P, "/visits/{visit_id:int}/checklist"): "visit.run",
    (P, "/visits/{visit_id:int}/checklist/{key}/open"): "visit.run",
    (G, "/visits/{visit_id:int}/report.pdf"): "visit.report",  # a client: its own visits
    (G, "/visits/{visit_id:int}/report"): "visit.report",
    (G, "/clients/{client_id:int}/techdoc"): "visit.read",
    (P, "/clients/{client_id:int}/techdoc"): "techdoc.edit",
    (G, "/clients/{client_id:int}/techdoc/diagram"): "visit.report",  # a client: its own
    (P, "/planning/plan-year"): "visit.plan",
    (P, "/planning/leave"): "visit.plan",
    (G, "/planning/suggest"): "visit.plan",
    (G, "/planning/inbox"): "planning",
    (G, "/api/planning/inbox"): "planning",
    (G, "/entitlements"): "entitlement",
    (G, "/calendar/{user_id:int}/{sig}.ics"): SIGNED_LINK,
    (G, "/visits/answer/{token}"): SIGNED_LINK,
    (P, "/visits/answer/{token}"): SIGNED_LINK,
    # contracts and personal data (console/pages_contracts.py)
    (G, "/contracts"): "contracts",
    (P, "/contracts"): "contract.check",
    (G, "/contracts/{contract_id}"): "contracts",
    (P, "/contracts/{contract_id}/start"): "contract.check",
    (P, "/contracts/{contract_id}/prerequisites/{code}"): "contract.check",
    (P, "/contracts/{contract_id}/prerequisites/{code}/waive"): "contract.waive",
    (P, "/contracts/{contract_id}/decide"): "contract.plan",
    (P, "/contracts/{contract_id}/sensors/{deployment_id}"): "contract.plan",
    (P, "/contracts/{contract_id}/activate"): "contract.activate",
    (P, "/contracts/{contract_id}/notice"): "contract.end",
    (P, "/contracts/{contract_id}/terminate-now"): "contract.end",
    (P, "/contracts/{contract_id}/remedied"): "contract.end",
    (G, "/contracts/{contract_id}/export.zip"): "privacy",
    (P, "/contracts/{contract_id}/erase"): "privacy.erase",
    (G, "/privacy/access"): "privacy",
    # issue 20 (console/pages_privacy.py): requests, holds, any client's export, the codec
    (G, "/privacy/clients/{client_id}"): "privacy",
    (G, "/privacy/clients/{client_id}/export.zip"): "privacy",
    (P, "/privacy/clients/{client_id}/erase"): "privacy.erase",
    (P, "/privacy/contacts/{contact_id}/erase"): "privacy.erase",
    (P, "/privacy/clients/{client_id}/holds"): "privacy",
    (P, "/privacy/holds/{hold_id}/release"): "privacy",
    ("OPTIONS", "/codec/decode"): PUBLIC,  # the Temporal UI's preflight: headers only
    (P, "/codec/decode"): "queue",  # staff; read-only, exempt from CSRF (console.auth)
    (G, "/portal/contract"): "portal",
    (G, "/api/contracts"): "contract.read",
    (G, "/api/contracts/{contract_id}"): "contract.read",
    # the client portal
    (G, "/portal"): "portal",
    (G, "/portal/cases/{case_id}"): "portal",
    (G, "/portal/documents"): "portal",
}


def registered_routes(routes: Iterable[object]) -> list[tuple[str, str]]:
    """Every (method, path) the application serves, nested routers included."""
    found: list[tuple[str, str]] = []
    for rc in iter_route_contexts(list(routes)):  # type: ignore[arg-type]
        path = getattr(rc, "path", "") or getattr(getattr(rc, "route", None), "path", "")
        methods = getattr(rc, "methods", None)
        if methods:
            found.extend((m, path) for m in sorted(methods) if m != "HEAD")
        elif path:  # a mount (static files)
            found.append((G, path))
    return found


def policy_for(method: str, path: str) -> str | None:
    return ROUTE_POLICY.get(("GET" if method == "HEAD" else method, path))


def check_policies(routes: Iterable[object]) -> None:
    """Refuses an application with a route that declares no policy (or an unknown one)."""
    missing = [r for r in registered_routes(routes) if policy_for(*r) is None]
    if missing:
        raise RuntimeError(f"routes sans politique d'accès (console/access.py) : {missing}")
    unknown = sorted({p for p in ROUTE_POLICY.values() if p not in POLICIES})
    if unknown:
        raise RuntimeError(f"politiques inconnues : {unknown}")


async def enforce_route_policy(request: Request) -> None:
    """The one gate every request passes: its route's declared policy, before any code."""
    route = request.scope.get("route")
    path = getattr(route, "path", None) or ""
    policy = policy_for(request.method, path)
    if policy is None:
        raise HTTPException(403, "Accès refusé : aucune politique déclarée pour cette route")
    if policy == PUBLIC or policy in MACHINE:
        return
    principal = await get_principal(request)
    if principal is None:
        raise LoginRequired()
    request.state.client_scope = principal.client_scope
    if policy != SIGNED_IN and not principal.can(policy):
        raise HTTPException(403, "Accès refusé")
