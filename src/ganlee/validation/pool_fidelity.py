"""The generator against the closure's independent MC pool, at the pool's full statistics.

``gan_validate``'s fidelity gate compares the generator with the training MC's hold-out at the
toy size (``ganlee.gan.fidelity``); that hold-out is small (a fifth of the MC) and was selected
from the same generation jobs. The closure study generates an MC pool with seeds independent of
the training MC (``validation.closure.pool``), so it is the sharper and independent reference
(docs/design.md, "Validation: closure test"):

* ``auc``: a gradient-boosting classifier two-sample test (``ganlee.gan.metrics.classifier_auc``,
  arXiv:1610.06545) of generator events against pool half A, and its null - pool half B against
  pool half A at the same sizes - repeated over ``splits`` random halvings. The AUC grows with
  the events the classifier trains on, so ``auc_by_size`` also gives it at ``small`` events per
  class (5,000: a hold-out of the size the fidelity targets were stated for) besides the whole
  half;
* ``mllg``: the generator/pool ratio of m_llg per bin of ``gan.fidelity.mllg_bin_width`` over the
  window, from ``oversample`` times the pool's size of generator events, with Poisson errors and
  the chi-square p-value (``ganlee.gan.fidelity.mllg_ratio``); ``max_abs_deviation`` is the
  largest |ratio - 1| over the bins, the edge bins included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["pool_fidelity"]


def pool_fidelity(
    draw: Callable[[int, int], np.ndarray],
    names: Sequence[str],
    window: tuple[float, float],
    pool: np.ndarray,
    mllg_bin_width: float,
    seed: int,
    splits: int = 3,
    oversample: int = 10,
    small: int = 5000,
) -> dict[str, Any]:
    """The generator ``draw(n, seed) -> (n, d)`` events (columns ``names``; for a model,
    ``ganlee.gan.sample.sample(model, n, seed)``) against ``pool`` ``(n, d)`` (same columns):
    classifier AUC with its MC-vs-MC null and the m_llg ratio over ``window`` (module
    docstring), the m_llg ratio in ``mllg_bin_width`` bins (``gan.fidelity.mllg_bin_width``)."""
    from ganlee.gan.fidelity import mllg_ratio
    from ganlee.gan.metrics import classifier_auc
    from ganlee.seeds import derive_seed, numpy_rng

    n = pool.shape[0]
    half = n // 2
    if half < 100:
        msg = f"pool fidelity: the MC pool has {n} events; at least 200 are needed"
        raise ValueError(msg)
    by_size = []
    for size in sorted({min(small, half), half}):
        aucs, nulls = [], []
        for s in range(splits):
            perm = numpy_rng(seed, "pool_fidelity", "split", size, s).permutation(n)
            a, b = pool[perm[:size]], pool[perm[half : half + size]]
            gen = draw(size, derive_seed(seed, "pool_fidelity", "sample", size, s))
            key = derive_seed(seed, "pool_fidelity", "auc", size, s)
            aucs.append(classifier_auc(a, gen, key)["auc"])
            nulls.append(classifier_auc(a, b, key)["auc"])
        by_size.append(
            {
                "events_per_class": int(size),
                "values": aucs,
                "mean": float(np.mean(aucs)),
                "null_values": nulls,
                "null_mean": float(np.mean(nulls)),
            }
        )
    col = list(names).index("m_llg")
    big = draw(oversample * n, derive_seed(seed, "pool_fidelity", "mllg"))
    width = float(mllg_bin_width)
    return {
        "n_pool": int(n),
        "auc": {
            **by_size[-1],
            "note": "generator vs pool half A; null: pool half B vs pool half A; half of "
            "each class trains the classifier, half tests it",
        },
        "auc_by_size": by_size,
        "mllg": {
            **mllg_ratio(pool[:, col], big[:, col], window, width),
            "n_generated": int(big.shape[0]),
        },
    }
