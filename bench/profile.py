"""Where a new case's cost goes: py-spy profiles of the desk's Python processes, and the
Temporal history each case leaves (``bench.storm`` uses both).

- :class:`Profiler` runs ``py-spy record`` on live processes (the worker, router and intake
  of a steady run) and writes speedscope JSON (open it at speedscope.app or any speedscope
  viewer); :func:`summarise` reads it back into the top functions by own samples, which is
  where the CPU is actually spent. py-spy samples the Python stacks only (no ``--native``):
  the Temporal SDK's Rust core and protobuf's C code show as the Python call that entered
  them, and time spent there with the GIL released is not sampled at all, so the profile's
  share of a process is not its CPU share.
- :func:`history_counts` reads the histories of a sample of cases through the client and
  counts their events by type, their workflow tasks, and the ``TemporalChangeVersion``
  search-attribute upserts that ``workflow.patched`` adds. Payloads stay sealed by the
  codec (``contracts.codec``): counting events does not open them.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

RATE_HZ = 100  # py-spy's default sampling rate, said out loud


def py_spy() -> str:
    """The ``py-spy`` of this interpreter's environment (the ``dev`` extras), else PATH's."""
    local = Path(sys.executable).with_name("py-spy")
    found = str(local) if local.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("--profile needs py-spy: pip install -e '.[dev]'")
    return found


@dataclass
class Profiler:
    """``py-spy record`` attached to running processes, one recorder each, stopped together.
    ``--nonblocking``: py-spy reads the target's memory without pausing it, so the desk runs
    at its own pace (a few stacks may come out torn; at 100 Hz over a minute that is noise)."""

    out_dir: Path
    recorders: dict[str, tuple[subprocess.Popen[bytes], Path]] = field(default_factory=dict)

    def attach(self, name: str, pid: int) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"{name}.speedscope.json"
        log = (self.out_dir / f"{name}.py-spy.log").open("wb")
        proc = subprocess.Popen(
            [py_spy(), "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--nonblocking",
             "--format", "speedscope", "--output", str(path)],
            stdout=log, stderr=subprocess.STDOUT)
        self.recorders[name] = (proc, path)

    def stop(self) -> dict[str, Path]:
        """SIGINT (py-spy writes its file on it), then wait; returns name -> file written."""
        for proc, _ in self.recorders.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        out: dict[str, Path] = {}
        for name, (proc, path) in self.recorders.items():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            if path.exists():
                out[name] = path
        return out


def _function(frame: dict[str, object], root: Path) -> str:
    """``function (file)``, the file relative to the checkout or to site-packages: py-spy
    names a frame per line, the summary adds a function's lines together."""
    name = str(frame.get("name", "?"))
    file = str(frame.get("file", ""))
    for base in ("site-packages/", str(root) + "/", "lib/python"):
        if base in file:
            file = file.split(base, 1)[1]
            break
    return f"{name} ({file})"


def _desk_code(frame: dict[str, object], root: Path) -> bool:
    """A frame of the desk's own modules (not a library, the bench or the entry point)."""
    file = str(frame.get("file", ""))
    return (str(root) in file and "site-packages" not in file and "/bench/" not in file
            and not file.endswith(("vigie/cli.py", "vigie/__main__.py")))


def summarise(path: Path, root: Path, top: int = 15) -> list[str]:
    """The ``top`` functions by own samples (the frame on top of the stack: where the CPU
    is spent), each with its share of the process's samples; then the desk's own functions
    (files under ``root``, not a library's) by inclusive samples: which of its paths the
    time hangs under."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    names = [_function(f, root) for f in frames]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    mine: Counter[str] = Counter()
    total = 0.0
    # py-spy's speedscope profiles (one per thread) list each distinct stack once, weighted
    # by the seconds it was sampled for (root frame first)
    for profile in data["profiles"]:
        weights = profile.get("weights") or [1 / RATE_HZ] * len(profile["samples"])
        for stack, weight in zip(profile["samples"], weights, strict=False):
            if not stack:
                continue
            total += weight
            own[names[stack[-1]]] += weight
            for name in {names[i] for i in stack}:
                inclusive[name] += weight
            for name in {names[i] for i in stack if _desk_code(frames[i], root)}:
                mine[name] += weight
    if not total:
        return ["    (no samples: the process was idle or py-spy could not read it)"]
    lines = [f"    {total:.1f} s of thread time sampled as active ({total * RATE_HZ:.0f} "
             f"samples at {RATE_HZ} Hz, all threads); top {top} functions by own samples:"]
    for name, n in own.most_common(top):
        lines.append(f"    {100 * n / total:5.1f} %  {name}")
    if mine:
        lines.append("    the desk's own functions, by inclusive samples:")
        for name, n in mine.most_common(10):
            lines.append(f"    {100 * n / total:5.1f} %  {name}")
    return lines


def _event_name(event_type: int) -> str:
    from temporalio.api.enums.v1 import EventType

    words = EventType.Name(event_type).removeprefix("EVENT_TYPE_").split("_")
    return "".join(w.capitalize() for w in words)


@dataclass
class HistoryCounts:
    """Per case, averaged over ``cases`` histories read at the end of a run (a case stays
    open: these are the events of its first seconds to minute, what opening it cost)."""

    cases: int
    events: float
    by_type: dict[str, float]
    workflow_tasks: float  # WorkflowTaskCompleted
    change_version_upserts: float  # upserts carrying TemporalChangeVersion
    start_search_attributes: float  # search attributes given at start
    patches: dict[str, float] = field(default_factory=dict)  # patch id -> upserts per case

    def lines(self) -> list[str]:
        if not self.cases:
            return ["    (no history read)"]
        head = (f"    {self.events:.1f} history events and {self.workflow_tasks:.1f} workflow "
                f"tasks per case ({self.cases} cases read); "
                f"{self.change_version_upserts:.2f} TemporalChangeVersion upserts per case; "
                f"{self.start_search_attributes:.1f} search attributes given at start")
        kinds = ", ".join(f"{k} {v:.2f}" for k, v in
                          sorted(self.by_type.items(), key=lambda kv: -kv[1]))
        lines = [head, f"    by type, per case: {kinds}"]
        if self.patches:
            lines.append("    TemporalChangeVersion upserted, per case: " + ", ".join(
                f"{k} {v:.2f}" for k, v in sorted(self.patches.items())))
        return lines


async def history_counts(client: object, workflow_ids: list[str]) -> HistoryCounts:
    """Counts the events of each workflow's history (``client``: a ``temporalio`` client;
    the codec is never asked to open a payload here)."""
    by_type: Counter[str] = Counter()
    patches: Counter[str] = Counter()
    tasks = upserts = attrs = 0
    for wid in workflow_ids:
        history = await client.get_workflow_handle(wid).fetch_history()  # type: ignore[attr-defined]
        patches_of_run: set[str] = set()
        for event in history.events:
            by_type[_event_name(event.event_type)] += 1
            if event.HasField("workflow_task_completed_event_attributes"):
                tasks += 1
            elif event.HasField("workflow_execution_started_event_attributes"):
                attrs += len(event.workflow_execution_started_event_attributes
                             .search_attributes.indexed_fields)
            elif event.HasField("upsert_workflow_search_attributes_event_attributes"):
                fields = (event.upsert_workflow_search_attributes_event_attributes
                          .search_attributes.indexed_fields)
                if "TemporalChangeVersion" in fields:
                    upserts += 1
                    # a search attribute is never sealed: plain JSON, the patch ids so far
                    try:
                        ids = json.loads(fields["TemporalChangeVersion"].data)
                    except ValueError:
                        ids = []
                    seen = set(patches_of_run)
                    for pid in ids:
                        if pid not in seen:  # each upsert lists all before it too
                            patches[str(pid)] += 1
                            patches_of_run.add(pid)
    n = max(len(workflow_ids), 1)
    return HistoryCounts(
        cases=len(workflow_ids), events=sum(by_type.values()) / n,
        by_type={k: v / n for k, v in by_type.items()}, workflow_tasks=tasks / n,
        change_version_upserts=upserts / n, start_search_attributes=attrs / n,
        patches={k: v / n for k, v in patches.items()})
