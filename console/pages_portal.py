"""The client portal, read only: a client user's own cases, and nothing else.

Every query here is filtered on the user's client (``Principal.client_scope``); a case of
another company answers 404 exactly like a case that does not exist. Internal notes,
technicians' names and raw alert mails stay on the desk's side: the client sees what
happened to its case, when, and the messages it was sent.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from sqlmodel import Session

from base.refkey import reference_key
from console.auth import Principal, require
from console.client_view import client_case_detail, client_case_summary
from console.deps import Services
from console.params import page_number
from console.queries import PAGE_SIZE, QueueFilter, load_case, queue_page, queue_total
from console.web import lang_of, log_reads, render

router = APIRouter(prefix="/portal")


def svc_of(request: Request) -> Services:
    return request.app.state.services


@router.get("")
def portal(request: Request, principal: Principal = Depends(require("portal"))) -> Response:
    scope = principal.client_scope
    key = reference_key(svc_of(request).settings)
    page = page_number(request.query_params.get("page"))
    svc = svc_of(request)
    rule = svc.settings.portal_cases
    with Session(svc.engine) as s:
        open_rows = [
            client_case_summary(c, key)
            for c, _ in queue_page(s, QueueFilter(client_view=rule), scope, limit=200)
        ]
        past_filter = QueueFilter(finished_only=True, client_view=rule)
        past = [
            client_case_summary(c, key)
            for c, _ in queue_page(
                s,
                past_filter,
                scope,
                offset=(page - 1) * PAGE_SIZE,
                limit=PAGE_SIZE,
                newest_first=True,
            )
        ]
        total = queue_total(s, past_filter, scope)
    log_reads(request, principal, [scope] if isinstance(scope, int) else [], "portal",
              portal=True)
    return render(
        request,
        principal,
        "portal.html",
        open_rows=open_rows,
        past=past,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )


@router.get("/cases/{case_id}")
def portal_case(
    request: Request, case_id: int, principal: Principal = Depends(require("portal"))
) -> Response:
    svc = svc_of(request)
    with Session(svc.engine) as s:
        found = load_case(s, case_id, principal.client_scope, svc.settings.portal_cases)
        if found is None:
            raise HTTPException(404, "Cas introuvable")
        view = client_case_detail(s, *found, reference_key(svc.settings))
    log_reads(request, principal, [found[0].client_id], "portal", portal=True)
    return render(request, principal, "portal_case.html", c=view)


@router.get("/documents")
def documents(request: Request, principal: Principal = Depends(require("portal"))) -> Response:
    """The client's visits, their reports once sent, proposals waiting for an answer, and
    the current technical document (``console.portal_visits``)."""
    from console.portal_visits import documents_context

    scope = principal.client_scope
    log_reads(request, principal, [scope] if isinstance(scope, int) else [], "portal",
              portal=True)
    return render(request, principal, "portal_documents.html",
                  **documents_context(svc_of(request), principal.client_scope,
                                      lang_of(request)))
