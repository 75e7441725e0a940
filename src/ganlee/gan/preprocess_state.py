"""The fitted state of ``ganlee.gan.preprocess.Preprocessor``, below the modes that use it.

``ganlee.gan.preprocess`` (the transforms and their checks) and ``ganlee.gan.quantile_mode`` (the
quantile mode's fit, encode and decode) both work on this state, so neither imports the other's
upper half (docs/design.md, "Layers": no import cycles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ganlee.gan.transforms import QuantileMap

__all__ = ["PI32", "PreprocessorState", "f32_inside"]

#: Largest float32 not above pi: generated angles are clamped to +-PI32 so that they pass a
#: float64 check ``|phi| <= pi`` after conversion.
PI32 = float(np.nextafter(np.float32(math.pi), np.float32(0.0)))


def f32_inside(lo: float, hi: float) -> tuple[float, float]:
    """float32 bounds lying inside the closed float64 interval [lo, hi].

    >>> f32_inside(130.0, 170.0)
    (130.0, 170.0)
    """
    flo, fhi = np.float32(lo), np.float32(hi)
    if float(flo) < lo:
        flo = np.nextafter(flo, np.float32(np.inf))
    if float(fhi) > hi:
        fhi = np.nextafter(fhi, np.float32(-np.inf))
    return float(flo), float(fhi)


@dataclass
class PreprocessorState:
    """The fields of a fitted preprocessor (the methods are ``Preprocessor``'s)."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    mode: str
    window: tuple[float, float] | None
    mid: np.ndarray
    half: np.ndarray
    shift: np.ndarray
    folded: np.ndarray
    allow_zero: np.ndarray
    #: (sub, total) column pairs with ``x[sub] <= x[total]`` (n_central_jets <= n_jets).
    pairs: tuple[tuple[int, int], ...] = ()
    #: quantile mode: angle rotations, the Gaussianising map, the generated columns.
    offset: np.ndarray | None = None
    qmap: QuantileMap | None = None
    model_cols: tuple[int, ...] = ()
    #: quantile mode: the generator's own marginals mapped onto N(0, 1) (``gan.recalibrate``).
    recal: QuantileMap | None = None
    #: quantile mode with ``gan.mllg_smoothing``: the smooth window-feature fit's summary
    #: (``ganlee.gan.smooth_marginal.smooth_window_quantiles``).
    smoothing: dict[str, Any] | None = None
    _cache: dict[str, dict[str, torch.Tensor]] = field(
        default_factory=dict, repr=False, compare=False
    )
