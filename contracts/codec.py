"""The payload codec: every Temporal payload encrypted under its client's key (issue 20).

Workflow inputs, signals, updates, queries, results, memos and failures' messages pass
through :class:`ClientCodec` on their way to and from the Temporal server, which therefore
stores only ciphertext. Each payload is sealed with AES-GCM under the key of the client it
belongs to (``contracts.keys``), so erasing a client (its key deleted) leaves its histories
unreadable: crypto-shredding.

**How the codec knows the client.** The SDK hands each codec operation a serialization
context naming the workflow (``WorkflowSerializationContext`` / ``ActivitySerializationContext``
with the workflow id). The codec maps that id to the client: ``visit-N`` through the visit,
``contract-onboarding-N`` / ``contract-notice-N-k`` through the contract, ``contact-REF-n``
through the case reference, ``case-…`` through the case row, and, before the case row exists
(the router's signal-with-start), through the ``client_id`` field of the case's own input,
remembered for the signals that follow. A payload that belongs to no client (the absence
sweep, the backup audit) uses the ``desk`` key.

**Old histories.** A payload is marked ``encoding: binary/encrypted`` with the key id in its
metadata; decoding passes every other payload through untouched, so histories recorded
before the codec (``tests/histories/``) replay as they are.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from contracts import keys

ENCODING = b"binary/encrypted"
KEY_META = "encryption-key-id"
_VISIT = re.compile(r"^visit-(\d+)$")
_CONTRACT = re.compile(r"^contract-(?:onboarding|notice)-(\d+)")
_CONTACT = re.compile(r"^contact-(.+)-\d+$")


class KeyDestroyed(RuntimeError):
    """The payload's client was erased: its key, and so the payload, is gone."""


class Resolver:
    """Workflow id -> client id, cached per process (a workflow never changes client)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.known: dict[str, int | None] = {}

    def learn(self, workflow_id: str, client_id: int) -> None:
        if len(self.known) > 100_000:
            self.known.clear()
        self.known[workflow_id] = client_id

    def __call__(self, workflow_id: str) -> int | None:
        if workflow_id in self.known:
            return self.known[workflow_id]
        client_id = self._lookup(workflow_id)
        if client_id is not None:
            self.learn(workflow_id, client_id)
        return client_id

    def _lookup(self, wid: str) -> int | None:
        if not (wid.startswith(("case-", "contact-", "visit-", "contract-"))):
            self.known[wid] = None  # the sweeps, the audit: no client, ever
            return None
        from models.contracts import Contract
        from models.tables import Case
        from models.visits import Visit

        with Session(self.engine) as s:
            if m := _VISIT.match(wid):
                visit = s.get(Visit, int(m.group(1)))
                return visit.client_id if visit is not None else None
            if m := _CONTRACT.match(wid):
                contract = s.get(Contract, int(m.group(1)))
                return contract.client_id if contract is not None else None
            if m := _CONTACT.match(wid):
                return s.exec(select(Case.client_id).where(Case.ref == m.group(1))).first()
            if wid.startswith("case-"):
                return s.exec(select(Case.client_id).where(Case.workflow_id == wid)
                              .order_by(Case.id.desc())).first()  # type: ignore[union-attr]
        return None


def _client_in(payload: Payload) -> int | None:
    """The ``client_id`` a payload carries itself (a case's or a visit's input)."""
    if payload.metadata.get("encoding") != b"json/plain" or b'"client_id"' not in payload.data:
        return None
    try:
        value = json.loads(payload.data)
    except ValueError:
        return None
    for level in (value, value.get("case") if isinstance(value, dict) else None):
        found = level.get("client_id") if isinstance(level, dict) else None
        if isinstance(found, int):  # its own, or its case's (the case opening's input)
            return found
    return None


class ClientCodec(PayloadCodec, WithSerializationContext):
    def __init__(self, engine: Engine, resolver: Resolver | None = None,
                 workflow_id: str | None = None) -> None:
        self.engine = engine
        self.resolver = resolver or Resolver(engine)
        self.workflow_id = workflow_id

    def with_context(self, context: SerializationContext) -> ClientCodec:
        wid = None
        if isinstance(context, WorkflowSerializationContext | ActivitySerializationContext):
            wid = context.workflow_id
        return ClientCodec(self.engine, self.resolver, wid)

    async def _key(self, kid: str, create: bool) -> bytes | None:
        hit = keys.cached(self.engine, kid)  # the usual case: no thread hop, no database
        if hit is not None:
            return hit
        return await asyncio.to_thread(keys.get_key, self.engine, kid, create=create)

    async def _client(self, payloads: Sequence[Payload]) -> int | None:
        for p in payloads:
            found = _client_in(p)
            if found is not None:
                if self.workflow_id:
                    self.resolver.learn(self.workflow_id, found)
                return found
        if self.workflow_id:
            if self.workflow_id in self.resolver.known:
                return self.resolver.known[self.workflow_id]
            return await asyncio.to_thread(self.resolver, self.workflow_id)
        return None

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        todo = [p for p in payloads if p.metadata.get("encoding") != ENCODING]
        if not todo:
            return list(payloads)
        kid = keys.key_id(await self._client(todo))
        key = await self._key(kid, True)
        assert key is not None
        aead = AESGCM(key)
        out = []
        for p in payloads:
            if p.metadata.get("encoding") == ENCODING:
                out.append(p)
                continue
            nonce = os.urandom(12)
            out.append(Payload(metadata={"encoding": ENCODING, KEY_META: kid.encode()},
                               data=nonce + aead.encrypt(nonce, p.SerializeToString(),
                                                         kid.encode())))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                out.append(p)  # written before the codec: read as it is
                continue
            out.append(await self.open(p))
        return out

    async def open(self, p: Payload) -> Payload:
        kid = p.metadata.get(KEY_META, b"").decode()
        key = await self._key(kid, False)
        if key is None:
            raise KeyDestroyed(f"clé {kid} détruite : données effacées")
        plain = AESGCM(key).decrypt(p.data[:12], p.data[12:], kid.encode())
        return Payload.FromString(plain)


def with_codec(client: Any, engine: Engine) -> Any:
    """The same connection with the desk's data converter (tests' clients of a test server)."""
    from temporalio.client import Client

    return Client(**{**client.config(), "data_converter": data_converter(engine)})


def sealed(client: Any, engine: Engine) -> Any:
    """``client`` itself when it already seals payloads, else the same connection with the
    codec: a desk component handed a bare client (a test server's) still speaks as the rest
    of the desk does, never in clear."""
    if client.data_converter.payload_codec is None:
        return with_codec(client, engine)
    return client


def for_workflow(client: Any, workflow_id: str) -> DataConverter:
    """The client's data converter as the SDK would use it for ``workflow_id``: for requests
    built by hand (the router's), so that the codec finds the workflow's client key."""
    return client.data_converter.with_context(
        WorkflowSerializationContext(namespace=client.namespace, workflow_id=workflow_id))


async def signal_inputs(client: Any, workflow_id: str, name: str) -> list[Any]:
    """The inputs of the ``name`` signals in a workflow's history, in order, opened by the
    client's codec (a history holds them sealed): for whoever counts what a workflow was
    told (the routing and scale-out checks) without reading payloads by hand."""
    converter = for_workflow(client, workflow_id)
    out = []
    for event in (await client.get_workflow_handle(workflow_id).fetch_history()).events:
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attrs = event.workflow_execution_signaled_event_attributes
            if attrs.signal_name == name:
                out.append((await converter.decode(list(attrs.input.payloads)))[0])
    return out


def data_converter(engine: Engine) -> DataConverter:
    """The one data converter of every Temporal client of the desk (worker, console, intake,
    router, tests): default JSON, failures' messages moved into payloads, then the codec."""
    return DataConverter(payload_codec=ClientCodec(engine),
                         failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


async def decode_for_ui(engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
    """Temporal's codec-server protocol (``POST /codec/decode``): ``{"payloads": [{"metadata":
    {k: base64}, "data": base64}]}`` in and out; a payload whose key is destroyed is returned
    as it is (the UI shows it encrypted)."""
    from google.protobuf import json_format

    codec = ClientCodec(engine)
    out = []
    for raw in body.get("payloads", []) if isinstance(body, dict) else []:
        payload = json_format.ParseDict(raw, Payload())
        try:
            payload = (await codec.decode([payload]))[0]
        except Exception:  # a shredded key or a tampered payload: shown as it is
            pass
        out.append(json_format.MessageToDict(payload))
    return {"payloads": out}

