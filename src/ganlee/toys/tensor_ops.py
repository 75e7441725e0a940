"""Pure tensor operations of the toys, batched over T toys (rows): folds, histograms, metrics.

No state, no config: shapes in, shapes out (docs/design.md, "Toys").
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "fold_events",
    "kfold_split",
    "pearson_rows",
    "roc_auc",
    "selection_histograms",
    "sync",
]


def sync(device: torch.device) -> None:
    """Wait for the device's queued kernels (phase timing on CUDA); nothing on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def selection_histograms(spec: Any, values: torch.Tensor, sizes: np.ndarray) -> torch.Tensor:
    """Histograms of the first ``sizes[s]`` entries of each row of ``values``: ``(T, S, nbins)``.

    ``values`` ``(T, n)`` is ordered by decreasing classifier response, so the first
    ``sizes[s]`` entries are selection s. The binning is the fit's own
    (``ganlee.stats.fit.FitSpec.histogram``: ``[e_i, e_{i+1})``, the last bin closed, entries
    outside the range not counted); the nested selections are histogrammed as disjoint slices
    of the ranking and summed cumulatively. Returns float64 counts.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    order = np.argsort(sizes, kind="stable")
    bounds = [0, *(int(b) for b in sizes[order])]
    v = values.to(torch.float64)
    parts = [spec.histogram(v[:, lo:hi].contiguous()) for lo, hi in itertools.pairwise(bounds)]
    counts = torch.stack(parts, dim=1).cumsum(dim=1)
    out = torch.empty_like(counts)
    out[:, torch.as_tensor(order, device=values.device)] = counts
    return out


def kfold_split(p1: torch.Tensor, p2: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold assignment of k-fold scoring (arXiv:1805.02664) for T toys.

    Arguments:
        p1, p2: ``(T, n1)``, ``(T, n2)`` one permutation per toy of sample 1 and of sample 2;
            event ``p[t, q]`` belongs to fold ``q % k``.
        k: number of folds.

    Returns:
        rows: ``(T*k, n1_tr + n2_tr)`` training rows of model (toy t, fold j) at index
            ``t*k + j``, as row numbers of the toy's own events (sample 1 = ``0..n1-1``,
            sample 2 = ``n1..n1+n2-1``): every event outside fold j. All models keep the same
            number, ``n - ceil(n / k)`` per sample, so when k does not divide n at most one event
            per sample is left out of a model's training set (lockstep training needs equal sizes).
        events: ``(T, k, ceil(n2 / k))`` the sample-2 events (``0..n2-1``) of fold j, scored by
            model (t, j); short folds are padded by repeating their first event.
    """
    T, n1 = p1.shape
    n2 = p2.shape[1]
    dev = p1.device
    parts = []
    for p, n, base in ((p1, n1, 0), (p2, n2, n1)):
        n_tr = n - math.ceil(n / k)
        q = torch.arange(n, device=dev)
        pos = torch.stack([q[q % k != j][:n_tr] for j in range(k)])  # (k, n_tr)
        parts.append(p[:, pos] + base)  # (T, k, n_tr)
    rows = torch.cat(parts, dim=2).reshape(T * k, -1)
    return rows, fold_events(p2, k)


def fold_events(p: torch.Tensor, k: int) -> torch.Tensor:
    """Events of each fold, ``(T, k, ceil(n / k))``: fold j holds ``p[t, q]`` for ``q % k == j``
    (``kfold_split``'s assignment); short folds are padded by repeating their first event."""
    n = p.shape[1]
    width = math.ceil(n / k)
    pos = torch.empty(k, width, dtype=torch.int64, device=p.device)
    for j in range(k):
        q = torch.arange(j, n, k, device=p.device)
        pos[j, : q.numel()] = q
        pos[j, q.numel() :] = j
    return p[:, pos]


def roc_auc(s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """ROC AUC of scores ``s2`` (positives) against ``s1`` (negatives), row by row: float64 (T,).

    The Mann-Whitney form, ``AUC = (R2 - n2 (n2 + 1) / 2) / (n1 n2)`` with ``R2`` the rank sum of
    ``s2`` in the pooled scores and ties given their average rank, i.e.
    ``P(s2 > s1) + P(s2 = s1) / 2`` (Hanley & McNeil, Radiology 143 (1982) 29). 0.5 when the two
    samples cannot be told apart.
    """
    if s1.dim() != 2 or s2.dim() != 2 or s1.shape[0] != s2.shape[0]:
        msg = f"roc_auc: need (T, n1) and (T, n2) scores, got {tuple(s1.shape)}, {tuple(s2.shape)}"
        raise ValueError(msg)
    n1, n2 = s1.shape[1], s2.shape[1]
    pooled = torch.cat([s1, s2], dim=1).to(torch.float64)
    values, order = torch.sort(pooled, dim=1, stable=True)
    left = torch.searchsorted(values, values, right=False)
    right = torch.searchsorted(values, values, right=True)
    rank = 0.5 * (left + right + 1).to(torch.float64)  # average 1-based rank of each tie group
    r2 = torch.where(order >= n1, rank, torch.zeros_like(rank)).sum(dim=1)
    return (r2 - 0.5 * n2 * (n2 + 1)) / (float(n1) * float(n2))


def pearson_rows(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of ``x[t]`` and ``y[t]`` for every row t: float64 (T,); NaN where
    either row is constant."""
    x = x.to(torch.float64)
    y = y.to(device=x.device, dtype=torch.float64)
    dx = x - x.mean(dim=1, keepdim=True)
    dy = y - y.mean(dim=1, keepdim=True)
    den = torch.sqrt((dx * dx).sum(dim=1) * (dy * dy).sum(dim=1))
    num = (dx * dy).sum(dim=1)
    return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), torch.nan)
