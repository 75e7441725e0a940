"""Bernstein polynomials with positivity required of the density only: ``bernstein_freeN``.

docs/design.md, "Fits and background model". ``f(x) = sum_{k=0..N} c_k b_{k,N}(u)`` as
``bernsteinN`` (``ganlee.stats.fit.families``: exact bin integrals ``nu = B c``), but the
coefficients are free: the model is every polynomial density of degree N that the likelihood
accepts, i.e. whose expectation is positive in every bin (``nu_i > 0``, the domain of the
Poisson likelihood; for a spectrum with >= ~100 events per bin no fit comes near it).
An empty bin can put the maximum on that boundary (its term ``-nu_i`` pulls ``nu_i`` to 0),
where Newton's method does not converge: such fits are recorded failures (status 1). Measured
on toys of a smooth m_llg shape in 40 bins, orders 2 / 5: 28 % / 79 % of the fits of
20-event histograms, 0.8 % / 13 % at 100 events, 0 % / 0.04 % at 500. It is a family for
histograms with counts in every bin, the sizes it is meant for; ``exp_chebyshev`` (listed
before it, so preferred at equal order) has no such boundary. The
bounds ``c_k >= 0`` of ``bernsteinN`` are a sufficient condition for ``f >= 0``, not a
necessary one (Bernstein coefficients of a positive polynomial can be negative; Farouki,
Comput. Aided Geom. Des. 29 (2012) 379, Sec. 4): at 1e5 events per histogram they were active in
73 % of the fits of ``bernstein9`` (docs/design.md, "LEE"), which puts the nuisance parameters
on the boundary of their space, where ``Z^2`` is not half a chi2 (Chernoff, Ann. Math. Statist.
25 (1954) 573; Self & Liang, JASA 82 (1987) 605). Without them the likelihood is concave on the
open convex domain ``{c : B c > 0}`` and its maximum is interior whenever every bin has counts,
so Wilks/Chernoff apply.

The solver is the Newton method of ``ganlee.stats.fit.bernstein_torch`` with no coefficient in
the bounded set (only ``n1 >= 0`` when not ``signed``); a step that leaves the domain gives
``ln L = -inf`` and is halved by the line search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from ganlee.stats.fit.bernstein_torch import BernsteinSolver
from ganlee.stats.fit.family_base import BackgroundFamily

if TYPE_CHECKING:
    from ganlee.stats.fit.spec import FitSpec

__all__ = ["BernsteinFree", "BernsteinFreeSolver"]

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
        from ganlee.stats.fit.families import Bernstein  # the registry imports this module

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
    def build(cls, spec: FitSpec, family: Any, dev: torch.device) -> BernsteinFreeSolver:
        basis = torch.as_tensor(family.basis(spec).copy(), dtype=torch.float64, device=dev)
        return cls(family.n_par, basis, 1.0 / float(spec.edges[-1] - spec.edges[0]))

    def fit_background(self, y: Tensor, max_iter: int, tol: float) -> tuple[Tensor, Tensor, Tensor]:
        """Fit ``c`` (``B c > 0``), started at the flat density of the histogram's total."""
        x0 = (y.sum(-1, keepdim=True) * self.flat).expand(-1, self.n_par).contiguous()
        bounded = torch.zeros(self.n_par, dtype=torch.bool, device=y.device)
        return self._solve(y, x0, None, bounded, max_iter, tol)

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
        return self._solve(y, x0, gsig, bounded, max_iter, tol)
