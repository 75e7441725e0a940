"""The reference families of the m_llg fits: ``exp_polyN`` and ``bernsteinN``.

Their definitions are in ``ganlee.stats.fit.families`` (the registry, which imports this module);
docs/design.md, "Fits and background model".
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import betainc

from ganlee.stats.fit.family_base import BackgroundFamily

__all__ = ["Bernstein", "ExpPoly", "exponent"]


def exponent(coefs: Sequence[Any], t: Any) -> Any:
    """``sum_{k>=1} coefs[k-1] t^k`` with each term built as ``((c t) t) ...`` (left to right)."""
    expo = coefs[0] * t
    for k in range(2, len(coefs) + 1):
        term = coefs[k - 1]
        for _ in range(k):
            term = term * t
        expo = expo + term
    return expo


@dataclass(frozen=True)
class ExpPoly(BackgroundFamily):
    """``n0 exp(a_1 t + ... + a_N t^N)`` (midpoint rule per bin)."""

    family: ClassVar[str] = "exp_poly"
    kind: ClassVar[str] = "exp_poly"

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("n0", *(f"a{k}" for k in range(1, self.order + 1)))

    @property
    def label(self) -> str:
        if self.order == 2:
            return r"$n_0\,e^{a t + b t^2}$"
        if self.order == 1:
            return r"$n_0\,e^{a t}$"
        return rf"$n_0\,e^{{a_1 t + \ldots + a_{self.order} t^{self.order}}}$"

    def counts(self, spec: Any, params: Sequence[float] | np.ndarray) -> np.ndarray:
        p = self.check(params)
        coefs = [float(v) for v in p[1:]]
        return float(p[0]) * spec.widths * np.exp(exponent(coefs, spec.t))

    def minuit_start(self, y: np.ndarray, spec: Any) -> tuple[np.ndarray, np.ndarray, list[int]]:
        n0 = max(float(y.sum()), 1.0) / (spec.edges[-1] - spec.edges[0])
        start = np.zeros(self.n_par)
        start[0] = n0
        steps = np.full(self.n_par, 0.1)
        steps[0] = 0.1 * n0
        return start, steps, [0]


@dataclass(frozen=True)
class Bernstein(BackgroundFamily):
    """``sum_k c_k b_{k,N}(u)`` with ``c_k >= 0`` (exact bin integrals)."""

    family: ClassVar[str] = "bernstein"
    kind: ClassVar[str] = "linear"

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(f"c{k}" for k in range(self.order + 1))

    @property
    def label(self) -> str:
        return rf"Bernstein polynomial of order {self.order}, $c_k \geq 0$"

    def basis(self, spec: Any) -> np.ndarray:
        """``B`` (nbins, N + 1): integral of ``b_{k,N}`` over each bin, in GeV."""
        return _bernstein_basis(self.order, tuple(float(e) for e in spec.edges))

    def counts(self, spec: Any, params: Sequence[float] | np.ndarray) -> np.ndarray:
        return self.basis(spec) @ self.check(params)

    def minuit_start(self, y: np.ndarray, spec: Any) -> tuple[np.ndarray, np.ndarray, list[int]]:
        flat = max(float(y.sum()), 1.0) / (spec.edges[-1] - spec.edges[0])
        return np.full(self.n_par, flat), np.full(self.n_par, 0.1 * flat), list(range(self.n_par))


@functools.lru_cache(maxsize=64)
def _bernstein_basis(order: int, edges: tuple[float, ...]) -> np.ndarray:
    e = np.asarray(edges)
    u = (e - e[0]) / (e[-1] - e[0])
    k = np.arange(order + 1)
    # int_0^u b_{k,N} = I_u(k + 1, N - k + 1) / (N + 1)  (regularised incomplete beta)
    cdf = betainc(k[None, :] + 1.0, order - k[None, :] + 1.0, u[:, None])
    out = (e[-1] - e[0]) / (order + 1) * np.diff(cdf, axis=0)
    out.setflags(write=False)
    return out
