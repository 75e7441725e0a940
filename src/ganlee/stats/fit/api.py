"""Front ends of the fits: ``scan`` (either backend, one or several background models) and
``fit_point`` (both fits of one histogram at one mass, with what is needed to draw them).

docs/design.md, "Fits and background model".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ganlee.config import ConfigError
from ganlee.stats.fit.batched import scan_batched
from ganlee.stats.fit.minuit import scan_iminuit
from ganlee.stats.fit.model import expected_counts
from ganlee.stats.fit.results import ScanResult, counts_numpy
from ganlee.stats.fit.spec import BACKENDS, FitSpec

__all__ = ["fit_point", "scan"]


def scan(
    counts: Any,
    spec: FitSpec,
    backend: str | None = None,
    device: Any = None,
    background: str | Sequence[str] | None = None,
) -> ScanResult:
    """Fit B histograms (B, nbins) at every mass of ``spec`` (backend None: ``spec.backend``).

    ``background``: one family member for all histograms, or one per histogram (B,) (e.g. the
    chosen model of each selection); None: ``spec.background``. Histograms with the same model
    are fitted together; parameter arrays are padded with NaN to the largest model.
    """
    name = spec.backend if backend is None else backend
    if name not in BACKENDS:
        msg = f"config key 'fit.backend' must be one of {BACKENDS}, got {name!r}"
        raise ConfigError(msg)
    if background is None or isinstance(background, str):
        one = spec if background is None else spec.with_background(background)
        return _scan_one(counts, one, name, device)
    models = [str(b) for b in background]
    n_rows = counts.shape[0] if counts.ndim == 2 else 1
    if len(models) != n_rows:
        msg = f"scan: {len(models)} background models for {n_rows} histograms"
        raise ValueError(msg)
    unique = list(dict.fromkeys(models))
    if len(unique) == 1:
        return _scan_one(counts, spec.with_background(unique[0]), name, device)
    parts = []
    for model in unique:
        rows = np.flatnonzero(np.asarray(models) == model)
        sub = (
            counts[torch.as_tensor(rows)]
            if isinstance(counts, torch.Tensor)
            else np.asarray(counts)[rows]
        )
        parts.append((rows, _scan_one(sub, spec.with_background(model), name, device)))
    return _merge(parts, n_rows, models)


def _scan_one(counts: Any, spec: FitSpec, backend: str, device: Any) -> ScanResult:
    if backend == "batched":
        return scan_batched(counts, spec, device=device)
    return scan_iminuit(counts, spec)


def _merge(
    parts: list[tuple[np.ndarray, ScanResult]], n_rows: int, models: list[str]
) -> ScanResult:
    """One ``ScanResult`` of the row subsets ``parts`` (parameters padded with NaN)."""
    first = parts[0][1]
    m_count = first.z.shape[1]
    p_max = max(r.bkg_params.shape[1] for _, r in parts)

    def full(shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
        return (
            np.full(shape, np.nan, dtype=dtype)
            if dtype == np.float64
            else np.zeros(shape, dtype=dtype)
        )

    out = ScanResult(
        z=full((n_rows, m_count)),
        n1=full((n_rows, m_count)),
        status=full((n_rows, m_count), np.int8),
        bkg_params=full((n_rows, p_max)),
        bkg_status=full((n_rows,), np.int8),
        lnl_b=full((n_rows,)),
        masses=first.masses,
        lnl_sb=full((n_rows, m_count)),
        sb_params=full((n_rows, m_count, p_max + 1)),
        background=models,
    )
    assert out.sb_params is not None
    assert out.lnl_sb is not None
    for rows, r in parts:
        p = r.bkg_params.shape[1]
        out.z[rows], out.n1[rows], out.status[rows] = r.z, r.n1, r.status
        out.bkg_params[rows, :p] = r.bkg_params
        out.bkg_status[rows], out.lnl_b[rows] = r.bkg_status, r.lnl_b
        assert r.sb_params is not None
        assert r.lnl_sb is not None
        out.lnl_sb[rows] = r.lnl_sb
        out.sb_params[rows, :, :p] = r.sb_params[..., :p]
        out.sb_params[rows, :, p_max] = r.sb_params[..., p]
    return out


def fit_point(
    counts: Any, spec: FitSpec, mass: float, backend: str | None = None
) -> dict[str, Any]:
    """Both fits of one histogram (nbins,) at one mass, with what is needed to draw them.

    Returns a dict: ``background`` (the model), ``param_names``, ``bkg_params`` and
    ``bkg_errors`` (background-only fit), ``sb_params`` and ``sb_errors`` (signal+background,
    the last entry ``n1``), ``n1``, ``mu`` (the mass), ``expected_b`` and ``expected_sb``
    (nbins,) expected counts of the two fits, ``z``, ``lnl_b``, ``lnl_sb``, ``status`` (code,
    ``ganlee.stats.fit.results``) and ``valid`` (status == 0). For ``exp_poly2`` also the
    named ``n0, a, b`` and ``n0_sb, a_sb, b_sb``.
    """
    y = counts_numpy(counts, spec.nbins)
    if y.shape[0] != 1:
        msg = f"fit_point: one histogram ({spec.nbins},) expected, got {y.shape}"
        raise ValueError(msg)
    one = spec.with_masses([float(mass)])
    name = spec.backend if backend is None else backend
    if name == "iminuit":
        res = scan_iminuit(y, one, errors=True)
    else:
        res = scan_batched(y, one, errors=True)
    assert res.sb_params is not None
    bkg = res.bkg_params[0]
    sb = res.sb_params[0, 0]
    status = int(res.status[0, 0])
    nan_bins = np.full(spec.nbins, np.nan)
    exp_b = expected_counts(spec, *bkg) if res.bkg_status[0] == 0 else nan_bins
    exp_sb = (
        expected_counts(spec, *sb[:-1], n1=float(sb[-1]), mu=float(mass))
        if status == 0
        else nan_bins
    )
    out: dict[str, Any] = {
        "background": spec.background,
        "param_names": spec.family.param_names,
        "bkg_params": bkg,
        "bkg_errors": res.bkg_errors[0] if res.bkg_errors is not None else None,
        "sb_params": sb,
        "n1": float(sb[-1]),
        "sb_errors": res.sb_errors[0, 0] if res.sb_errors is not None else None,
        "mu": float(mass),
        "expected_b": exp_b,
        "expected_sb": exp_sb,
        "z": float(res.z[0, 0]),
        "lnl_b": float(res.lnl_b[0]),
        "lnl_sb": float(res.lnl_sb[0, 0]) if res.lnl_sb is not None else float("nan"),
        "status": status,
        "valid": status == 0,
    }
    if spec.background == "exp_poly2":
        out.update(
            n0=float(bkg[0]),
            a=float(bkg[1]),
            b=float(bkg[2]),
            n0_sb=float(sb[0]),
            a_sb=float(sb[1]),
            b_sb=float(sb[2]),
        )
    return out
