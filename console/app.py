"""The console's FastAPI application: pages, JSON API, static files, security headers."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from base.settings import Settings
from console import (
    api,
    api_comms,
    api_expectations,
    pages_admin,
    pages_auth,
    pages_backups,
    pages_cases,
    pages_contracts,
    pages_inhibitions,
    pages_planning,
    pages_portal,
    pages_privacy,
    pages_sla,
    pages_visits,
    twilio_hooks,
    visit_links,
)
from console.access import check_policies, enforce_route_policy
from console.auth import LoginRequired, csrf_protect, get_principal
from console.deps import Services
from console.idempotency import IdempotencyRecorder, Replayed, idempotency_guard, replay
from console.import_jobs import ImportJobs
from console.web import HERE, redirect, render

log = logging.getLogger(__name__)

# No inline script or style anywhere, nothing from another origin: an injected tag that
# slipped past escaping could still not run.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# Routers other services contribute to the console's app (webhook intake): they do their
# own authentication (per-source tokens), so they are mounted as is, without a session.
OPTIONAL_ROUTERS = ("intake.webhook",)


class SecurityHeaders:
    """Pure ASGI middleware (no body buffering): headers on every response; no caching of
    anything but static files, so client data never sits in a shared cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get(
        "accept", ""
    )


def _optional_routers(names: Iterable[str]) -> list[APIRouter]:
    found = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        router = getattr(module, "router", None)
        if isinstance(router, APIRouter):
            found.append(router)
    return found


def create_app(
    settings: Settings, engine: Engine, extra_routers: Iterable[APIRouter] = ()
) -> FastAPI:
    """The console. Routers from elsewhere (the webhook intake, ``extra_routers``) are mounted
    as they are: each declares its own authentication (the console's ``require`` or, for the
    webhook, per-source tokens); the global CSRF check applies to all of them."""
    app = FastAPI(
        title="Vigie",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # every route's declared role policy (console/access.py), then CSRF, then the
        # idempotency key of an action (console/idempotency.py)
        dependencies=[Depends(enforce_route_policy), Depends(csrf_protect),
                      Depends(idempotency_guard)],
    )
    app.state.services = Services(settings=settings, engine=engine)
    app.state.imports = ImportJobs(engine, settings.import_max_rows)  # CSV imports (jobs)
    app.add_middleware(IdempotencyRecorder)  # type: ignore[arg-type]
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.public)
    app.include_router(api.router)
    mounted: list[APIRouter] = []
    own = (api_expectations.router, api_comms.router, twilio_hooks.router)
    for extra in (*own, *_optional_routers(OPTIONAL_ROUTERS), *extra_routers):
        if not any(extra is seen for seen in mounted):  # passed again by a caller: once only
            mounted.append(extra)
            app.include_router(extra)
    app.include_router(pages_auth.router)
    app.include_router(pages_cases.router)
    app.include_router(pages_backups.router)
    app.include_router(pages_sla.router)
    app.include_router(pages_admin.router)
    app.include_router(pages_inhibitions.router)
    app.include_router(pages_contracts.router)
    app.include_router(pages_contracts.api)
    app.include_router(pages_privacy.router)
    app.include_router(pages_portal.router)
    app.include_router(pages_visits.router)
    app.include_router(pages_planning.router)
    app.include_router(visit_links.router)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"detail": "Authentification requise"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/login?next={quote(target, safe='')}")

    @app.exception_handler(Replayed)
    async def replayed(_request: Request, exc: Replayed) -> Response:
        return replay(exc.row)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
        principal = getattr(request.state, "principal", None)
        return render(
            request,
            principal,
            "error.html",
            status_code=exc.status_code,
            status=exc.status_code,
            detail=exc.detail,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        detail: Any = exc.errors()
        if _wants_json(request):
            return JSONResponse({"detail": jsonable_errors(detail)}, 422)
        principal = await get_principal(request)
        return render(
            request,
            principal,
            "error.html",
            status_code=422,
            status=422,
            detail="Requête invalide",
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    @app.exception_handler(IntegrityError)
    async def refused_by_the_database(request: Request, exc: Exception) -> Response:
        """Bad input that only the database noticed: a number past its integers, a value it
        cannot read, an id that names no row. The request's transaction is rolled back
        already; the caller gets a 4xx that says so, not a 500 (issue 21, finding 6)."""
        log.warning("refusé par la base : %s %s : %s", request.method, request.url.path,
                    str(exc).splitlines()[0][:200])
        status, detail = (409, "Référence inconnue ou doublon") if isinstance(
            exc, IntegrityError) else (422, "Valeur hors limites ou illisible")
        return await http_error(request, StarletteHTTPException(status, detail))

    check_policies(app.routes)  # a route without a declared policy: the console won't start
    return app


def jsonable_errors(errors: Any) -> Any:
    from fastapi.encoders import jsonable_encoder

    return jsonable_encoder(errors)
