"""GAN training checkpoints and the per-epoch history CSV (formats, atomic writes, resume checks).

docs/design.md, "Generator (GAN and flow): preprocessing, training, fidelity".
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch

from ganlee.gan.monitor import MONITOR_COLUMNS
from ganlee.io import atomic_path

__all__ = [
    "CHECKPOINT_FORMAT",
    "HISTORY_COLUMNS",
    "READABLE_FORMATS",
    "load_checkpoint",
    "save_checkpoint",
    "write_history",
]

CHECKPOINT_FORMAT = "ganlee-gan-v2"
#: Formats ``load_model`` reads (v1: no monitor, no EMA, generator of width len(names)).
READABLE_FORMATS = ("ganlee-gan-v1", CHECKPOINT_FORMAT)
HISTORY_COLUMNS = (
    "epoch",
    "generator_steps",
    "loss_critic",
    "loss_generator",
    "wasserstein",
    "gradient_penalty",
    "seconds",
)


def write_history(path: str | Path, history: Sequence[Mapping[str, float]]) -> None:
    """Atomically write the per-epoch history CSV (``HISTORY_COLUMNS`` + ``MONITOR_COLUMNS``;
    the monitor columns are NaN on epochs without a monitor evaluation)."""
    cols = HISTORY_COLUMNS + MONITOR_COLUMNS
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for row in history:
            w.writerow({k: row.get(k, float("nan")) for k in cols})


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Atomically ``torch.save`` a checkpoint or model payload."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path, key: str, stream: TextIO) -> dict[str, Any] | None:
    """The training checkpoint at ``path`` if it is readable, of ``CHECKPOINT_FORMAT`` and made
    with resume key ``key``; otherwise ``None`` (the reason printed to ``stream``)."""
    if not path.is_file():
        return None
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        print(
            f"[gan_train] checkpoint '{path}' is unreadable ({exc}); starting afresh", file=stream
        )
        return None
    if (
        not isinstance(ck, dict)
        or ck.get("format") != CHECKPOINT_FORMAT
        or "trainer_state" not in ck
    ):
        print(
            f"[gan_train] '{path}' is not a ganlee training checkpoint; starting afresh",
            file=stream,
        )
        return None
    if ck.get("resume_key") != key:
        print(
            f"[gan_train] checkpoint '{path}' was made with another config or input "
            f"(key {ck.get('resume_key')} != {key}); starting afresh",
            file=stream,
        )
        return None
    return ck
