"""The exp-polynomial background in an orthogonal basis: ``exp_chebyshevN``, and its batched solver.

docs/design.md, "Fits and background model". ``f(x) = n0 exp(sum_{k=1..N} b_k T_k(u))`` with
``T_k`` the Chebyshev polynomials of the first kind and ``u = 2 (x - lo) / (hi - lo) - 1`` over
the histogram range, midpoint rule per bin (``nu_i = n0 w_i exp(sum_k b_k T_k(u_i))``),
parameters ``(n0, b_1, ..., b_N)``. The span of ``T_0..T_N`` is that of ``1, t, ..., t^N`` for
any affine ``t``, so ``exp_chebyshevN`` is the same model as ``exp_polyN`` (the same fits, Z and
spurious signal to rounding); what differs is the conditioning. The information matrix of a
log-link GLM is ``X^T diag(nu) X``: in the monomial basis of ``exp_poly`` it is a moment
(Hankel) matrix whose condition number grows exponentially with N (on the 40 default bins, unit
weights: 1.1e7 at N = 10, 1e11 at N = 15, 1.4e15 at N = 20); in the Chebyshev basis,
orthogonal on [-1, 1] for the weight ``(1 - u^2)^(-1/2)`` and near-orthogonal on the bin
centres, it stays small (22, 360 at N = 10, 16; Legendre gives the same: 30, 370; times the
ratio of the largest to the smallest expected count). Chebyshev rather than Legendre for
speed: the product identity ``T_p T_q = (T_{p+q} + T_{|p-q|}) / 2`` (from ``T_n(cos a) =
cos(n a)``; Abramowitz & Stegun 22.3.15) makes every entry of the information matrix a
combination of the ``2N + 1`` weighted sums ``sum_i w_i T_j(u_i)``, as the monomial power sums
of ``exp_poly``: one (k, n) x (n, 2N + 1) product per iteration instead of (k, P, n) x (n, P).

Orders go up to ``max_order`` = 16: above it the signal at the window's edges becomes nearly
degenerate with the background (fits of 1e5-event toys need more than 30 Newton iterations
there, with ``n1`` of order 1e4 events), and no spectrum measured needed more (docs/design.md,
"Spurious-signal test and background choice").

The solver is the log-link Poisson GLM of ``ganlee.stats.fit.exppoly_torch`` with the Chebyshev
design ``X = (T_0(u_i), ..., T_N(u_i))`` (McCullagh & Nelder, Generalized Linear Models, ch. 2:
Newton = IRLS for the canonical link): the background-only fit is concave, the
signal+background fit a projected Newton method on ``(theta, n1 >= 0)`` started at
``(theta_b, 0)`` (``ganlee.stats.fit.newton``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from numpy.polynomial import chebyshev

from ganlee.stats.fit.family_base import BackgroundFamily, Binning
from ganlee.stats.fit.newton import lnl_rel, newton, solve_spd

__all__ = ["ExpChebyshev", "ExpChebyshevSolver", "chebyshev_design"]

Tensor = torch.Tensor


def chebyshev_design(spec: Any, order: int) -> np.ndarray:
    """``X`` (nbins, order + 1): ``T_k(u)`` at the bin centres, ``u`` in [-1, 1] over the
    histogram range."""
    lo, hi = float(spec.edges[0]), float(spec.edges[-1])
    u = 2.0 * (np.asarray(spec.centers) - lo) / (hi - lo) - 1.0
    return np.asarray(chebyshev.chebvander(u, int(order)))


@dataclass(frozen=True)
class ExpChebyshev(BackgroundFamily):
    """``n0 exp(b_1 T_1(u) + ... + b_N T_N(u))`` (midpoint rule per bin; module docstring)."""

    family: ClassVar[str] = "exp_chebyshev"
    kind: ClassVar[str] = "exp_basis"
    max_order: ClassVar[int] = 16

    @property
    def param_names(self) -> tuple[str, ...]:
        return ("n0", *(f"b{k}" for k in range(1, self.order + 1)))

    @property
    def label(self) -> str:
        return rf"$n_0\,e^{{b_1 T_1(u) + \ldots + b_{{{self.order}}} T_{{{self.order}}}(u)}}$"

    def design(self, spec: Any) -> np.ndarray:
        return chebyshev_design(spec, self.order)

    def counts(self, spec: Any, params: Sequence[float] | np.ndarray) -> np.ndarray:
        p = self.check(params)
        x = self.design(spec)
        return float(p[0]) * np.asarray(spec.widths) * np.exp(x[:, 1:] @ p[1:])

    def minuit_start(self, y: np.ndarray, spec: Any) -> tuple[np.ndarray, np.ndarray, list[int]]:
        n0 = max(float(y.sum()), 1.0) / (spec.edges[-1] - spec.edges[0])
        start = np.zeros(self.n_par)
        start[0] = n0
        steps = np.full(self.n_par, 0.05)
        steps[0] = 0.1 * n0
        return start, steps, [0]


@dataclass
class ExpChebyshevSolver:
    """Fits of ``ln nu = ln w + X theta`` for one spec on one device (module docstring).

    Internal parameters ``theta = (ln n0, b_1, ..., b_N)``; public ``(n0, b_1, ..., b_N)``.
    """

    n_par: int
    x: Tensor  # (n, P) design T_0..T_N
    tcheb: Tensor  # (n, 2N + 1): T_0 .. T_2N at the bin centres
    idx_sum: Tensor  # (P, P): p + q
    idx_diff: Tensor  # (P, P): |p - q|
    lnw: Tensor  # (n,) ln of the bin widths

    @classmethod
    def build(cls, spec: Binning, family: Any, dev: torch.device) -> ExpChebyshevSolver:
        n_par = family.n_par
        tcheb = torch.as_tensor(
            chebyshev_design(spec, 2 * family.order), dtype=torch.float64, device=dev
        )
        p = torch.arange(n_par, device=dev)
        lnw = torch.as_tensor(np.log(spec.widths), dtype=torch.float64, device=dev)
        return cls(
            n_par,
            tcheb[:, :n_par].contiguous(),
            tcheb,
            p[:, None] + p[None, :],
            (p[:, None] - p[None, :]).abs(),
            lnw,
        )

    def _gram(self, wgt: Tensor) -> Tensor:
        """``X^T diag(wgt_k) X`` for each row ``wgt_k`` (k, n) -> (k, P, P), from the moments
        ``sum_i wgt_ki T_j(u_i)``, ``j = 0..2N`` (``T_p T_q = (T_{p+q} + T_{|p-q|}) / 2``)."""
        mom = wgt @ self.tcheb
        return 0.5 * (mom[:, self.idx_sum] + mom[:, self.idx_diff])

    def nu_background(self, theta: Tensor) -> Tensor:
        """Expected background counts (K, n) of internal parameters ``theta`` (K, P)."""
        return torch.exp(self.lnw + theta @ self.x.T)

    def to_public(self, theta: Tensor) -> Tensor:
        out = theta.clone()
        out[..., 0] = torch.exp(out[..., 0])
        return out

    def to_internal(self, params: Tensor) -> Tensor:
        out = params.clone()
        out[..., 0] = torch.log(out[..., 0])
        return out

    def error_scale(self, public: Tensor) -> Tensor:
        """d public / d internal per parameter (n0 = exp(theta_0))."""
        out = torch.ones_like(public)
        out[..., 0] = public[..., 0]
        return out

    # -- background only -------------------------------------------------------------------
    def fit_background(self, y: Tensor, max_iter: int, tol: float) -> tuple[Tensor, Tensor, Tensor]:
        """Newton / IRLS; ``y`` (K, n) with >= P non-empty bins each. Returns theta (K, P),
        saturated-relative ln L (K,), status (K,) int8."""
        xt = self.x.T.contiguous()
        x, lnw = self.x, self.lnw

        def lnl_fn(data: tuple[Tensor, ...], th: Tensor) -> Tensor:
            yy, ys = data
            return lnl_rel(yy, torch.exp(lnw + th @ xt), ys)

        def step_fn(data: tuple[Tensor, ...], th: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
            yy, _ = data
            mu = torch.exp(lnw + th @ xt)
            grad = (yy - mu) @ x
            step, bad = solve_spd(self._gram(mu), grad)
            return step, (grad * step).sum(-1), bad, grad

        # Start: one weighted least-squares step on ln(y + 0.5) (the usual GLM start).
        m0 = y + 0.5
        theta0 = torch.linalg.solve(self._gram(m0), (m0 * (torch.log(m0) - lnw)) @ x)
        ysafe = torch.where(y > 0, y, torch.ones_like(y))
        return newton((y, ysafe), theta0, lnl_fn, step_fn, None, max_iter, tol)

    def bkg_neg_hessian(self, theta: Tensor, y: Tensor) -> Tensor:
        """Information of the background-only fit at ``theta`` (the GLM's, = observed)."""
        del y
        return self._gram(self.nu_background(theta))

    # -- signal + background ---------------------------------------------------------------
    def neg_hessian(
        self, y: Tensor, bk: Tensor, g: Tensor, nu: Tensor, fisher: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Negative Hessian (observed, or Fisher information) and gradient in (theta, n1).

        ``bk`` background expectation, ``g`` unit-signal shape, ``nu = bk + n1 g``; all (k, n).
        ``d2 ln L / d theta_p d theta_q = sum_i [(y_i/nu_i - 1) bk_i - y_i bk_i^2 / nu_i^2]
        X_ip X_iq`` (the Fisher information drops the first term and has ``1/nu`` for
        ``y/nu^2``).
        """
        p = self.n_par
        inv = 1.0 / nu
        r = y * inv - 1.0
        wgt = inv if fisher else y * inv * inv
        wb = wgt * bk
        rb = r * bk
        diag = wb * bk if fisher else wb * bk - rb
        k = y.shape[0]
        neg_h = torch.empty((k, p + 1, p + 1), dtype=y.dtype, device=y.device)
        neg_h[:, :p, :p] = self._gram(diag)
        cross = (wb * g) @ self.x
        neg_h[:, :p, p] = cross
        neg_h[:, p, :p] = cross
        neg_h[:, p, p] = (wgt * g * g).sum(-1)
        grad = torch.cat([rb @ self.x, (r * g).sum(-1, keepdim=True)], dim=-1)
        return neg_h, grad

    def sb_neg_hessian(self, y: Tensor, params: Tensor, g: Tensor) -> Tensor:
        """Observed information at internal s+b parameters ``params`` (k, P + 1)."""
        bk = self.nu_background(params[:, : self.n_par])
        nu = bk + params[:, self.n_par :] * g
        return self.neg_hessian(y, bk, g, nu)[0]

    def fit_signal(
        self,
        y: Tensor,
        gsig: Tensor,
        theta0: Tensor,
        max_iter: int,
        tol: float,
        signed: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Projected Newton for (theta, n1 >= 0) (``signed``: n1 free), each fit started at
        (theta0, n1 = 0). ``y``, ``gsig`` (k, n); ``theta0`` (k, P). Returns params (k, P + 1),
        saturated-relative ln L (k,), status (k,) int8."""
        p = self.n_par
        xt = self.x.T.contiguous()
        lnw = self.lnw

        def lnl_fn(data: tuple[Tensor, ...], par: Tensor) -> Tensor:
            yy, ys, gg = data
            nu = torch.exp(lnw + par[:, :p] @ xt) + par[:, p:] * gg
            out = lnl_rel(yy, nu, ys)
            if signed:  # a negative expectation is outside the model
                out = torch.where((nu < 0).any(-1), torch.full_like(out, -torch.inf), out)
            return out

        def step_fn(data: tuple[Tensor, ...], par: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
            yy, _, gg = data
            bk = torch.exp(lnw + par[:, :p] @ xt)
            nu = bk + par[:, p:] * gg
            neg_h, grad = self.neg_hessian(yy, bk, gg, nu)
            step, not_pd = solve_spd(neg_h, grad)
            if bool(not_pd.any()):  # observed information not positive definite: Fisher scoring
                sel = not_pd.nonzero().squeeze(1)
                neg_f, _ = self.neg_hessian(yy[sel], bk[sel], gg[sel], nu[sel], fisher=True)
                step_f, bad_f = solve_spd(neg_f, grad[sel])
                step[sel] = step_f
                not_pd = torch.zeros_like(not_pd)
                not_pd[sel] = bad_f
            return step, (grad * step).sum(-1), not_pd, grad

        def project(par: Tensor) -> Tensor:
            return torch.cat([par[:, :p], par[:, p:].clamp_min(0.0)], dim=-1)

        params0 = torch.cat([theta0, torch.zeros_like(theta0[:, :1])], dim=-1)
        ysafe = torch.where(y > 0, y, torch.ones_like(y))
        return newton(
            (y, ysafe, gsig), params0, lnl_fn, step_fn, None if signed else project, max_iter, tol
        )
