"""Fidelity metrics of generated events against held-out MC (arXiv:2211.10295).

* per-feature 1-D Wasserstein-1 distance (also in units of the MC standard deviation) and
  two-sample Kolmogorov-Smirnov statistic;
* Pearson correlation matrices of both samples and their difference (max |diff|, Frobenius norm);
* a classifier two-sample test: ROC AUC of a gradient-boosted classifier trained to separate MC
  from GAN on one half and evaluated on the other (0.5 = indistinguishable; arXiv:1610.06545,
  arXiv:2211.10295 sec. 2);
* Fréchet distance of the standardised features (FPD, arXiv:2211.10295, the FID formula of
  arXiv:1706.08500), also extrapolated to infinite sample size (FPD_inf, linear in 1/N);
* kernel distance (KPD: unbiased MMD^2 with the cubic polynomial kernel, arXiv:2211.10295,
  arXiv:1801.01401), median over batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "classifier_auc",
    "correlation_matrix",
    "evaluate",
    "fpd_infinity",
    "frechet_distance",
    "kpd",
    "one_thread",
    "standardise",
]


def standardise(ref: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Scale ``ref`` and ``others`` by the mean and standard deviation of ``ref`` (constant: 1)."""
    mu = ref.mean(axis=0)
    sd = ref.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return [(a - mu) / sd for a in (ref, *others)]


def correlation_matrix(x: np.ndarray) -> np.ndarray:
    """Pearson correlation matrix; a constant column gets 0 off the diagonal and 1 on it."""
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean(axis=0)
    sd = np.sqrt((xc**2).mean(axis=0))
    ok = sd > 0
    z = np.where(ok, xc / np.where(ok, sd, 1.0), 0.0)
    c = z.T @ z / len(x)
    np.fill_diagonal(c, 1.0)
    return np.clip(c, -1.0, 1.0)


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to ``x`` and ``y`` (arXiv:1706.08500, arXiv:2211.10295).

    ``|mu_x - mu_y|^2 + Tr(S_x + S_y - 2 (S_x S_y)^(1/2))``, with
    ``Tr (S_x S_y)^(1/2) = sum_i sqrt(lambda_i)`` over the eigenvalues of the symmetric PSD
    matrix ``S_x^(1/2) S_y S_x^(1/2)`` (stable also for singular covariances).
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64).T).T
    y = np.atleast_2d(np.asarray(y, dtype=np.float64).T).T
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    s_x = np.atleast_2d(np.cov(x, rowvar=False))
    s_y = np.atleast_2d(np.cov(y, rowvar=False))
    w, v = np.linalg.eigh(s_x)
    root_x = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    lam = np.linalg.eigvalsh(root_x @ s_y @ root_x)
    tr_covmean = float(np.sum(np.sqrt(np.clip(lam, 0.0, None))))
    d = float(np.sum((mu_x - mu_y) ** 2) + np.trace(s_x) + np.trace(s_y) - 2.0 * tr_covmean)
    return max(d, 0.0)


def fpd_infinity(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, n_points: int = 7, n_repeats: int = 5
) -> dict[str, Any]:
    """FPD extrapolated to infinite N: FD on subsamples of size N, fit ``a + b / N``, report ``a``.

    Following arXiv:2211.10295 (sec. 3), where FPD_inf removes the 1/N bias of the finite-sample
    estimate; the error is the fit's standard error of the intercept.
    """
    n = min(len(x), len(y))
    sizes = np.unique(np.linspace(max(n // 5, 50), n, n_points).astype(int))
    inv, vals = [], []
    for size in sizes:
        for _ in range(n_repeats if size < n else 1):
            ix = rng.choice(len(x), size, replace=False)
            iy = rng.choice(len(y), size, replace=False)
            inv.append(1.0 / size)
            vals.append(frechet_distance(x[ix], y[iy]))
    a = np.column_stack([np.ones(len(inv)), inv])
    coef, *_ = np.linalg.lstsq(a, np.asarray(vals), rcond=None)
    resid = np.asarray(vals) - a @ coef
    dof = max(len(vals) - 2, 1)
    cov = np.linalg.pinv(a.T @ a) * float(resid @ resid) / dof
    return {
        "value": float(coef[0]),
        "error": float(np.sqrt(max(cov[0, 0], 0.0))),
        "sizes": [int(s) for s in sizes],
    }


def kpd(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, batch: int = 1000, n_batches: int = 10
) -> dict[str, float]:
    """Kernel physics distance: unbiased MMD^2, ``k(a, b) = (a.b / d + 1)^3`` (arXiv:2211.10295).

    Median and interquartile half-range over ``n_batches`` random batches of ``batch`` events.
    """
    d = x.shape[1]
    m = max(min(batch, len(x) // 2, len(y) // 2), 2)  # batches differ from one another
    vals = []
    for _ in range(n_batches):
        a = x[rng.choice(len(x), m, replace=False)]
        b = y[rng.choice(len(y), m, replace=False)]
        kxx = (a @ a.T / d + 1) ** 3
        kyy = (b @ b.T / d + 1) ** 3
        kxy = (a @ b.T / d + 1) ** 3
        off = m * (m - 1)
        mmd2 = (
            (kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off - 2 * kxy.mean()
        )
        vals.append(mmd2)
    q25, q50, q75 = np.percentile(vals, [25, 50, 75])
    return {"value": float(q50), "error": float(0.5 * (q75 - q25)), "batch": int(m)}


def one_thread() -> Any:
    """Limit OpenMP/BLAS to one thread inside the block: the histogram gradient boosting's
    OpenMP barriers spin-wait, and on a loaded machine (parallel Snakemake jobs on two cores)
    two threads take more than 30x as long as one."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def classifier_auc(
    mc: np.ndarray, gan: np.ndarray, seed: int, train_fraction: float = 0.5, max_iter: int = 200
) -> dict[str, Any]:
    """Classifier two-sample test: AUC of MC-vs-GAN on events not used for training (0.5 = ideal).

    A ``HistGradientBoostingClassifier`` is trained on ``train_fraction`` of each sample (equal
    sizes) and the ROC AUC is computed on the rest (arXiv:1610.06545; arXiv:2211.10295 sec. 2).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    n = min(len(mc), len(gan))
    a = mc[rng.permutation(len(mc))[:n]]
    b = gan[rng.permutation(len(gan))[:n]]
    n_tr = round(train_fraction * n)
    x_tr = np.concatenate([a[:n_tr], b[:n_tr]])
    y_tr = np.concatenate([np.zeros(n_tr), np.ones(n_tr)])
    x_te = np.concatenate([a[n_tr:], b[n_tr:]])
    y_te = np.concatenate([np.zeros(n - n_tr), np.ones(n - n_tr)])
    clf = HistGradientBoostingClassifier(max_iter=max_iter, random_state=int(seed % (2**32)))
    with one_thread():
        clf.fit(x_tr, y_tr)
        auc = float(roc_auc_score(y_te, clf.predict_proba(x_te)[:, 1]))
    # Standard error of an AUC of two equal samples under the null (Hanley-McNeil, no separation).
    n_te = n - n_tr
    se_null = float(np.sqrt((2 * n_te + 1) / (12.0 * n_te * n_te))) if n_te else float("nan")
    return {
        "auc": auc,
        "null_std": se_null,
        "n_train_per_class": n_tr,
        "n_test_per_class": n_te,
        "classifier": f"HistGradientBoostingClassifier(max_iter={max_iter})",
    }


def evaluate(
    mc: np.ndarray, gan: np.ndarray, names: Sequence[str], seed: int, classifier_iter: int = 200
) -> dict[str, Any]:
    """All metrics of the module for MC hold-out ``mc`` vs generated ``gan`` (both (n, d))."""
    mc = np.asarray(mc, dtype=np.float64)
    gan = np.asarray(gan, dtype=np.float64)
    if mc.shape[1] != len(names) or gan.shape[1] != len(names):
        msg = f"metrics: shapes {mc.shape} and {gan.shape} do not match {len(names)} feature names"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    per: dict[str, dict[str, float]] = {}
    for j, name in enumerate(names):
        a, b = mc[:, j], gan[:, j]
        sd = float(a.std())
        w1 = float(stats.wasserstein_distance(a, b))
        ks = stats.ks_2samp(a, b)
        per[name] = {
            "w1": w1,
            "w1_over_std": w1 / sd if sd > 0 else float("nan"),
            "ks": float(ks.statistic),
            "ks_pvalue": float(ks.pvalue),
            "mc_mean": float(a.mean()),
            "gan_mean": float(b.mean()),
            "mc_std": sd,
            "gan_std": float(b.std()),
        }
    c_mc, c_gan = correlation_matrix(mc), correlation_matrix(gan)
    diff = c_gan - c_mc
    zs_mc, zs_gan = standardise(mc, gan)
    w1s = [v["w1_over_std"] for v in per.values() if np.isfinite(v["w1_over_std"])]
    fpd_inf = fpd_infinity(zs_mc, zs_gan, rng)
    auc = classifier_auc(zs_mc, zs_gan, int(rng.integers(2**31)), max_iter=classifier_iter)
    return {
        "n_mc": len(mc),
        "n_gan": len(gan),
        "w1_over_std_mean": float(np.mean(w1s)) if w1s else float("nan"),
        "w1_over_std_max": float(np.max(w1s)) if w1s else float("nan"),
        "ks_max": float(max(v["ks"] for v in per.values())),
        "per_feature": per,
        "correlation": {
            "max_abs_diff": float(np.abs(diff).max()),
            "frobenius_diff": float(np.linalg.norm(diff)),
            "mc": c_mc.tolist(),
            "gan": c_gan.tolist(),
        },
        "classifier": auc,
        "fpd": {
            "value": frechet_distance(zs_mc, zs_gan),
            **{f"inf_{k}": v for k, v in fpd_inf.items()},
        },
        "kpd": kpd(zs_mc, zs_gan, rng),
    }
