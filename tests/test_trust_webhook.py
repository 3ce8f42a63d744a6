"""Webhook input is bounded before it costs anything (issue 11, finding 6): the body is read
as a stream up to ``VIGIE_WEBHOOK_MAX_BYTES`` (``413`` before reading past it), JSON nesting
and events per request are capped with a clear 4xx, and a refused request stores nothing."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from base.settings import Settings
from console.deps import Services
from intake.webhook import create_source_token, depth_of
from intake.webhook import router as webhook_router
from models.tables import RawMessage
from tests.http_helpers import UvicornThread
from tests.test_webhook import ALERTMANAGER, EVENT
from vigie.demo import load_demo

LIMIT = 100_000
CHUNK = 16_384


def webhook_app(engine: Engine, **settings: object) -> FastAPI:
    app = FastAPI()
    app.state.services = Services(settings=Settings(**settings), engine=engine)  # type: ignore[arg-type]
    app.include_router(webhook_router)
    return app


@pytest.fixture
def token(engine: Engine) -> str:
    load_demo(engine)
    return create_source_token(engine, "zabbix-b", "client-b")


def stored(engine: Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(RawMessage)).all())


async def test_a_huge_body_is_refused_at_the_limit_without_being_read(
    engine: Engine, token: str
) -> None:
    pulled = 0

    async def huge() -> AsyncIterator[bytes]:  # 5 MB of a JSON list, chunked, no length
        nonlocal pulled
        yield b"["
        for _ in range(5_000_000 // CHUNK):
            pulled += CHUNK
            yield b" " * CHUNK
        yield b"]"

    app = webhook_app(engine, webhook_max_bytes=LIMIT)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://desk") as http:
        r = await http.post("/api/events", content=huge(),
                            headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 413 and str(LIMIT) in r.text
    assert pulled <= LIMIT + CHUNK  # the server stopped reading at the limit
    assert stored(engine) == 0


def test_a_declared_length_over_the_limit_gets_413_before_any_body_is_sent(
    engine: Engine, token: str
) -> None:
    """Real HTTP: 200 MB announced, nothing sent; the answer comes at once."""
    config = uvicorn.Config(webhook_app(engine), log_level="warning")
    with UvicornThread(config) as srv, socket.create_connection(("127.0.0.1", srv.port),
                                                                 timeout=5) as sock:
        sock.sendall(
            b"POST /api/events HTTP/1.1\r\nHost: desk\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {token}\r\n".encode()
            + b"Content-Length: 200000000\r\n\r\n"
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert stored(engine) == 0


@pytest.mark.parametrize("body", [
    "[" * 200_000 + "]" * 200_000,  # deeper than the parser's recursion
    json.dumps({**EVENT, "extra": json.loads('{"a":' * 40 + "1" + "}" * 40)}),  # deep, parseable
])
def test_deeply_nested_json_is_a_clear_422_not_a_500(
    engine: Engine, token: str, body: str
) -> None:
    http = TestClient(webhook_app(engine, webhook_max_bytes=2_000_000))
    r = http.post("/api/events", content=body.encode(),
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422 and "imbriqué" in r.json()["detail"]
    assert stored(engine) == 0


def test_depth_of_counts_without_recursion() -> None:
    assert (depth_of(1), depth_of([]), depth_of({"a": [1, {"b": 2}]})) == (0, 1, 3)
    deep: list[object] = []
    for _ in range(50_000):
        deep = [deep]
    assert depth_of(deep) == 50_001


def test_too_many_events_in_one_request_are_refused_whole(engine: Engine, token: str) -> None:
    http = TestClient(webhook_app(engine, webhook_max_events=5))
    h = {"Authorization": f"Bearer {token}"}
    r = http.post("/api/events", json=[EVENT] * 6, headers=h)
    assert r.status_code == 413 and "6 > 5" in r.json()["detail"]
    assert stored(engine) == 0
    assert http.post("/api/events", json=[EVENT] * 5, headers=h).status_code == 202
    assert stored(engine) == 1


def test_too_many_alertmanager_alerts_are_refused_whole(engine: Engine) -> None:
    load_demo(engine)
    am = create_source_token(engine, "prom-b", "client-b", kind="alertmanager")
    http = TestClient(webhook_app(engine, webhook_max_events=2))
    r = http.post("/api/alertmanager", content=json.dumps(ALERTMANAGER),
                  headers={"Authorization": f"Bearer {am}"})
    assert r.status_code == 413 and "max_alerts" in r.json()["detail"]
    assert stored(engine) == 0
