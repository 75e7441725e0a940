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

from ganlee.stats.fit.bernstein_free import BernsteinFree
from ganlee.stats.fit.classic import Bernstein, ExpPoly
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
