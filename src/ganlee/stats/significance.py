"""Expected significances of a counting experiment and of a binned shape with known
background: the Asimov formulas (Cowan, Cranmer, Gross & Vitells, arXiv:1007.1727, eq. 97).

``asimov_z`` is the reference a strong injected signal is compared with
(``ganlee.validation.sensitivity``); see docs/design.md, "LEE".
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["asimov_z", "binned_asimov_z"]


def asimov_z(s: float | np.ndarray, b: float | np.ndarray) -> float | np.ndarray:
    """Median discovery significance of a counting experiment with known background
    (arXiv:1007.1727, eq. 97): ``Z_A = sqrt(2 ((s + b) ln(1 + s / b) - s))``.

    Example:
        >>> round(float(asimov_z(10.0, 100.0)), 4)
        0.984
    """
    s_ = np.asarray(s, dtype=np.float64)
    b_ = np.asarray(b, dtype=np.float64)
    z = np.sqrt(2.0 * ((s_ + b_) * np.log1p(s_ / b_) - s_))
    return float(z) if z.ndim == 0 else z


def binned_asimov_z(s: ArrayLike, b: ArrayLike, axis: int = -1) -> NDArray[np.float64]:
    """``sqrt(sum_i Z_A(s_i, b_i)^2)`` over ``axis``: the Asimov Z of a shape with known
    background (arXiv:1007.1727); bins with ``b_i = 0`` must have ``s_i = 0`` and are skipped."""
    s_ = np.asarray(s, dtype=np.float64)
    b_ = np.asarray(b, dtype=np.float64)
    s_, b_ = np.broadcast_arrays(s_, b_)
    empty = b_ <= 0
    if np.any(s_ < 0) or np.any(empty & (s_ > 0)):
        msg = (
            "binned_asimov_z: need s >= 0 in every bin and b > 0 wherever s > 0 "
            "(Z would be infinite)"
        )
        raise ValueError(msg)
    z = np.asarray(asimov_z(np.where(empty, 0.0, s_), np.where(empty, 1.0, b_)), dtype=np.float64)
    return np.sqrt(np.sum(z * z, axis=axis))
