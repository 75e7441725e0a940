"""``ganlee status``: how far the toys of a run are, from the chunk files and the job logs.

Each chunk of the current config (``toys.n_toys`` toys in chunks of ``toys.chunk_size``) is one of:
``done`` (its file holds exactly its toys), ``stale`` (a file from another chunk layout), ``failed``
(no file, and its log ends in an error), ``running`` (no file, a log written in the last ``stall_s``
seconds), ``stalled`` (no file, an older log without an error: an interrupted job), ``pending``
(neither). Toys done count the done chunks plus the progress lines (``[toys] d/t toy``) of running
ones (a failed or stalled chunk's toys are lost with its job); the rate is the toys done over the
wall time since the first chunk started (each job's start = its file's or log's mtime minus the
elapsed time it logged), the ETA the remaining toys at that rate. See docs/design.md, "Progress and
status".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ganlee.config import add_config_argument

if TYPE_CHECKING:
    from ganlee.settings import Settings

__all__ = ["ChunkState", "chunk_states", "format_status", "register", "run_status"]

_PROGRESS = re.compile(r"^\[toys\] (\d+)/(\d+) toy \(.*elapsed (\S+)")
_TRAIN = re.compile(r"^\[train [^\]]*\] (\d+)/(\d+) epoch .*elapsed (\S+)")
_TIME = re.compile(r"^\[toys\] time: (\d+) toys in ([\d.]+) s")
_ERROR = re.compile(r"(error:|Traceback|Error\b|Killed|CANCELLED|DUE TO TIME LIMIT)")


@dataclasses.dataclass
class ChunkState:
    """One chunk of the current plan and what its file and log say."""

    chunk: int
    first: int
    count: int
    state: str = "pending"
    done: int = 0
    start: float | None = None  # epoch seconds the job started (estimated)
    end: float | None = None
    detail: str = ""


def _seconds(text: str) -> float:
    """``M:SS`` or ``H:MM:SS`` (ganlee.progress) in seconds; nan when unreadable."""
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError:
        return math.nan
    total = 0
    for p in parts:
        total = 60 * total + p
    return float(total)


def _read_log(path: Path) -> dict[str, Any]:
    """Last progress, train and timing lines of a toys log, and its last error line."""
    out: dict[str, Any] = {"done": 0, "elapsed": math.nan, "error": None, "train": None}
    train_elapsed = math.nan
    for line in path.read_text(errors="replace").splitlines():
        if m := _PROGRESS.match(line):
            out["done"], out["elapsed"] = int(m.group(1)), _seconds(m.group(3))
        elif m := _TRAIN.match(line):
            out["train"] = f"training epoch {m.group(1)}/{m.group(2)}"
            train_elapsed = _seconds(m.group(3))
        elif m := _TIME.match(line):
            out["elapsed"] = float(m.group(2))
        elif _ERROR.search(line):
            out["error"] = line.strip()
    if not math.isfinite(out["elapsed"]):
        out["elapsed"] = train_elapsed
    return out


def _chunk_toys(path: Path) -> np.ndarray | None:
    from ganlee.chunks import read_toy_index

    try:
        return read_toy_index(path)
    except Exception:
        return None


def _classify(c: ChunkState, chunk: Path, log: Path, now: float, stall_s: float) -> None:
    info = _read_log(log) if log.is_file() else None
    if chunk.is_file():
        idx = _chunk_toys(chunk)
        want = np.arange(c.first, c.first + c.count)
        if idx is None or idx.shape != want.shape or not np.array_equal(np.sort(idx), want):
            c.state, c.detail = "stale", f"{chunk} does not hold toys {c.first}..{want[-1]}"
            return
        c.state, c.done, c.end = "done", c.count, chunk.stat().st_mtime
        elapsed = info["elapsed"] if info else math.nan
        c.start = c.end - elapsed if math.isfinite(elapsed) else c.end
        return
    if info is None:
        return
    age = now - log.stat().st_mtime
    c.done = min(int(info["done"]), c.count)
    if math.isfinite(info["elapsed"]):
        c.start = log.stat().st_mtime - info["elapsed"]
    if info["error"]:
        c.state, c.detail = "failed", f"{log}: {info['error']}"
    elif age <= stall_s:
        c.state, c.detail = "running", info["train"] or ""
    else:
        c.state, c.detail = "stalled", f"{log} unchanged for {age / 60:.0f} min (interrupted?)"


def chunk_states(
    settings: Settings,
    toys_dir: str | Path = "results/toys",
    logs_dir: str | Path = "logs/toys",
    now: float | None = None,
    stall_s: float = 600.0,
) -> list[ChunkState]:
    """The state of every chunk of the plan (``toys.n_toys``, ``toys.chunk_size``)."""
    now = time.time() if now is None else now
    n, size = int(settings.toys.n_toys), int(settings.toys.chunk_size)
    out = []
    for c in range(math.ceil(n / size)):
        first = c * size
        st = ChunkState(chunk=c, first=first, count=min(size, n - first))
        _classify(
            st, Path(toys_dir) / f"chunk_{c}.npz", Path(logs_dir) / f"chunk_{c}.log", now, stall_s
        )
        out.append(st)
    return out


def run_status(states: list[ChunkState], now: float | None = None) -> dict[str, Any]:
    """Totals of ``chunk_states``: toys done/total, rate (toys/s), ETA (s), chunks by state."""
    now = time.time() if now is None else now
    total = sum(c.count for c in states)
    done = sum(c.done for c in states if c.state in ("done", "running"))
    by_state: dict[str, list[int]] = {}
    for c in states:
        by_state.setdefault(c.state, []).append(c.chunk)
    starts = [c.start for c in states if c.start is not None]
    running = bool(by_state.get("running"))
    ends = [c.end for c in states if c.end is not None]
    last = now if running or not ends else max(ends)
    span = last - min(starts) if starts else math.nan
    rate = done / span if done and span > 0 else math.nan
    left = total - done
    eta = left / rate if left and rate > 0 else (0.0 if not left else math.nan)
    return {
        "toys_done": done,
        "toys_total": total,
        "chunks": len(states),
        "by_state": by_state,
        "rate_toys_per_s": rate,
        "eta_s": eta,
        "problems": [
            {"chunk": c.chunk, "state": c.state, "detail": c.detail}
            for c in states
            if c.state in ("failed", "stalled", "stale")
        ],
    }


def _hms(s: float) -> str:
    if not math.isfinite(s):
        return "unknown"
    s = round(s)
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def format_status(st: dict[str, Any]) -> str:
    """The text ``ganlee status`` prints."""
    n, done = st["toys_total"], st["toys_done"]
    counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(st["by_state"].items()))
    rate = st["rate_toys_per_s"]
    rate_txt = (
        f"{rate:.3g} toys/s ({3600 * rate:,.0f} toys/hour)" if math.isfinite(rate) else "unknown"
    )
    lines = [
        f"toys: {done}/{n} done ({100.0 * done / n if n else 100.0:.1f}%) in {st['chunks']} "
        f"chunk(s): {counts}",
        f"rate: {rate_txt}; ETA {_hms(st['eta_s'])}",
    ]
    for p in st["problems"]:
        lines.append(f"{p['state']}: chunk {p['chunk']}: {p['detail']}")
    if st["problems"]:
        lines.append("rerun the same snakemake command to redo failed, stalled and stale chunks")
    return "\n".join(lines)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="progress of the toys: done/total over all chunks, rate, ETA, failed jobs",
        description=(
            "Reads the chunk files (results/toys/chunk_{c}.npz) and job logs "
            "(logs/toys/chunk_{c}.log) of the current config's chunk plan and prints toys done "
            "of the total, the rate, the ETA and the chunks that failed, stalled or are stale. "
            "For a p_global so far: ganlee lee-aggregate --partial results/toys."
        ),
    )
    add_config_argument(p)
    p.add_argument("--toys-dir", default="results/toys", help="directory of the chunk files")
    p.add_argument("--logs-dir", default="logs/toys", help="directory of the toys job logs")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    from ganlee.settings import load_settings

    st = run_status(chunk_states(load_settings(args.config), args.toys_dir, args.logs_dir))
    if args.json:
        from ganlee.io import json_safe

        print(json.dumps(json_safe(st), indent=2, allow_nan=False))
    else:
        print(format_status(st))
    return 0
