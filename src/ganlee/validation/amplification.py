"""GAN amplification of the m_llg shape (Butter et al., "GANplifying event samples",
arXiv:2008.06545): how many events of the true distribution a GAN sample is worth.

Quantile MSE (arXiv:2008.06545, Sec. 2): the m_llg axis is cut into ``n_q`` bins at the
quantiles of a large reference sample R (``N_R`` events, independent of the GAN's training
data), whose fractions are ``r_j`` (``1/n_q`` up to ties). For a sample X with fractions
``f_j``::

    MSE(X) = (1/n_q) sum_j (f_j - r_j)^2.

For X an independent sample of ``N`` events of the true distribution, ``f_j`` and ``r_j``
fluctuate independently around the true bin probabilities ``p_j`` (multinomial / the
quantile-bin coverage of order statistics), so::

    E[MSE_truth(N)] = kappa (1/N + 1/N_R),   kappa = (1/n_q) sum_j r_j (1 - r_j).

A GAN sample of ``N_G`` events has ``E[MSE] = b^2 + kappa (1/N_G + 1/N_R)`` with ``b^2`` the
GAN's shape bias. Its *equivalent number of events* is the truth-sample size with the same
expected MSE, ``N_eq = kappa / (MSE - kappa / N_R)``, and the amplification is
``A = N_eq / N_train`` (``N_train`` = the MC events the GAN was trained on). An exact sampler
has ``N_eq = N_G`` (A grows with the sample); a biased one saturates at ``kappa / b^2``.
MC-bootstrap toys resample the MC itself, so their shape is worth at most the MC they draw from.

Uncertainty: ``MSE - kappa / N_R`` carries the spread of the ``n_repeats`` independent GAN
samples (standard error of their mean) and that of the reference (standard deviation over
bootstrap resamples of R, quantile edges recomputed each time), added in quadrature; the
interval on ``N_eq`` is ``kappa / (excess +- sigma)`` (no upper end when ``excess - sigma <= 0``:
the reference cannot resolve the GAN's bias).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "amplification_study",
    "equivalent_events",
    "expected_truth_mse",
    "quantile_edges",
    "quantile_fractions",
    "quantile_mse",
]


def quantile_edges(reference: ArrayLike, n_quantiles: int) -> NDArray[np.float64]:
    """Bin edges at the ``j / n_q`` quantiles of ``reference``, outer edges at -inf / +inf."""
    ref = np.asarray(reference, dtype=np.float64).ravel()
    if n_quantiles < 2:
        msg = f"quantile_edges: need n_quantiles >= 2, got {n_quantiles}"
        raise ValueError(msg)
    if ref.size < n_quantiles:
        msg = (
            f"quantile_edges: the reference has {ref.size} events, "
            f"fewer than {n_quantiles} quantile bins"
        )
        raise ValueError(msg)
    inner = np.quantile(ref, np.arange(1, n_quantiles) / n_quantiles)
    return np.r_[-np.inf, inner, np.inf]


def quantile_fractions(x: ArrayLike, edges: ArrayLike) -> NDArray[np.float64]:
    """Fraction of ``x`` in each bin ``[e_j, e_{j+1})`` of ``edges`` (last axis = events)."""
    e = np.asarray(edges, dtype=np.float64)
    arr = np.asarray(x, dtype=np.float64)
    inner = e[1:-1]
    idx = np.searchsorted(inner, arr, side="right")
    nb = e.size - 1
    if arr.ndim == 1:
        return np.bincount(idx, minlength=nb) / max(arr.size, 1)
    flat = idx.reshape(-1, arr.shape[-1])
    out = np.stack([np.bincount(row, minlength=nb) for row in flat]) / arr.shape[-1]
    return out.reshape(*arr.shape[:-1], nb)


def quantile_mse(fractions: ArrayLike, ref_fractions: ArrayLike) -> NDArray[np.float64]:
    """``(1/n_q) sum_j (f_j - r_j)^2`` along the last axis (arXiv:2008.06545)."""
    f = np.asarray(fractions, dtype=np.float64)
    r = np.asarray(ref_fractions, dtype=np.float64)
    return np.mean((f - r) ** 2, axis=-1)


def _kappa(ref_fractions: ArrayLike) -> float:
    r = np.asarray(ref_fractions, dtype=np.float64)
    return float(np.mean(r * (1.0 - r)))


def expected_truth_mse(
    n: ArrayLike, ref_fractions: ArrayLike, n_reference: float | None = None
) -> NDArray[np.float64]:
    """Expected quantile MSE of an independent truth sample of ``n`` events:
    ``kappa (1/n + 1/N_R)`` (``n_reference`` None = an exact reference, no ``1/N_R`` term)."""
    k = _kappa(ref_fractions)
    inv_r = 0.0 if n_reference is None else 1.0 / float(n_reference)
    return k * (1.0 / np.asarray(n, dtype=np.float64) + inv_r)


def equivalent_events(
    mse: ArrayLike, ref_fractions: ArrayLike, n_reference: float | None = None
) -> NDArray[np.float64]:
    """Truth-sample size with expected MSE ``mse``: ``kappa / (mse - kappa / N_R)`` (inf when
    the excess is not positive)."""
    k = _kappa(ref_fractions)
    inv_r = 0.0 if n_reference is None else 1.0 / float(n_reference)
    excess = np.asarray(mse, dtype=np.float64) - k * inv_r
    with np.errstate(divide="ignore"):
        return np.where(excess > 0, k / np.where(excess > 0, excess, 1.0), np.inf)


def _interval(k: float, excess: float, sigma: float, n_train: float) -> dict[str, Any]:
    n_eq = k / excess if excess > 0 else math.inf
    lo = k / (excess + sigma) if excess + sigma > 0 else math.inf
    hi = k / (excess - sigma) if excess - sigma > 0 else math.inf
    return {
        "n_equivalent": n_eq,
        "n_equivalent_lo": lo,
        "n_equivalent_hi": hi,
        "amplification": n_eq / n_train,
        "amplification_lo": lo / n_train,
        "amplification_hi": hi / n_train,
        "amplification_err": (
            0.5 * (hi - lo) / n_train if math.isfinite(hi) and math.isfinite(lo) else math.inf
        ),
        "resolved": bool(excess - sigma > 0),
    }


def amplification_study(
    sampler: Callable[[int, int], ArrayLike],
    reference: ArrayLike,
    training: ArrayLike,
    sizes: Sequence[int],
    n_repeats: int = 10,
    n_quantiles: int = 20,
    n_bootstrap: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Quantile-MSE curves and the amplification of ``sampler`` (arXiv:2008.06545).

    Arguments:
        sampler: ``sampler(n, seed) -> n`` values of the sampled quantity (GAN m_llg).
        reference: a large sample of the true distribution, independent of ``training``.
        training: the events the generator was trained on (``N_train``; also the pool of the
            MC-bootstrap curve).
        sizes: generator sample sizes; each of the ``n_repeats`` samples of ``max(sizes)``
            events is cut to its first ``n`` events for the smaller sizes.
        seed: repeat r uses ``seed + r`` for the sampler; the bootstraps use ``seed``.

    Returns a JSON-ready dict: per size the mean MSE of the generator samples, its standard error,
    the truth expectation, ``N_eq`` and the amplification with their intervals; the same for
    the training sample itself and for bootstrap resamples of it; the headline (largest size).
    """
    ref = np.asarray(reference, dtype=np.float64).ravel()
    train = np.asarray(training, dtype=np.float64).ravel()
    n_r, n_t = ref.size, train.size
    sizes = sorted({int(s) for s in sizes})
    if not sizes or sizes[0] < 1:
        msg = f"amplification: sample sizes must be >= 1, got {sizes}"
        raise ValueError(msg)
    if n_repeats < 2:
        msg = f"amplification: need n_repeats >= 2 for an error, got {n_repeats}"
        raise ValueError(msg)
    edges = quantile_edges(ref, n_quantiles)
    r = quantile_fractions(ref, edges)
    k = _kappa(r)
    n_max = sizes[-1]
    samples = np.stack(
        [
            np.asarray(sampler(n_max, seed + i), dtype=np.float64).ravel()[:n_max]
            for i in range(n_repeats)
        ]
    )
    if samples.shape[1] != n_max:
        msg = f"amplification: the sampler returned {samples.shape[1]} values, asked for {n_max}"
        raise ValueError(msg)
    per_size = []
    for n in sizes:
        mse = quantile_mse(quantile_fractions(samples[:, :n], edges), r)
        mean, sem = float(mse.mean()), float(mse.std(ddof=1) / math.sqrt(n_repeats))
        row = {
            "n": n,
            "mse": mean,
            "mse_err": sem,
            "mse_truth_expected": float(expected_truth_mse(n, r, n_r)),
            **_interval(k, mean - k / n_r, sem, n_t),
        }
        per_size.append(row)
    # the reference's own share of the uncertainty: bootstrap R, recompute edges and MSE
    rng = np.random.default_rng(seed)
    pooled = samples.ravel()
    boot = np.empty(int(n_bootstrap))
    for b in range(int(n_bootstrap)):
        rb = ref[rng.integers(0, n_r, n_r)]
        eb = quantile_edges(rb, n_quantiles)
        boot[b] = float(
            quantile_mse(quantile_fractions(samples[b % n_repeats], eb), quantile_fractions(rb, eb))
        )
    sigma_ref = float(np.std(boot, ddof=1))
    head = per_size[-1]
    sigma = math.hypot(head["mse_err"], sigma_ref)
    headline = {
        "n": n_max,
        "mse": head["mse"],
        "mse_err_repeats": head["mse_err"],
        "mse_err_reference": sigma_ref,
        "mse_err": sigma,
        "excess_over_reference_noise": head["mse"] - k / n_r,
        **_interval(k, head["mse"] - k / n_r, sigma, n_t),
    }
    # the training sample itself and bootstrap resamples of it (what MC-bootstrap toys draw)
    mse_train = float(quantile_mse(quantile_fractions(train, edges), r))
    train_eq = _interval(k, mse_train - k / n_r, sigma_ref, n_t)
    boot_curve = []
    for n in sizes:
        picks = train[rng.integers(0, n_t, size=(n_repeats, n))]
        mse = quantile_mse(quantile_fractions(picks, edges), r)
        boot_curve.append(
            {
                "n": n,
                "mse": float(mse.mean()),
                "mse_err": float(mse.std(ddof=1) / math.sqrt(n_repeats)),
            }
        )
    return {
        "method": (
            "quantile MSE (1/n_q) sum_j (f_j - r_j)^2 in n_q quantile bins of the reference; "
            "truth expectation kappa (1/N + 1/N_R), kappa = mean r_j (1 - r_j); "
            "N_eq = kappa / (MSE - kappa / N_R); amplification = N_eq / N_train (arXiv:2008.06545)"
        ),
        "n_quantiles": int(n_quantiles),
        "n_reference": int(n_r),
        "n_train": int(n_t),
        "n_repeats": int(n_repeats),
        "n_bootstrap": int(n_bootstrap),
        "kappa": k,
        "reference_mse_noise": k / n_r,
        "edges": edges[1:-1].tolist(),
        "per_size": per_size,
        "headline": headline,
        "training_sample": {"n": n_t, "mse": mse_train, **train_eq},
        "bootstrap_of_training": boot_curve,
        "pooled_generator_events": int(pooled.size),
    }
