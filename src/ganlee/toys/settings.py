"""The ``toys`` section typed and checked, and the memory model that sizes a stacked pass.

Everything here is decided before any training (docs/design.md, "Toys"): a selection that keeps
no event or more events than sample 2 holds, an unknown input feature, samples too small for the
folds are configuration errors (``ConfigError``, exit 2).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
import torch

from ganlee.config import ConfigError
from ganlee.features import FEATURE_NAMES, check_feature_names
from ganlee.toys.classifier import DNNConfig
from ganlee.toys.inject import InjectSettings

__all__ = [
    "ToySettings",
    "bytes_per_toy",
    "check_folds",
    "pass_width",
    "selection_sizes",
    "toy_config",
    "training_dtype",
]

#: Keys of ``toys`` that only group toys into jobs and passes: not part of a toy's result.
GROUPING_KEYS = ("n_toys", "chunk_size", "models_per_batch", "pad_passes")


def toy_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The part of the config that defines a toy's result (hashed into every chunk file).

    The master seed, the ``toys`` section without ``n_toys``, ``chunk_size``,
    ``models_per_batch`` and ``pad_passes`` (they only decide how toys are grouped into jobs and
    passes), and the ``fit`` section. The device is not part of it.
    """
    toys = {k: v for k, v in cfg["toys"].items() if k not in GROUPING_KEYS}
    return {"seed": int(cfg["seed"]), "toys": toys, "fit": cfg["fit"]}


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


def _feature_index(names: list[str] | None) -> tuple[int, ...]:
    names = names if names is not None else list(FEATURE_NAMES)
    if not names:
        msg = "config key 'toys.features' is empty: the DNN needs at least one input"
        raise ConfigError(msg)
    check_feature_names(names, "toys.features")
    return tuple(FEATURE_NAMES.index(n) for n in names)


@dataclass(frozen=True)
class ToySettings:
    """The ``toys`` section of a validated config, typed."""

    seed: int
    source: str
    sample1_size: int | None
    sample2_size: int | None
    scoring: str
    k_folds: int
    selections: tuple[float, ...]
    feature_index: tuple[int, ...]
    dnn: DNNConfig
    models_per_batch: int | None
    backend: str
    chunk_size: int = 10
    pad_passes: bool = True
    inject: InjectSettings = dataclasses.field(default_factory=InjectSettings)
    diagnostics: bool = False

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ToySettings:
        t = cfg["toys"]
        feature_index = _feature_index(t["features"])
        for key in ("sample1_size", "sample2_size", "models_per_batch"):
            if t[key] is not None and t[key] < 1:
                msg = f"config key 'toys.{key}' must be >= 1 or null, got {t[key]}"
                raise ConfigError(msg)
        return cls(
            seed=int(cfg["seed"]),
            source=str(t["source"]),
            sample1_size=t["sample1_size"],
            sample2_size=t["sample2_size"],
            scoring=str(t["scoring"]),
            k_folds=int(t["k_folds"]),
            selections=tuple(float(f) for f in t["selections"]),
            feature_index=feature_index,
            dnn=DNNConfig.from_config(t["dnn"]),
            models_per_batch=t["models_per_batch"],
            backend=str(cfg["fit"]["backend"]),
            chunk_size=int(t["chunk_size"]),
            pad_passes=bool(t["pad_passes"]),
            inject=InjectSettings.from_config(cfg),
            diagnostics=bool(t.get("diagnostics", False)),
        )

    @property
    def models_per_toy(self) -> int:
        return self.k_folds if self.scoring == "kfold" else 1


def check_folds(settings: ToySettings, n: int, what: str) -> None:
    """``ConfigError`` when a sample of ``n`` events is too small for k-fold scoring."""
    k = settings.k_folds
    if settings.scoring == "kfold" and n < 2 * k:
        msg = (
            f"config key 'toys.k_folds' = {k}: {what} has {n} events, "
            f"need at least {2 * k} for k-fold scoring"
        )
        raise ConfigError(msg)


def training_dtype(settings: ToySettings, device: torch.device, stream: TextIO) -> str:
    """``toys.dnn.dtype``, with bfloat16 falling back to float32 off CUDA (said in the log)."""
    if settings.dnn.dtype == "bfloat16" and device.type != "cuda":
        print("[toys] toys.dnn.dtype bfloat16 needs CUDA: training in float32 on CPU", file=stream)
        return "float32"
    return settings.dnn.dtype


def bytes_per_toy(settings: ToySettings, dtype: str, n1: int, n2: int) -> int:
    """Rough device memory of one toy (its data and its ``models_per_toy`` models)."""
    n = n1 + n2
    f = len(settings.feature_index)
    elt = 2 if dtype == "bfloat16" else 4
    widths = (f, *settings.dnn.layers, 1)
    params = sum(a * b + b for a, b in itertools.pairwise(widths))
    per_model = (
        16 * params  # weights, gradients, two Adam moments (float32)
        + 48 * n  # shuffle keys and permutation temporaries (int64)
        + 8 * n  # k-fold row table
        + 24 * settings.dnn.batch_size * sum(widths)  # activations kept for backward
        + 4 * 2**28 // 1024  # scoring chunk (predict_logits: ~2**28 activations for ~1024 models)
    )
    return n * (f * elt + 4) + 8 * n2 + settings.models_per_toy * per_model


def _free_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def pass_width(
    settings: ToySettings, device: torch.device, dtype: str, n1: int, n2: int, stream: TextIO
) -> int:
    """Toys per stacked pass, W: ``models_per_batch // models_per_toy`` when set, else
    ``toys.chunk_size``; capped by free memory (device memory on CUDA, RAM on CPU)."""
    s = settings
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
