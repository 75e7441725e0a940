"""Progress lines for long steps: done/total, rate and ETA, throttled, to stderr (the rule log)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def _fmt_seconds(s: float) -> str:
    if s != s or s == float("inf"):
        return "?"
    s = round(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{sec:02d}" if h else f"{m:d}:{sec:02d}"


class Progress:
    """Progress lines with rate and ETA, at most every ``every`` seconds.

    ``p = Progress("toys", total=100, unit="toy"); p.update(5)``
    """

    def __init__(
        self,
        label: str,
        total: int,
        unit: str = "it",
        every: float = 5.0,
        stream: TextIO | None = None,
        start: int = 0,
    ) -> None:
        self.label, self.total, self.unit, self.every = label, int(total), unit, every
        self.stream = stream if stream is not None else sys.stderr
        self.done = int(start)
        self._start_done = int(start)
        self.t0 = time.perf_counter()
        self._last = -float("inf")

    def update(self, n: int = 1, extra: str = "") -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            self.print(extra)

    def print(self, extra: str = "") -> None:
        elapsed = time.perf_counter() - self.t0
        rate = (self.done - self._start_done) / elapsed if elapsed > 0 else float("nan")
        eta = (self.total - self.done) / rate if rate and rate > 0 else float("inf")
        pct = 100.0 * self.done / self.total if self.total else 100.0
        msg = (
            f"[{self.label}] {self.done}/{self.total} {self.unit} ({pct:5.1f}%) "
            f"{rate:.3g} {self.unit}/s elapsed {_fmt_seconds(elapsed)} ETA {_fmt_seconds(eta)}"
        )
        if extra:
            msg += f" | {extra}"
        print(msg, file=self.stream, flush=True)
