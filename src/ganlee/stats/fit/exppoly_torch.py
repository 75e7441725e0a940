"""Batched torch fits of the exp-polynomial background, alone and with a Gaussian signal.

docs/design.md, "Fits and background model". With ``x_i = (1, t_i, ..., t_i^N)`` and internal
parameters ``theta = (ln n0, a_1, ..., a_N)`` the background is ``ln nu_i = ln w_i + theta.x_i``:
a log-link Poisson GLM, concave in ``theta``, solved by Newton's method (for the canonical log
link this is IRLS / Fisher scoring; McCullagh & Nelder, Generalized Linear Models, ch. 2). The
Hessian entry ``(p, q)`` is the weighted power sum of ``t^(p+q)``. The signal+background fit
is a projected Newton method on ``(theta, n1)`` with ``n1 >= 0`` (observed information, Fisher
information where that is not positive definite) started at ``(theta_b, n1 = 0)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ganlee.stats.fit.family_base import Binning
from ganlee.stats.fit.newton import lnl_rel, newton, solve_spd

if TYPE_CHECKING:
    from ganlee.stats.fit.classic import ExpPoly

__all__ = ["ExpPolySolver"]

Tensor = torch.Tensor


@dataclass
class ExpPolySolver:
    """Fits of ``exp_polyN`` for one spec on one device (see the module docstring)."""

    n_par: int
    tpow: Tensor  # (n, 2N + 1): t^0 .. t^2N at the bin centres
    lnw: Tensor  # (n,): ln of the bin widths
    idx: Tensor  # (P, P): p + q

    @classmethod
    def build(cls, spec: Binning, family: ExpPoly, dev: torch.device) -> ExpPolySolver:
        n_par = family.n_par
        t = torch.as_tensor(spec.t.copy(), dtype=torch.float64, device=dev)
        tpow = torch.stack([t**p for p in range(2 * n_par - 1)], dim=-1)
        lnw = torch.as_tensor(np.log(spec.widths), dtype=torch.float64, device=dev)
        idx = torch.tensor([[p + q for q in range(n_par)] for p in range(n_par)], device=dev)
        return cls(n_par, tpow, lnw, idx)

    @property
    def x(self) -> Tensor:
        return self.tpow[:, : self.n_par]

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
        x3t = self.x.T.contiguous()
        x3 = self.x
        lnw, tpow, idx = self.lnw, self.tpow, self.idx

        def lnl_fn(data, th):
            yy, ys = data
            return lnl_rel(yy, torch.exp(lnw + th @ x3t), ys)

        def step_fn(data, th):
            yy, _ = data
            mu = torch.exp(lnw + th @ x3t)
            grad = (yy - mu) @ x3
            step, bad = solve_spd((mu @ tpow)[:, idx], grad)
            return step, (grad * step).sum(-1), bad, grad

        # Start: one weighted least-squares step on ln(y + 0.5) (the usual GLM start).
        m0 = y + 0.5
        theta0 = torch.linalg.solve((m0 @ tpow)[:, idx], (m0 * (torch.log(m0) - lnw)) @ x3)
        ysafe = torch.where(y > 0, y, torch.ones_like(y))
        return newton((y, ysafe), theta0, lnl_fn, step_fn, None, max_iter, tol)

    # -- signal + background ---------------------------------------------------------------
    def neg_hessian(
        self, y: Tensor, bk: Tensor, g: Tensor, nu: Tensor, fisher: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Negative Hessian (observed, or Fisher information) and gradient in (theta, n1).

        ``bk`` background expectation, ``g`` unit-signal shape, ``nu = bk + n1 g``; all (k, n).
        """
        tpow, idx, p = self.tpow, self.idx, self.n_par
        inv = 1.0 / nu
        yinv = y * inv
        r = yinv - 1.0
        wgt = inv if fisher else yinv * inv
        wb = wgt * bk
        wg = wgt * g
        rb = r * bk
        x3 = tpow[:, :p]
        neg_h3 = ((wb * bk) @ tpow)[:, idx]
        if not fisher:
            neg_h3 = neg_h3 - (rb @ tpow)[:, idx]
        cross = (wb * g) @ x3
        k = y.shape[0]
        neg_h = torch.empty((k, p + 1, p + 1), dtype=y.dtype, device=y.device)
        neg_h[:, :p, :p] = neg_h3
        neg_h[:, :p, p] = cross
        neg_h[:, p, :p] = cross
        neg_h[:, p, p] = (wg * g).sum(-1)
        grad = torch.cat([rb @ x3, (r * g).sum(-1, keepdim=True)], dim=-1)
        return neg_h, grad

    def sb_neg_hessian(self, y: Tensor, params: Tensor, g: Tensor) -> Tensor:
        """Observed information at internal s+b parameters ``params`` (k, P + 1)."""
        bk = self.nu_background(params[:, : self.n_par])
        nu = bk + params[:, self.n_par :] * g
        return self.neg_hessian(y, bk, g, nu)[0]

    def bkg_neg_hessian(self, theta: Tensor, y: Tensor) -> Tensor:
        """Information of the background-only fit at ``theta`` (the GLM's, = observed)."""
        del y
        mu = self.nu_background(theta)
        return (mu @ self.tpow)[:, self.idx]

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
        x3t = self.x.T.contiguous()
        lnw = self.lnw

        def lnl_fn(data, par):
            yy, ys, gg = data
            nu = torch.exp(lnw + par[:, :p] @ x3t) + par[:, p:] * gg
            out = lnl_rel(yy, nu, ys)
            if signed:  # a negative expectation is outside the model
                out = torch.where((nu < 0).any(-1), torch.full_like(out, -torch.inf), out)
            return out

        def step_fn(data, par):
            yy, _, gg = data
            bk = torch.exp(lnw + par[:, :p] @ x3t)
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

        def project(par):
            return torch.cat([par[:, :p], par[:, p:].clamp_min(0.0)], dim=-1)

        params0 = torch.cat([theta0, torch.zeros_like(theta0[:, :1])], dim=-1)
        ysafe = torch.where(y > 0, y, torch.ones_like(y))
        return newton(
            (y, ysafe, gsig), params0, lnl_fn, step_fn, None if signed else project, max_iter, tol
        )
