"""The codec's keys belong to a desk's database: a process serving two desks (a test run, a
bench driving a cluster) never seals one desk's payloads with a key only the other holds.

Two databases, each with its client 1. Each desk's codec seals a payload of its client 1;
then, its cache forgotten as in a fresh process, each desk opens its own payload from its
own database alone. Sealed with the other desk's cached key, the payload would read as
erased (``KeyDestroyed``) everywhere but in the process that sealed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from temporalio.converter import DataConverter

from base.settings import get_settings
from contracts import keys
from contracts.codec import KEY_META, ClientCodec
from models.db import make_engine, migrate


@pytest.fixture
def desks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Engine]]:
    monkeypatch.setenv("VIGIE_VAR_DIR", str(tmp_path))  # one master key: one machine
    monkeypatch.delenv("VIGIE_CODEC_MASTER_KEY", raising=False)
    get_settings.cache_clear()
    keys.forget_cached()
    engines = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / f'desk-{name}.sqlite3'}"
        migrate(url)
        engines.append(make_engine(url))
    yield engines
    for engine in engines:
        engine.dispose()
    get_settings.cache_clear()
    keys.forget_cached()


async def test_each_desk_seals_with_a_key_its_own_database_holds(
    desks: list[Engine],
) -> None:
    payload = DataConverter.default.payload_converter.to_payloads(
        [{"client_id": 1, "summary": "SRV-DC01 disque plein"}])[0]
    sealed = [(await ClientCodec(engine).encode([payload]))[0] for engine in desks]
    assert [p.metadata[KEY_META] for p in sealed] == [b"client-1", b"client-1"]
    for engine, p in zip(desks, sealed, strict=True):
        keys.forget_cached()  # a fresh process of that desk: its keys from its database
        assert (await ClientCodec(engine).decode([p]))[0] == payload
