"""The toys' fits: Z(selection, mass) of every (toy, selection) histogram and the maximum.

One batched scan (``ganlee.stats.fit.scan``) over all T x S m_llg histograms of a chunk gives
``Z = sqrt(2 (ln L_sb - ln L_b))`` at every mass of the grid (docs/design.md, "Fits and
background model"), each selection with its own background model (the choice of rule
fit_model, else ``fit.background``); ``z_max`` is the largest finite Z over selections and
masses. A fit that
fails is not an error: its Z is NaN and it is counted in ``n_failed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ganlee.stats.fit import FitSpec, goodness_of_fit, scan

__all__ = ["fit_histograms", "scan_z", "z_maxima"]


def scan_z(
    counts: torch.Tensor,
    spec: FitSpec,
    device: Any = None,
    models: Sequence[str] | None = None,
    gof: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Z of every histogram of ``counts`` ``(T, S, nbins)`` at every mass of ``spec``:
    float64 ``(T, S, M)``, NaN where a fit failed (non-zero status or non-finite Z).
    ``models`` (S,): the background model of each selection (None: ``spec.background``);
    ``gof``: also the goodness of fit of each background-only fit (``gof_*`` arrays (T, S))."""
    T, S, nb = counts.shape
    flat = counts.reshape(T * S, nb)
    background = None if models is None else list(models) * T
    res = scan(flat, spec, backend=spec.backend, device=device, background=background)
    z = np.asarray(torch.as_tensor(res.z).cpu(), dtype=np.float64).reshape(T, S, -1)
    status = np.asarray(torch.as_tensor(res.status).cpu()).reshape(T, S, -1)
    extra: dict[str, np.ndarray] = {}
    if gof:
        g = goodness_of_fit(flat.cpu().numpy(), res, spec)
        extra = {f"gof_{k}": v.reshape(T, S) for k, v in g.items()}
    return np.where((status != 0) | ~np.isfinite(z), np.nan, z), extra


def z_maxima(
    z: np.ndarray, masses: np.ndarray, selections: Sequence[float]
) -> dict[str, np.ndarray]:
    """The chunk arrays of a Z table ``(T, S, M)``: ``z`` (float32), per toy ``z_max``,
    ``mass_at_max``, ``selection_at_max`` (NaN when every fit failed), ``n_fits``,
    ``n_failed``. Ties go to the first (selection, mass) in row-major order."""
    T, S, M = z.shape
    failed = ~np.isfinite(z)
    zf = np.where(failed, -np.inf, z).reshape(T, S * M)
    best = zf.argmax(axis=1)
    zmax = zf[np.arange(T), best]
    ok = np.isfinite(zmax)
    sel = np.asarray(selections, dtype=np.float64)
    return {
        "z": z.astype(np.float32),
        "z_max": np.where(ok, zmax, np.nan),
        "mass_at_max": np.where(ok, np.asarray(masses)[best % M], np.nan),
        "selection_at_max": np.where(ok, sel[best // M], np.nan),
        "n_fits": np.full(T, S * M, dtype=np.int64),
        "n_failed": failed.reshape(T, -1).sum(axis=1).astype(np.int64),
    }


def fit_histograms(
    counts: torch.Tensor,
    spec: FitSpec,
    selections: Sequence[float],
    device: Any = None,
    models: Sequence[str] | None = None,
    gof: bool = False,
) -> dict[str, np.ndarray]:
    """Fit the m_llg histograms ``counts`` ``(T, S, nbins)`` of T toys and S selections (the
    background model of each selection: ``models``): the chunk arrays of ``z_maxima``, with
    ``gof`` also the ``gof_*`` goodness-of-fit arrays (T, S)."""
    z, extra = scan_z(counts, spec, device, models, gof)
    return {**z_maxima(z, spec.masses, selections), **extra}
