"""Signing in and out; the home page sends each role to where it works."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from console.auth import (
    PRE_SESSION_COOKIE,
    SESSION_COOKIE,
    Principal,
    authenticate,
    close_session,
    get_principal,
    open_session,
    pre_session_token,
    record_attempt,
    require,
)
from console.deps import Services
from console.web import redirect, render, safe_next

router = APIRouter()

MESSAGES = {
    "throttled": "Trop de tentatives : réessayez dans quelques minutes.",
    "csrf": "Formulaire expiré : rechargez la page et recommencez.",
}
BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."


def _secure(request: Request, svc: Services) -> bool:
    return svc.settings.cookie_secure or request.url.scheme == "https"


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _login_page(
    request: Request, nonce: str, error: str = "", status: int = 200, username: str = ""
) -> HTMLResponse:
    svc: Services = request.app.state.services
    response = render(
        request,
        None,
        "login.html",
        status_code=status,
        error=error,
        username=username,
        login_csrf=pre_session_token(svc.secret, nonce),
        next=safe_next(request.query_params.get("next"), ""),
    )
    response.set_cookie(
        PRE_SESSION_COOKIE,
        nonce,
        httponly=True,
        samesite="lax",
        secure=_secure(request, svc),
        max_age=3600,
    )
    return response


@router.get("/")
async def home(request: Request) -> Response:
    principal = await get_principal(request)
    return redirect(principal.home if principal else "/login")


@router.get("/login")
async def login_form(request: Request) -> Response:
    principal = await get_principal(request)
    if principal is not None and principal.via == "session":
        return redirect(safe_next(request.query_params.get("next"), principal.home))
    nonce = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(24)
    return _login_page(request, nonce)


@router.post("/login")
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form(""),
) -> Response:
    svc: Services = request.app.state.services
    ip, agent = _client_ip(request), request.headers.get("user-agent", "")
    username = username.strip()[:120]
    nonce = request.cookies.get(PRE_SESSION_COOKIE, "")
    expected = pre_session_token(svc.secret, nonce) if nonce else ""
    if not nonce or not hmac.compare_digest(csrf_token.encode(), expected.encode()):
        record_attempt(svc, username, ip, agent, "csrf")
        fresh = secrets.token_urlsafe(24)
        return _login_page(request, fresh, MESSAGES["csrf"], 403, username)
    outcome, user = authenticate(svc, username, password, ip, agent)
    if user is None:
        status = 429 if outcome == "throttled" else 401
        return _login_page(request, nonce, MESSAGES.get(outcome, BAD_CREDENTIALS), status, username)
    cookie = open_session(svc, user, ip, agent)
    home = Principal(user_id=user.id, username=user.username, role=user.role).home
    response = redirect(safe_next(next, home))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=_secure(request, svc),
        max_age=svc.settings.session_hours * 3600,
        path="/",
    )
    response.delete_cookie(PRE_SESSION_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, principal: Principal = Depends(require())) -> Response:
    svc: Services = request.app.state.services
    close_session(svc, principal.session_id)
    record_attempt(
        svc,
        principal.username,
        _client_ip(request),
        request.headers.get("user-agent", ""),
        "signed_out",
    )
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
