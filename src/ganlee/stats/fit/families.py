"""Background function families of the m_llg fits and their registry.

docs/design.md, "Fits and background model". A family member is named ``<family><order>``:

* ``exp_polyN``: ``f(x) = n0 exp(sum_{k=1..N} a_k t^k)``, ``t = (x - t_center) / t_scale``,
  parameters ``(n0, a_1, ..., a_N)``; expected counts by the midpoint rule
  ``nu_i = n0 w_i exp(sum_k a_k t_i^k)``, so ``ln nu`` is linear in ``(ln n0, a_1..a_N)`` and
  the background-only fit is a concave log-link Poisson GLM of any order (McCullagh & Nelder,
  Generalized Linear Models, ch. 2 and 6). ``exp_poly2`` is the reference analysis's
  ``n0 exp(a t + b t^2)``.
* ``bernsteinN``: ``f(x) = sum_{k=0..N} c_k b_{k,N}(u)``, ``u = (x - lo) / (hi - lo)`` over
  the histogram range, ``b_{k,N}(u) = C(N, k) u^k (1 - u)^(N - k)``, coefficients
  ``c_k >= 0`` in events per GeV (``f >= 0`` everywhere; a constant density ``c`` is all
  ``c_k = c``). Expected counts are exact bin integrals, ``nu = B c`` with ``B_ik`` the
  integral of ``b_{k,N}`` over bin ``i`` (a regularised incomplete beta function). The
  likelihood is concave in ``c`` and ``n1``; the non-negative orthant is handled by a
  projected Newton method (Bertsekas, SIAM J. Control Optim. 20 (1982) 221). Bernstein
  polynomials are a standard background family of H->gammagamma / H->Zgamma searches
  (CMS, arXiv:1407.0558; discrete profiling, arXiv:1408.6865).

* ``exp_chebyshevN`` (``ganlee.stats.fit.exp_chebyshev``): ``exp_polyN`` in the Chebyshev basis,
  well conditioned up to order 16;
* ``bernstein_freeN`` (``ganlee.stats.fit.bernstein_free``): ``bernsteinN`` with free
  coefficients, positivity required of the expected counts only (orders up to 16).

Every family has ``N + 1`` parameters for order ``N``; ``candidates`` orders the members of
several families from the simplest (fewest parameters) up.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.special import betainc

from ganlee.stats.fit.bernstein_free import BernsteinFree
from ganlee.stats.fit.exp_chebyshev import ExpChebyshev
from ganlee.stats.fit.family_base import MAX_ORDER, BackgroundFamily

__all__ = [
    "FAMILIES",
    "MAX_ORDER",
    "BackgroundFamily",
    "Bernstein",
    "BernsteinFree",
    "ExpChebyshev",
    "ExpPoly",
    "background_family",
    "candidates",
]


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


FAMILIES: dict[str, type[BackgroundFamily]] = {
    cls.family: cls for cls in (ExpPoly, Bernstein, ExpChebyshev, BernsteinFree)
}
#: ``<family><order>``; the longest family name first (``bernstein_free`` before ``bernstein``)
_NAME = re.compile("^(" + "|".join(sorted(FAMILIES, key=len, reverse=True)) + ")([0-9]+)$")


@functools.cache
def background_family(name: str) -> BackgroundFamily:
    """The family member named ``name`` (``exp_poly1`` .. ``exp_poly10``, ``bernstein1`` ..,
    ``exp_chebyshev1`` .. ``exp_chebyshev20``, ``bernstein_free1`` ..)."""
    m = _NAME.match(str(name))
    if m is None or not 1 <= int(m.group(2)) <= FAMILIES[m.group(1)].max_order:
        orders = ", ".join(f"{f}N (N <= {c.max_order})" for f, c in FAMILIES.items())
        msg = (
            f"unknown background {name!r}: expected one of {orders}, N >= 1 "
            "(e.g. exp_poly2, bernstein3)"
        )
        raise ValueError(msg)
    return FAMILIES[m.group(1)](int(m.group(2)))


def candidates(families: Sequence[str], max_order: int, min_order: int = 1) -> list[str]:
    """Members of ``families`` of orders ``min_order..max_order`` (each family up to its own
    ``max_order``), simplest first: by number of parameters, then in the order the families
    are listed."""
    for fam in families:
        if fam not in FAMILIES:
            msg = f"unknown background family {fam!r} (known: {sorted(FAMILIES)})"
            raise ValueError(msg)
    rank = {fam: i for i, fam in enumerate(families)}
    members = [
        background_family(f"{fam}{n}")
        for fam in families
        for n in range(int(min_order), min(int(max_order), FAMILIES[fam].max_order) + 1)
    ]
    members.sort(key=lambda f: (f.n_par, rank[f.family]))
    return [f.name for f in members]
