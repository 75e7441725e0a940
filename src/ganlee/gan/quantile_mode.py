"""The ``quantile`` preprocessing of ``ganlee.gan.preprocess.Preprocessor``: fit, encode, decode.

See the ``ganlee.gan.preprocess`` module docstring and docs/design.md,
"Generator (GAN and flow): preprocessing, training, fidelity".
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ganlee.gan.preprocess_state import PI32, PreprocessorState, f32_inside
from ganlee.gan.transforms import QuantileMap, derive_torch, derived_columns, wrap, wrap_torch

__all__ = ["decode", "encode", "fit", "forward", "recalibrate"]

#: Generator outputs drawn to fit the marginal recalibration, and its knots.
RECAL_EVENTS = 200_000
RECAL_KNOTS = 512

#: Bins of the histogram whose emptiest stretch places an angle's cut at +-pi.
_ANGLE_BINS = 36


def _relative(pre: PreprocessorState, x: np.ndarray) -> np.ndarray:
    """Events with phi_ll replaced by phi_ll - phi_llg (wrapped) in the derived representation."""
    y = np.array(x, dtype=np.float64, copy=True)
    if len(pre.model_cols) < len(pre.names):
        c = {n: i for i, n in enumerate(pre.names)}
        y[:, c["phi_ll"]] = wrap(x[:, c["phi_ll"]] - x[:, c["phi_llg"]])
    return y


def forward(pre: PreprocessorState, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Events (n, d) -> generated columns (n, dim) before Gaussianising (float64)."""
    y = _relative(pre, x)
    for sub, tot in pre.pairs:
        y[:, tot] = x[:, tot] - x[:, sub]
    assert pre.offset is not None
    for j, kind in enumerate(pre.kinds):
        if kind == "positive":
            y[:, j] = np.log(y[:, j] + pre.shift[j])
        elif kind == "integer":
            y[:, j] = y[:, j] + rng.random(len(y))
        elif kind == "angle" and not pre.folded[j]:
            y[:, j] = wrap(y[:, j] - pre.offset[j])
    return y[:, list(pre.model_cols)]


def _emptiest_direction(a: np.ndarray) -> float:
    """The middle of the longest circular stretch of bins at the lowest (7-bin smoothed)
    density of the angles ``a``."""
    counts, _ = np.histogram(a, _ANGLE_BINS, (-math.pi, math.pi))
    smooth = np.sum([np.roll(counts, s) for s in range(-3, 4)], axis=0)
    is_min = smooth == smooth.min()
    best_len, best_mid = 0, float(np.argmin(smooth))
    for start in np.flatnonzero(is_min & ~np.roll(is_min, 1)):
        length = 0
        while length < _ANGLE_BINS and is_min[(start + length) % _ANGLE_BINS]:
            length += 1
        if length > best_len:
            best_len, best_mid = length, start + 0.5 * (length - 1)
    return -math.pi + (best_mid + 0.5) * 2 * math.pi / _ANGLE_BINS


def _bounds(pre: PreprocessorState, j: int) -> tuple[float | None, float | None]:
    kind = pre.kinds[j]
    if kind == "window":
        assert pre.window is not None
        return pre.window
    if kind == "angle":
        return (0.0 if pre.folded[j] else -math.pi, math.pi)
    if kind == "integer":
        return (0.0, None)
    return (None, None)


def fit(
    pre: PreprocessorState,
    x: np.ndarray,
    rng: np.random.Generator,
    knots: int,
    derived: bool,
    smooth_window: float | None = None,
) -> None:
    """Choose the generated columns and angle cuts, and fit the Gaussianising map (in place).

    ``smooth_window``: knot spacing (GeV) of the smooth density whose quantiles replace the
    window feature's (m_llg's) empirical knots (``ganlee.gan.smooth_marginal``); None = keep
    the empirical quantiles."""
    d = len(pre.names)
    drop = derived_columns(pre.names) if derived else None
    pre.model_cols = tuple(j for j in range(d) if drop is None or j not in drop)
    pre.offset = np.zeros(d)
    rel = _relative(pre, x)
    for j, kind in enumerate(pre.kinds):
        if kind == "angle" and not pre.folded[j]:
            pre.offset[j] = float(wrap(np.array(_emptiest_direction(rel[:, j]) - math.pi)))
    y = forward(pre, x, rng)
    bounds = [_bounds(pre, j) for j in pre.model_cols]
    pre.qmap = QuantileMap.fit(y, [b[0] for b in bounds], [b[1] for b in bounds], knots)
    if smooth_window is not None and pre.window is not None and "window" in pre.kinds:
        from ganlee.gan.smooth_marginal import smooth_window_quantiles

        jj = list(pre.model_cols).index(pre.kinds.index("window"))
        k = pre.qmap.n_knots
        q, info = smooth_window_quantiles(y[:, jj], pre.window, float(smooth_window), k)
        pre.qmap.knots[jj, 1:k] = q
        pre.smoothing = info
    pre.mid = np.zeros(d)
    pre.half = np.ones(d)


def encode(pre: PreprocessorState, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Events (n, d) -> Gaussianised training inputs (n, dim), float32."""
    assert pre.qmap is not None
    return pre.qmap.forward(forward(pre, x, rng)).astype(np.float32)


def decode(pre: PreprocessorState, z: torch.Tensor) -> torch.Tensor:
    """Generator outputs (n, dim) -> events (n, d) float32, valid by construction except for
    overflows (non-finite, rejected by ``valid_mask``)."""
    assert pre.qmap is not None
    assert pre.offset is not None
    cache = pre._cache.setdefault(f"q{z.device}", {})
    if not cache:
        cache.update(pre.qmap._tensors(z.device))
    if pre.recal is not None:
        rc = pre._cache.setdefault(f"r{z.device}", {})
        if not rc:
            rc.update(pre.recal._tensors(z.device))
        z = pre.recal.forward_torch(z, rc)
    v = pre.qmap.inverse(z, cache)
    x = torch.zeros((len(z), len(pre.names)), dtype=torch.float64, device=z.device)
    x[:, list(pre.model_cols)] = v
    for j, kind in enumerate(pre.kinds):
        if j not in pre.model_cols:
            continue
        col = x[:, j]
        if kind == "positive":
            col = torch.exp(col) - float(pre.shift[j])
            x[:, j] = col.clamp_min(0.0) if pre.allow_zero[j] else col
        elif kind == "integer":
            x[:, j] = torch.floor(col).clamp_min(0.0)
        elif kind == "angle" and not pre.folded[j]:
            x[:, j] = wrap_torch(col + float(pre.offset[j]))
    if len(pre.model_cols) < len(pre.names):
        derive_torch(x, pre.names)
    for sub, tot in pre.pairs:
        x[:, tot] = x[:, tot] + x[:, sub]
    out = x.float()
    for j, kind in enumerate(pre.kinds):
        if kind == "angle":
            out[:, j] = out[:, j].clamp(0.0 if pre.folded[j] else -PI32, PI32)
        elif kind == "window":
            assert pre.window is not None
            out[:, j] = out[:, j].clamp(*f32_inside(*pre.window))
    return out


def recalibrate(pre: PreprocessorState, net: torch.nn.Module, latent_dim: int, seed: int) -> None:
    """Fit ``pre.recal``: the generated columns' marginals mapped onto N(0, 1).

    ``RECAL_EVENTS`` outputs of ``net`` (latent vectors from ``seed``) define each column's
    empirical CDF F_G; decoding then applies Phi^-1(F_G(y)) before the Gaussianising map, so the
    decoded marginals are the training marginals while the generator's dependence between the
    columns (its copula) is kept - a monotone per-column correction, it cannot change ranks.
    """
    dev = next(net.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(int(seed) & ((1 << 63) - 1))
    with torch.inference_mode():
        parts = [
            net(torch.randn((50_000, latent_dim), generator=gen, device=dev)).double().cpu()
            for _ in range(RECAL_EVENTS // 50_000)
        ]
    y = torch.cat(parts).numpy()
    y = y[np.isfinite(y).all(axis=1)]
    d = y.shape[1]
    pre.recal = QuantileMap.fit(y, [None] * d, [None] * d, RECAL_KNOTS)
    pre._cache.clear()
