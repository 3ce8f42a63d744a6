"""Payload codec benchmark: the cost of sealing and opening one Temporal payload.

    python -m bench.codec [--payloads 5000] [--size 500]

A payload of ``--size`` bytes of JSON naming its client is sealed then opened ``--payloads``
times through ``contracts.codec.ClientCodec`` (AES-GCM, the client's key already cached, as in a
running worker), on a throw-away SQLite database and var/ folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time


async def measure(payloads: int, size: int) -> tuple[float, float]:
    from temporalio.api.common.v1 import Payload
    from temporalio.converter import WorkflowSerializationContext

    from contracts.codec import ClientCodec
    from models.db import make_engine, migrate

    folder = tempfile.mkdtemp(prefix="vigie-codec-")
    os.environ["VIGIE_VAR_DIR"] = folder  # the master key goes there, not into var/
    url = f"sqlite:///{folder}/bench.sqlite3"
    migrate(url)
    codec = ClientCodec(make_engine(url)).with_context(
        WorkflowSerializationContext("default", "case-bench"))
    plain = Payload(metadata={"encoding": b"json/plain"},
                    data=json.dumps({"client_id": 1, "summary": "x" * size}).encode())
    sealed = await codec.encode([plain])  # creates and caches the key
    start = time.perf_counter()
    for _ in range(payloads):
        sealed = await codec.encode([plain])
    middle = time.perf_counter()
    for _ in range(payloads):
        await codec.decode(sealed)
    end = time.perf_counter()
    return (middle - start) / payloads, (end - middle) / payloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payloads", type=int, default=5000)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()
    seal, opened = asyncio.run(measure(args.payloads, args.size))
    print(f"seal: {seal * 1e6:.1f} µs, open: {opened * 1e6:.1f} µs per {args.size}-byte payload")


if __name__ == "__main__":
    main()
