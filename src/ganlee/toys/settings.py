"""What defines a toy's result, the checks of the toy settings, and the memory model that sizes
a stacked pass.

The ``toys`` section itself is typed in ``ganlee.settings`` (``ToysSettings``). Everything here is
decided before any training (docs/design.md, "Toys"): a selection that keeps no event or more
events than sample 2 holds, an unknown input feature, samples too small for the folds are
configuration errors (``ConfigError``, exit 2).
"""

from __future__ import annotations

import itertools
import os
from typing import Any, TextIO

import numpy as np
import torch

from ganlee.errors import ConfigError
from ganlee.settings import Settings, ToySizes, ToysSettings

__all__ = [
    "GROUPING_KEYS",
    "bytes_per_toy",
    "check_folds",
    "pass_width",
    "selection_sizes",
    "toy_config",
    "training_dtype",
]

#: Keys of ``toys`` that only group toys into jobs and passes: not part of a toy's result.
GROUPING_KEYS = ("n_toys", "chunk_size", "models_per_batch", "pad_passes")


def toy_config(settings: Settings, sizes: ToySizes | None = None) -> dict[str, Any]:
    """The part of the config that defines a toy's result (hashed into every chunk file).

    The master seed, the ``toys`` section without ``n_toys``, ``chunk_size``,
    ``models_per_batch`` and ``pad_passes`` (they only decide how toys are grouped into jobs and
    passes), and the ``fit`` section; with ``sizes``, the toy sizes resolved against the dataset
    (``Settings.toy_sizes``) in place of ``toys.sample1_size`` and ``sample2_size`` (null
    sizes are resolved from files, so the hash must see the numbers). The device is not part
    of it.
    """
    toys = {k: v for k, v in settings.toys.to_dict().items() if k not in GROUPING_KEYS}
    if sizes is not None:
        toys["sample1_size"], toys["sample2_size"] = int(sizes.sample1), int(sizes.sample2)
    return {"seed": int(settings.seed), "toys": toys, "fit": settings.fit.to_dict()}


def selection_sizes(
    fractions: tuple[float, ...] | list[float], n: int, what: str = "sample 2"
) -> np.ndarray:
    """Events kept by each selection fraction: ``round(f * n)`` (half up), checked.

    A fraction that keeps no event or more than ``n`` is a ``ConfigError`` naming
    ``toys.selections``.
    """
    if len(fractions) == 0:
        msg = "config key 'toys.selections' is empty: give at least one fraction in (0, 1]"
        raise ConfigError(msg)
    sizes = np.floor(np.asarray(fractions, dtype=np.float64) * n + 0.5).astype(np.int64)
    for f, s in zip(fractions, sizes, strict=True):
        if not (0.0 < f <= 1.0) or s > n:
            msg = (
                f"config key 'toys.selections': fraction {f} of {what} ({n} events) "
                "is not in (0, 1]"
            )
            raise ConfigError(msg)
        if s < 1:
            msg = (
                f"config key 'toys.selections': fraction {f} of {what} ({n} events) keeps no event "
                f"(empty selection); use fractions >= {0.5 / n:.3g} or a larger sample"
            )
            raise ConfigError(msg)
    return sizes


def check_folds(toys: ToysSettings, n: int, what: str) -> None:
    """``ConfigError`` when a sample of ``n`` events is too small for k-fold scoring."""
    k = toys.k_folds
    if toys.scoring == "kfold" and n < 2 * k:
        msg = (
            f"config key 'toys.k_folds' = {k}: {what} has {n} events, "
            f"need at least {2 * k} for k-fold scoring"
        )
        raise ConfigError(msg)


def training_dtype(toys: ToysSettings, device: torch.device, stream: TextIO) -> str:
    """``toys.dnn.dtype``, with bfloat16 falling back to float32 off CUDA (said in the log)."""
    if toys.dnn.dtype == "bfloat16" and device.type != "cuda":
        print("[toys] toys.dnn.dtype bfloat16 needs CUDA: training in float32 on CPU", file=stream)
        return "float32"
    return toys.dnn.dtype


def bytes_per_toy(toys: ToysSettings, dtype: str, n1: int, n2: int) -> int:
    """Rough device memory of one toy (its data and its ``models_per_toy`` models)."""
    n = n1 + n2
    f = len(toys.feature_index)
    elt = 2 if dtype == "bfloat16" else 4
    widths = (f, *toys.dnn.layers, 1)
    params = sum(a * b + b for a, b in itertools.pairwise(widths))
    per_model = (
        16 * params  # weights, gradients, two Adam moments (float32)
        + 48 * n  # shuffle keys and permutation temporaries (int64)
        + 8 * n  # k-fold row table
        + 24 * toys.dnn.batch_size * sum(widths)  # activations kept for backward
        + 4 * 2**28 // 1024  # scoring chunk (predict_logits: ~2**28 activations for ~1024 models)
    )
    return n * (f * elt + 4) + 8 * n2 + toys.models_per_toy * per_model


def _free_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def pass_width(
    toys: ToysSettings, device: torch.device, dtype: str, n1: int, n2: int, stream: TextIO
) -> int:
    """Toys per stacked pass, W: ``models_per_batch // models_per_toy`` when set, else
    ``toys.chunk_size``; capped by free memory (device memory on CUDA, RAM on CPU)."""
    s = toys
    want = max(1, s.models_per_batch // s.models_per_toy) if s.models_per_batch else s.chunk_size
    fits = int(0.5 * _free_bytes(device) // bytes_per_toy(s, dtype, n1, n2))
    got = max(1, min(want, fits))
    if got < want and s.pad_passes:
        print(
            f"[toys] warning: only {got} of the {want} toys of a pass fit in memory: passes "
            f"are {got} toys wide; toy results reproduce (bit for bit) only in passes of the "
            "same width",
            file=stream,
        )
    return got
