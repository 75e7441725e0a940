"""GAN input checks and the deterministic splits of the events (training, hold-out, monitor).

The splits are drawn from ``derive_seed(seed, "gan_split")`` and ``derive_seed(seed,
"gan_monitor")`` (docs/design.md, "Generator (GAN and flow): preprocessing, training, fidelity").
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from ganlee.io import InputError
from ganlee.seeds import numpy_rng

__all__ = ["check_finite", "data_fingerprint", "split_indices", "split_monitor"]


def check_finite(x: np.ndarray, names: Sequence[str], source: str = "features") -> np.ndarray:
    """``x`` as float64 (n, len(names)); refuses NaN/inf naming the column, first row and count."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        msg = (
            f"{source}: expected an array (n, {len(names)}) ordered {list(names)}, got {arr.shape}"
        )
        raise InputError(msg)
    if arr.shape[0] == 0:
        msg = f"{source}: no events"
        raise InputError(msg)
    bad = ~np.isfinite(arr)
    if bad.any():
        col = int(np.argmax(bad.any(axis=0)))
        row = int(np.argmax(bad[:, col]))
        msg = (
            f"{source}: feature column '{names[col]}' (index {col}) has {int(bad[:, col].sum())} "
            f"non-finite value(s) (NaN/inf), first at row {row}"
        )
        raise InputError(msg)
    return arr


def data_fingerprint(x: np.ndarray) -> str:
    """16-hex SHA-256 of the float64 events: ties a model (and its hold-out) to its input."""
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    h = hashlib.sha256(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()[:16]


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic sorted (train, hold-out) row indices; the hold-out is drawn from
    ``derive_seed(seed, "gan_split")``."""
    n_hold = round(fraction * n)
    n_hold = min(max(n_hold, 1), n - 1) if n > 1 else 0
    perm = numpy_rng(seed, "gan_split").permutation(n)
    return np.sort(perm[n_hold:]), np.sort(perm[:n_hold])


def split_monitor(
    train_idx: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, monitor) rows: ``fraction`` of the training rows taken out with
    ``derive_seed(seed, "gan_monitor")``, sorted; no monitor below 20 events."""
    n_mon = min(round(fraction * len(train_idx)), len(train_idx) // 2)
    if n_mon < 20:
        return train_idx, train_idx[:0]
    perm = numpy_rng(seed, "gan_monitor").permutation(train_idx)
    return np.sort(perm[n_mon:]), np.sort(perm[:n_mon])
