"""Per-feature monotone Gaussianising maps and the independent-quantity representation.

``QuantileMap`` maps each column x to y = Phi^-1(F(x)), with F the empirical CDF of the training
events interpolated linearly between K quantile knots (p_k = k / K), so that the training
marginals become standard normal (the quantile transform of, e.g., arXiv:2305.10475 sec. 3 and
scikit-learn's ``QuantileTransformer``; a Gaussianised input is also what flows expect,
arXiv:1912.02762 sec. 2). Each end of a column is

* *hard*: a known bound b (the m_llg window, +-pi, 0 for counts): F rises linearly from b to the
  first knot, so the density at the bound is the MC density of the last quantile bin - finite,
  not forced to zero as a logit of the window does;
* *soft*: an exponential tail beyond the outermost knot holding the outer 1/K of the
  probability, with its scale the width of the neighbouring quantile bin (density continuous
  at the knot); in the log of a positive feature this is a power-law tail.

The inverse runs in torch (float64) on the device: on the uniform p grid the knot of every
value is found without a search.

``independent`` / ``derived`` (``gan.derived_features``): the generator draws 14 independent
quantities and four features are computed exactly (docs/design.md,
"Generator (GAN and flow): preprocessing, training, fidelity"):
e_llg = sqrt(m_llg^2 + (pt_llg cosh eta_llg)^2), the same for e_ll, pt_ll_over_m_llg =
pt_ll / m_llg, phi_met = phi_llg + dphi_met_llg (wrapped); phi_ll is generated relative to
phi_llg (rotation invariance about the beam makes phi_llg uniform and independent).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import special

__all__ = [
    "DERIVED",
    "QuantileMap",
    "derive_torch",
    "derived_columns",
    "wrap",
    "wrap_torch",
]

#: Features computed exactly from the generated ones in the independent-quantity representation.
DERIVED = ("e_llg", "e_ll", "pt_ll_over_m_llg", "phi_met")
_NEEDED = (
    "m_llg", "phi_llg", "eta_llg", "pt_llg", "e_llg", "m_ll", "phi_ll", "eta_ll", "pt_ll", "e_ll",
    "phi_met", "dphi_met_llg", "pt_ll_over_m_llg",
)  # fmt: skip


def wrap(a: np.ndarray) -> np.ndarray:
    """Angles wrapped into [-pi, pi)."""
    return np.remainder(a + math.pi, 2 * math.pi) - math.pi


def wrap_torch(a: torch.Tensor) -> torch.Tensor:
    """Angles wrapped into [-pi, pi) (torch)."""
    return torch.remainder(a + math.pi, 2 * math.pi) - math.pi


def derived_columns(names: Sequence[str]) -> tuple[int, ...] | None:
    """Indices of ``DERIVED`` in ``names`` when every feature the representation needs is there."""
    if not all(n in names for n in _NEEDED):
        return None
    return tuple(list(names).index(n) for n in DERIVED)


def derive_torch(x: torch.Tensor, names: Sequence[str]) -> None:
    """Fill the ``DERIVED`` columns of ``x`` (n, d) in place from the generated ones; ``phi_ll``
    holds phi_ll - phi_llg on entry and phi_ll on exit."""
    c = {n: i for i, n in enumerate(names)}
    phi_llg = x[:, c["phi_llg"]]
    x[:, c["phi_ll"]] = wrap_torch(phi_llg + x[:, c["phi_ll"]])
    x[:, c["phi_met"]] = wrap_torch(phi_llg + x[:, c["dphi_met_llg"]])
    for e, m, pt, eta in (
        ("e_llg", "m_llg", "pt_llg", "eta_llg"),
        ("e_ll", "m_ll", "pt_ll", "eta_ll"),
    ):
        x[:, c[e]] = torch.hypot(x[:, c[m]], x[:, c[pt]] * torch.cosh(x[:, c[eta]]))
    x[:, c["pt_ll_over_m_llg"]] = x[:, c["pt_ll"]] / x[:, c["m_llg"]]


@dataclass
class QuantileMap:
    """Monotone map of every column to a standard normal (module docstring).

    Attributes:
        knots: (d, K + 1) x at p = k / K; entries 0 and K are the hard bounds (or, for a soft
            end, a placeholder one tail scale beyond the outermost interior knot).
        hard_lo, hard_hi: (d,) whether each end is a hard bound.
        tau_lo, tau_hi: (d,) exponential tail scales of the soft ends.
    """

    knots: np.ndarray
    hard_lo: np.ndarray
    hard_hi: np.ndarray
    tau_lo: np.ndarray
    tau_hi: np.ndarray

    @property
    def n_knots(self) -> int:
        return int(self.knots.shape[1] - 1)

    @classmethod
    def fit(
        cls, y: np.ndarray, lower: Sequence[float | None], upper: Sequence[float | None], k: int
    ) -> QuantileMap:
        """Fit on (n, d) values; ``lower[j]``/``upper[j]`` a hard bound or None (soft end)."""
        y = np.asarray(y, dtype=np.float64)
        n, d = y.shape
        k = int(max(4, min(k, n // 4)))
        levels = np.arange(1, k) / k
        q = np.quantile(y, levels, axis=0).T  # (d, k - 1)
        knots = np.zeros((d, k + 1))
        hard_lo = np.array([b is not None for b in lower])
        hard_hi = np.array([b is not None for b in upper])
        tau_lo, tau_hi = np.zeros(d), np.zeros(d)
        for j in range(d):
            span = max(float(np.ptp(y[:, j])), 1e-12)
            col = np.maximum.accumulate(q[j])
            col = col + np.arange(k - 1) * 1e-12 * span  # strictly increasing
            tau_lo[j] = max(col[1] - col[0], 1e-9 * span)
            tau_hi[j] = max(col[-1] - col[-2], 1e-9 * span)
            lo, hi = lower[j], upper[j]
            knots[j, 0] = min(float(lo), col[0]) if lo is not None else col[0] - tau_lo[j]
            knots[j, k] = max(float(hi), col[-1]) if hi is not None else col[-1] + tau_hi[j]
            knots[j, 1:k] = col
        return cls(knots, hard_lo, hard_hi, tau_lo, tau_hi)

    def forward(self, y: np.ndarray) -> np.ndarray:
        """Values (n, d) -> standard-normal scores (float64)."""
        y = np.asarray(y, dtype=np.float64)
        k = self.n_knots
        levels = np.arange(k + 1) / k
        out = np.empty_like(y)
        for j in range(y.shape[1]):
            col, kn = y[:, j], self.knots[j]
            p = np.interp(col, kn, levels)
            s = np.interp(col, kn, levels[::-1])  # 1 - p, exact near 1
            if not self.hard_lo[j]:
                log_lo = math.log(1 / k) - (kn[1] - col) / self.tau_lo[j]
                p = np.where(col < kn[1], np.exp(np.minimum(log_lo, 0.0)), p)
            if not self.hard_hi[j]:
                log_hi = math.log(1 / k) - (col - kn[k - 1]) / self.tau_hi[j]
                s = np.where(col > kn[k - 1], np.exp(np.minimum(log_hi, 0.0)), s)
            with np.errstate(divide="ignore"):
                out[:, j] = np.where(p < 0.5, special.ndtri(p), -special.ndtri(s))
        return np.clip(out, -8.5, 8.5)

    def _tensors(self, device: torch.device) -> dict[str, torch.Tensor]:
        f64 = torch.float64
        return {
            "knots": torch.as_tensor(self.knots, dtype=f64, device=device),
            "hard_lo": torch.as_tensor(self.hard_lo, device=device),
            "hard_hi": torch.as_tensor(self.hard_hi, device=device),
            "tau_lo": torch.as_tensor(self.tau_lo, dtype=f64, device=device),
            "tau_hi": torch.as_tensor(self.tau_hi, dtype=f64, device=device),
        }

    def inverse(self, z: torch.Tensor, cache: dict[str, Any] | None = None) -> torch.Tensor:
        """Standard-normal scores (n, d) -> values (n, d), float64 on ``z``'s device."""
        t = self._tensors(z.device) if cache is None else cache
        k = self.n_knots
        nan = torch.isnan(z)
        z = torch.where(nan, 0.0, z.double())
        u = torch.special.ndtr(z) * k
        idx = u.floor().clamp(0, k - 1)
        frac = u - idx
        flat = t["knots"].reshape(-1)
        base = (torch.arange(z.shape[1], device=z.device) * (k + 1)).unsqueeze(0)
        i0 = (idx.long() + base).reshape(-1)
        x0 = flat.index_select(0, i0).view_as(z)
        x1 = flat.index_select(0, i0 + 1).view_as(z)
        x = x0 + frac * (x1 - x0)
        kn1, knk = t["knots"][:, 1], t["knots"][:, k - 1]
        log_p1 = math.log(1 / k)
        lo_tail = kn1 - t["tau_lo"] * (log_p1 - torch.special.log_ndtr(z))
        hi_tail = knk + t["tau_hi"] * (log_p1 - torch.special.log_ndtr(-z))
        hard_edge_hi = t["knots"][:, k] - (t["knots"][:, k] - knk) * torch.special.ndtr(-z) * k
        x = torch.where((u < 1) & ~t["hard_lo"], lo_tail, x)
        x = torch.where(u > k - 1, torch.where(t["hard_hi"], hard_edge_hi, hi_tail), x)
        return torch.where(nan, torch.nan, x)

    def state(self) -> dict[str, torch.Tensor]:
        return {
            "knots": torch.from_numpy(self.knots.copy()),
            "hard_lo": torch.from_numpy(self.hard_lo.copy()),
            "hard_hi": torch.from_numpy(self.hard_hi.copy()),
            "tau_lo": torch.from_numpy(self.tau_lo.copy()),
            "tau_hi": torch.from_numpy(self.tau_hi.copy()),
        }

    @classmethod
    def from_state(cls, s: dict[str, Any]) -> QuantileMap:
        return cls(
            knots=s["knots"].numpy().astype(np.float64),
            hard_lo=s["hard_lo"].numpy().astype(bool),
            hard_hi=s["hard_hi"].numpy().astype(bool),
            tau_lo=s["tau_lo"].numpy().astype(np.float64),
            tau_hi=s["tau_hi"].numpy().astype(np.float64),
        )
