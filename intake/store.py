"""Durable acceptance: a message is stored with its outbox row before anyone is told "yes".

``accept_batch`` is the whole of what must happen before the SMTP ``250`` (or the webhook's
``202``): one transaction holding each message's raw bytes, SHA-256 and Message-ID, and the
outbox row the router drains later. A redelivered copy (same digest and Message-ID) is
recognised and acknowledged without a second outbox row.

``GroupCommit`` lets messages that arrive together on several SMTP connections share one
transaction: each sender still gets its ``250`` only after the commit that holds its
message, but the commit (and its disk sync) is paid once per batch instead of per message,
in a thread of its own (``BatchWriter``) while the event loop goes on serving connections.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy.engine import Engine

from base.metrics import INTAKE_COMMIT_MESSAGES, INTAKE_COMMIT_SECONDS
from models.tables import RawMessage
from models.types import utcnow

log = logging.getLogger(__name__)

_MSGID = re.compile(rb"^message-id:[ \t]*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)
RAW = RawMessage.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Incoming:
    data: bytes
    mail_from: str = ""
    rcpt_to: str = ""
    peer_ip: str = ""
    channel: str = "smtp"
    client_hint_id: int | None = None
    helo: str = ""  # HELO/EHLO name the SMTP client gave (SPF checks it for bounces)


@dataclass(frozen=True)
class Accepted:
    raw_message_id: int
    duplicate: bool


def message_id_of(data: bytes) -> str:
    """The Message-ID as written in the header block (no full MIME parse on the hot path)."""
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    m = _MSGID.search(head)
    if not m:
        return ""
    return m.group(1).strip().decode("ascii", "replace")[:998]


def accept_batch(engine: Engine, items: list[Incoming]) -> list[Accepted]:
    """Stores every message of ``items`` in one transaction; raises if that fails whole.

    No retry message by message: insert-or-ignore already settles a copy stored meanwhile by
    another intake process (PostgreSQL waits for that transaction, SQLite has one writer at a
    time), so an error here is a real one, and the whole batch is refused with it."""
    sql = Statements.of(engine)
    keys = [key_of(i.data) for i in items]
    with engine.begin() as conn:
        return sql.write(conn.connection.driver_connection, items, keys)


def key_of(data: bytes) -> tuple[str, str]:
    """What makes two copies one message: the SHA-256 of the bytes and the Message-ID."""
    return hashlib.sha256(data).hexdigest(), message_id_of(data)


_RAW_COLUMNS = (
    "message_id, sha256, received_at, peer_ip, mail_from, rcpt_to, size, channel,"
    " client_hint_id, helo, data, parse_error"
)
_RETURNING = " ON CONFLICT (sha256, message_id) DO NOTHING RETURNING id, sha256, message_id"


class Statements:
    """The intake's SQL for one dialect, in plain text on the driver's cursor.

    This is the intake's hot path: the driver's cursor costs a third of SQLAlchemy Core here
    (measured in ``bench/intake.py``), with the same transaction and the same column
    encodings (the timestamp goes through the column type's own bind processor). Built
    once per engine: the texts only depend on the dialect and the batch size.
    """

    _cache: ClassVar[dict[tuple[type, str], Statements]] = {}

    def __init__(self, dialect: Any) -> None:
        p = "?" if dialect.paramstyle == "qmark" else "%s"
        self.p = p
        self.stamp = RAW.c.received_at.type.dialect_impl(dialect).bind_processor(dialect)
        self.blob = _blob(dialect)
        self.row = "(" + ", ".join([p] * 12) + ")"
        self.outbox = (
            "INSERT INTO outbox (raw_message_id, created_at, attempts, last_error)"
            f" VALUES ({p}, {p}, 0, '')"
        )
        self._inserts: dict[int, str] = {}

    @classmethod
    def of(cls, engine: Engine) -> Statements:
        kind = (type(engine.dialect), engine.dialect.paramstyle)
        found = cls._cache.get(kind)
        if found is None:
            found = cls._cache[kind] = cls(engine.dialect)
        return found

    def insert(self, n: int) -> str:
        text = self._inserts.get(n)
        if text is None:
            text = self._inserts[n] = (
                f"INSERT INTO raw_message ({_RAW_COLUMNS}) VALUES "
                + ", ".join([self.row] * n) + _RETURNING
            )
        return text

    def write(self, dbapi: Any, items: list[Incoming], keys: list[tuple[str, str]]
              ) -> list[Accepted]:
        """Insert-or-ignore on (digest, Message-ID) in the transaction open on ``dbapi``
        (committed by the caller), in three statements per batch whatever its size:

        1. one multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING id, sha256,
           message_id`` for the batch's distinct messages (the rows it returns are the new
           ones, in no promised order: they are matched back by their key);
        2. only if some were there already (a redelivery), one ``SELECT`` of their ids;
        3. the outbox rows of the new messages in the order they were accepted
           (``executemany``: statements in order, so outbox ids follow acceptance on both
           engines, and the router drains them in that order).
        """
        now = utcnow()
        received = self.stamp(now) if self.stamp else now
        first: dict[tuple[str, str], Incoming] = {}
        for item, key in zip(items, keys, strict=True):
            first.setdefault(key, item)  # a copy inside the batch is the first one's duplicate
        params: list[Any] = []
        for (digest, msgid), item in first.items():
            params += (msgid, digest, received, item.peer_ip, item.mail_from[:998],
                       item.rcpt_to[:2000], len(item.data), item.channel, item.client_hint_id,
                       item.helo[:255], self.blob(item.data), "")
        fresh: dict[tuple[str, str], int] = {}
        known: dict[tuple[str, str], int] = {}
        cur = dbapi.cursor()
        try:
            cur.execute(self.insert(len(first)), params)
            for rid, digest, msgid in cur.fetchall():
                fresh[(digest, msgid)] = int(rid)
            seen = [key for key in first if key not in fresh]
            if seen:
                p = self.p
                where = " OR ".join([f"(sha256 = {p} AND message_id = {p})"] * len(seen))
                cur.execute(f"SELECT id, sha256, message_id FROM raw_message WHERE {where}",
                            [v for key in seen for v in key])
                for rid, digest, msgid in cur.fetchall():
                    known[(digest, msgid)] = int(rid)
            if fresh:
                cur.executemany(self.outbox,
                                [(fresh[key], received) for key in first if key in fresh])
        finally:
            cur.close()
        out: list[Accepted] = []
        claimed: set[tuple[str, str]] = set()
        for key in keys:
            if key in fresh and key not in claimed:
                claimed.add(key)
                out.append(Accepted(fresh[key], duplicate=False))
            else:
                out.append(Accepted(fresh.get(key) or known[key], duplicate=True))
        return out


def _blob(dialect: Any) -> Any:
    return (lambda b: b) if dialect.name == "postgresql" else memoryview


def accept(
    engine: Engine,
    data: bytes,
    *,
    mail_from: str = "",
    rcpt_to: str = "",
    peer_ip: str = "",
    channel: str = "smtp",
    client_hint_id: int | None = None,
    helo: str = "",
) -> Accepted:
    """Stores one message and queues it; raises on any storage failure (caller answers 451)."""
    item = Incoming(data, mail_from, rcpt_to, peer_ip, channel, client_hint_id, helo)
    return accept_batch(engine, [item])[0]


HOLD_SECONDS = 2.0  # the writer keeps its connection between commits this long at most


class BatchWriter:
    """Writes batches on one pooled connection it keeps while commits follow each other.

    Used from the group commit's thread only. Under load a connection is taken from the pool
    once for many batches (no checkout, reset and ping per commit); after a pause longer than
    ``HOLD_SECONDS`` it goes back to the pool and the next batch takes one afresh (the pool
    pings it on PostgreSQL: a server restarted meanwhile costs no refused batch). After a
    failure the connection is rolled back and given back, or thrown away if even that fails;
    the batch is refused whole (see ``accept_batch``: no retry message by message).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sql = Statements.of(engine)
        self._conn: Any = None
        self._last = 0.0

    def write(self, items: list[Incoming]) -> list[Accepted]:
        keys = [key_of(i.data) for i in items]
        if self._conn is not None and time.monotonic() - self._last > HOLD_SECONDS:
            self.release()
        if self._conn is None:
            self._conn = self.engine.raw_connection()
        dbapi = self._conn.driver_connection
        try:
            out = self.sql.write(dbapi, items, keys)
            dbapi.commit()
        except BaseException:
            self._discard()
            raise
        self._last = time.monotonic()
        return out

    def release_if_idle(self) -> None:
        """Gives the connection back once no commit came for ``HOLD_SECONDS``: an intake left
        quiet holds no connection (nor a PostgreSQL backend) for nothing."""
        if self._conn is not None and time.monotonic() - self._last > HOLD_SECONDS:
            self.release()

    def release(self) -> None:
        """Gives the connection back to the pool (between batches only)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _discard(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.driver_connection.rollback()
        except Exception:
            conn.invalidate()  # the connection itself is broken: never reused
        conn.close()


class GroupCommit:
    """Concurrent ``accept`` calls wait for the one commit that holds their message.

    The write (hashing, inserts, commit and its disk sync) runs in one dedicated thread, so
    the event loop goes on serving every connection while a commit is in flight: SQLite and
    psycopg release the GIL while they wait on the disk or the server. One commit is in flight
    at a time; the next batch is everything that arrived meanwhile, so batches grow with the
    load by themselves and a message arriving alone waits for no timer (one loop turn, for
    the connections woken by the same poll to join it). Each caller's future is settled only
    once its batch's transaction has committed (or failed, and then every caller of that
    batch, and only of that batch, gets the exception: the SMTP handler answers ``451``).

    ``on_commit`` runs on the loop after each commit that queued at least one new message,
    with that batch's results, before any of its callers resumes: the router's nudge
    (``intake/wake.py``), once per batch.
    """

    def __init__(
        self,
        engine: Engine,
        max_batch: int = 256,
        on_commit: Callable[[list[Accepted]], None] | None = None,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.on_commit = on_commit
        self._pending: list[tuple[Incoming, asyncio.Future[Accepted]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake-commit")
        self._batch_writer = BatchWriter(engine)
        self._idle: asyncio.TimerHandle | None = None
        self.batches = 0  # commits attempted, and the messages they held (bench figures)
        self.messages = 0
        self.waited = 0.0  # seconds the callers waited for their commit, summed (bench figure)

    @property
    def waiting(self) -> int:
        """Messages gathered for the next commit (not yet handed to the writer thread)."""
        return len(self._pending)

    async def accept(self, item: Incoming) -> Accepted:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Accepted] = loop.create_future()
        self._pending.append((item, fut))
        if self._writer is None:
            self._writer = loop.create_task(self._write())
        started = loop.time()
        try:
            return await fut
        finally:
            self.waited += loop.time() - started

    async def _write(self) -> None:
        """Commits batch after batch until nothing is waiting (then the task ends)."""
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                await self._commit(loop, batch)
        finally:
            self._writer = None
            if self._idle is None:
                self._idle = loop.call_later(HOLD_SECONDS + 0.1, self._quiet)

    def _quiet(self) -> None:
        """A while after the writer last ran dry: its thread lets the connection go if idle."""
        self._idle = None
        self._thread.submit(self._batch_writer.release_if_idle)

    async def _commit(
        self, loop: asyncio.AbstractEventLoop,
        batch: list[tuple[Incoming, asyncio.Future[Accepted]]],
    ) -> None:
        self.batches += 1
        self.messages += len(batch)
        items = [item for item, _ in batch]
        started = loop.time()
        try:
            results = await loop.run_in_executor(self._thread, self._batch_writer.write, items)
        except Exception as exc:
            log.exception("intake: batch of %d not stored", len(batch))
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        finally:  # a failed commit kept its senders waiting too
            INTAKE_COMMIT_SECONDS.observe(loop.time() - started)
            INTAKE_COMMIT_MESSAGES.observe(len(batch))
        if self.on_commit is not None and any(not r.duplicate for r in results):
            try:
                self.on_commit(results)
            except Exception:  # a nudge is never needed for correctness
                log.exception("intake: on_commit failed")
        for (_, fut), res in zip(batch, results, strict=True):
            if not fut.done():
                fut.set_result(res)

    def close(self) -> None:
        """Lets the writer thread go once the commit in flight (if any) is done."""
        self._thread.submit(self._batch_writer.release)
        self._thread.shutdown(wait=False)
