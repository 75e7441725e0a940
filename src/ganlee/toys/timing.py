"""Wall-clock time of the phases of a toy job (sampling, training, scoring, fits)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from ganlee.toys.tensor_ops import sync

__all__ = ["Timing"]


@dataclass
class Timing:
    """Wall-clock seconds per phase (synchronised with the device at phase boundaries)."""

    sampling: float = 0.0
    train: float = 0.0
    score: float = 0.0
    fit: float = 0.0
    toys: int = 0

    @contextlib.contextmanager
    def phase(self, name: str, device: torch.device) -> Iterator[None]:
        """Add the time of the block (device synchronised before and after) to ``name``."""
        sync(device)
        t0 = time.perf_counter()
        yield
        sync(device)
        setattr(self, name, getattr(self, name) + time.perf_counter() - t0)

    @property
    def total(self) -> float:
        return self.sampling + self.train + self.score + self.fit

    def summary(self) -> str:
        tot = self.total or float("nan")
        parts = [
            f"{name} {getattr(self, name):.2f} s ({100 * getattr(self, name) / tot:.0f}%)"
            for name in ("sampling", "train", "score", "fit")
        ]
        rate = 3600.0 * self.toys / tot if self.toys else float("nan")
        return f"{self.toys} toys in {tot:.2f} s ({rate:,.0f} toys/hour): " + ", ".join(parts)
