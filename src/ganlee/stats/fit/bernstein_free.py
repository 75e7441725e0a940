"""Bernstein polynomials with positivity required of the density only: ``bernstein_freeN``.

docs/design.md, "Fits and background model". ``f(x) = sum_{k=0..N} c_k b_{k,N}(u)`` as
``bernsteinN`` (``ganlee.stats.fit.families``: exact bin integrals ``nu = B c``), but the
coefficients are free: the model is every polynomial density of degree N that the likelihood
accepts, i.e. whose expectation is positive in every bin (``nu_i > 0``, the domain of the
Poisson likelihood). The bounds ``c_k >= 0`` of ``bernsteinN`` are a sufficient condition for
``f >= 0``, not a necessary one (Bernstein coefficients of a positive polynomial can be
negative; Farouki, Comput. Aided Geom. Des. 29 (2012) 379): at 1e5 events per histogram they
were active in 73 % of the fits of ``bernstein9`` (docs/design.md, "LEE"), which puts the
nuisance parameters on the boundary of their space, where ``Z^2`` is not half a chi2 (Chernoff,
Ann. Math. Statist. 25 (1954) 573; Self & Liang, JASA 82 (1987) 605). Without them the
likelihood is concave on the open convex domain ``{c : B c > 0}`` and its maximum is interior
whenever every bin has counts, so Wilks and Chernoff apply.

The solver is the Newton method of ``ganlee.stats.fit.bernstein_torch`` with no coefficient in
the bounded set (only ``n1 >= 0`` when not ``signed``); a step that leaves the domain gives
``ln L = -inf`` and is halved by the line search. An empty bin can put the maximum on the
boundary (its term ``-nu_i`` pulls ``nu_i`` to 0), where Newton's method alone does not
converge (25-80 % of the fits of 20-event histograms, up to 13 % at 100 events, 0.5 % at 500
on a falling spectrum). The fits therefore count ``mu`` events in each empty bin, a logarithmic
barrier ``mu ln nu_i`` that keeps the maximum inside the domain and is within ``mu`` per empty
bin of the constrained maximum (the duality gap of the interior-point method: Boyd &
Vandenberghe, Convex Optimization, Sec. 11.2), followed along ``BARRIER_PATH`` (``mu`` = 0.1,
1e-3, 1e-6 events, each stage started at the last, only for the histograms with an empty bin);
ln L is then evaluated with the counts themselves. Tested against a constrained optimiser
(SLSQP) on histograms with empty bins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from ganlee.stats.fit.bernstein_torch import BernsteinSolver
from ganlee.stats.fit.family_base import BackgroundFamily, Binning
from ganlee.stats.fit.newton import lnl_rel

__all__ = ["BARRIER_PATH", "BernsteinFree", "BernsteinFreeSolver"]

#: Events an empty bin counts in the fits: ``mu ln nu_i``, a log barrier that keeps the maximum
#: inside ``nu_i > 0``, decreased along this path (module docstring).
BARRIER_PATH = (1e-1, 1e-3, 1e-6)

Tensor = torch.Tensor


@dataclass(frozen=True)
class BernsteinFree(BackgroundFamily):
    """``sum_k c_k b_{k,N}(u)`` with free ``c_k`` and ``nu_i > 0`` (module docstring)."""

    family: ClassVar[str] = "bernstein_free"
    kind: ClassVar[str] = "linear_free"
    max_order: ClassVar[int] = 16

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(f"c{k}" for k in range(self.order + 1))

    @property
    def label(self) -> str:
        return rf"Bernstein polynomial of order {self.order}, density $> 0$"

    def basis(self, spec: Any) -> np.ndarray:
        """``B`` (nbins, N + 1): integral of ``b_{k,N}`` over each bin, in GeV (as
        ``bernsteinN``'s)."""
        from ganlee.stats.fit.classic import Bernstein

        return Bernstein(self.order).basis(spec)

    def counts(self, spec: Any, params: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.basis(spec) @ self.check(params)

    def minuit_start(self, y: np.ndarray, spec: Any) -> tuple[np.ndarray, np.ndarray, list[int]]:
        flat = max(float(y.sum()), 1.0) / (spec.edges[-1] - spec.edges[0])
        return np.full(self.n_par, flat), np.full(self.n_par, 0.1 * flat), []


@dataclass
class BernsteinFreeSolver(BernsteinSolver):
    """``BernsteinSolver`` with free coefficients (module docstring)."""

    @classmethod
    def build(cls, spec: Binning, family: Any, dev: torch.device) -> BernsteinFreeSolver:
        basis = torch.as_tensor(family.basis(spec).copy(), dtype=torch.float64, device=dev)
        return cls(family.n_par, basis, 1.0 / float(spec.edges[-1] - spec.edges[0]))

    def fit_background(self, y: Tensor, max_iter: int, tol: float) -> tuple[Tensor, Tensor, Tensor]:
        """Fit ``c`` (``B c > 0``), started at the flat density of the histogram's total."""
        x0 = (y.sum(-1, keepdim=True) * self.flat).expand(-1, self.n_par).contiguous()
        bounded = torch.zeros(self.n_par, dtype=torch.bool, device=y.device)
        return self._solve_path(y, x0, None, bounded, max_iter, tol)

    def fit_signal(
        self,
        y: Tensor,
        gsig: Tensor,
        theta0: Tensor,
        max_iter: int,
        tol: float,
        signed: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(c, n1 >= 0)`` (``signed``: n1 free) started at ``(theta0, n1 = 0)``."""
        x0 = torch.cat([theta0, torch.zeros_like(theta0[:, :1])], dim=-1)
        bounded = torch.zeros(self.n_par + 1, dtype=torch.bool, device=y.device)
        if not signed:
            bounded[-1] = True
        return self._solve_path(y, x0, gsig, bounded, max_iter, tol)

    def _solve_path(
        self,
        y: Tensor,
        x0: Tensor,
        g: Tensor | None,
        bounded: Tensor,
        max_iter: int,
        tol: float,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``_solve`` with ``mu`` events in the empty bins, ``mu`` along ``BARRIER_PATH`` for the
        histograms that have one, each stage started at the last (module docstring)."""
        x = x0.clone()
        sparse = (y <= 0).any(-1).nonzero().squeeze(1)
        for mu in BARRIER_PATH[:-1] if sparse.numel() else ():
            gs = None if g is None else g[sparse]
            x[sparse] = self._solve(_barrier(y[sparse], mu), x[sparse], gs, bounded, max_iter, tol)[
                0
            ]
        x, _, status = self._solve(_barrier(y, BARRIER_PATH[-1]), x, g, bounded, max_iter, tol)
        # the likelihood of the counts themselves (the barrier moves it by < 1e-5 per empty bin)
        lnl = lnl_rel(y, self._nu(x, g), torch.where(y > 0, y, torch.ones_like(y)))
        return x, lnl, status


def _barrier(y: Tensor, mu: float) -> Tensor:
    """``y`` with ``mu`` events in the empty bins (module docstring)."""
    return torch.where(y > 0, y, torch.full_like(y, mu))
