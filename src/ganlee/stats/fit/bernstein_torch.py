"""Batched torch fits of the Bernstein background (non-negative coefficients), with a signal.

docs/design.md, "Fits and background model". The expectation ``nu = B c + n1 g`` is linear in
the parameters ``x = (c, n1)``, so ``ln L`` is concave on the non-negative orthant. The solver is
Bertsekas's projected Newton method (SIAM J. Control Optim. 20 (1982) 221), maximisation form:
with gradient ``g`` and ``eps = min(eps0, |x - P[x + g]|)``, the bounded parameters with
``x_k <= eps`` and ``g_k < 0`` form the active set; free parameters take the Newton step of the
reduced system (observed information ``A^T diag(y / nu^2) A``, Fisher information
``A^T diag(1 / nu) A`` where that is not positive definite), active ones a diagonally scaled
gradient step; ``x(a) = P[x + a s]`` is accepted by the Armijo rule along the projected arc.
Converged when ``g_F . s_F + sum_active |g_k| x_k`` is below the tolerance (the Newton
decrement of the free parameters plus the complementary-slackness gap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ganlee.stats.fit.family_base import Binning
from ganlee.stats.fit.newton import lnl_rel, newton, solve_spd

if TYPE_CHECKING:
    from ganlee.stats.fit.classic import Bernstein

__all__ = ["BernsteinSolver"]

Tensor = torch.Tensor


@dataclass
class BernsteinSolver:
    """Fits of ``bernsteinN`` for one spec on one device (see the module docstring)."""

    n_par: int
    basis: Tensor  # (n, P): bin integrals of the Bernstein basis polynomials, GeV
    flat: float  # 1 / histogram range: the start c_k = total * flat is a flat density

    @classmethod
    def build(cls, spec: Binning, family: Bernstein, dev: torch.device) -> BernsteinSolver:
        basis = torch.as_tensor(family.basis(spec).copy(), dtype=torch.float64, device=dev)
        return cls(family.n_par, basis, 1.0 / float(spec.edges[-1] - spec.edges[0]))

    def nu_background(self, theta: Tensor) -> Tensor:
        return theta @ self.basis.T

    def to_public(self, theta: Tensor) -> Tensor:
        return theta.clone()

    def to_internal(self, params: Tensor) -> Tensor:
        return params.clone()

    def error_scale(self, public: Tensor) -> Tensor:
        return torch.ones_like(public)

    # -- the shared solver -----------------------------------------------------------------
    def _design(self, g: Tensor | None) -> Tensor:
        """(k or 1, n, P') design matrix: the basis, plus the signal shape column."""
        if g is None:
            return self.basis.unsqueeze(0)
        b = self.basis.unsqueeze(0).expand(g.shape[0], -1, -1)
        return torch.cat([b, g.unsqueeze(-1)], dim=-1)

    def _nu(self, x: Tensor, g: Tensor | None) -> Tensor:
        nu = x[:, : self.n_par] @ self.basis.T
        if g is not None:
            nu = nu + x[:, self.n_par :] * g
        return nu

    def _information(self, y: Tensor, nu: Tensor, a: Tensor, fisher: bool) -> Tensor:
        w = 1.0 / nu if fisher else y / (nu * nu)
        return (a.transpose(-1, -2) * w.unsqueeze(-2)) @ a

    def _solve(
        self, y: Tensor, x: Tensor, g: Tensor | None, bounded: Tensor, max_iter: int, tol: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        def lnl_fn(data, xx):
            yy, ys = data[0], data[1]
            nu = self._nu(xx, data[2] if len(data) > 2 else None)
            out = lnl_rel(yy, nu, ys)
            return torch.where((nu < 0).any(-1), torch.full_like(out, -torch.inf), out)

        def step_fn(data, xx):
            yy = data[0]
            gg = data[2] if len(data) > 2 else None
            a = self._design(gg)
            nu = self._nu(xx, gg)
            grad = ((yy / nu - 1.0).unsqueeze(-2) @ a).squeeze(-2)
            proj = torch.where(bounded, (xx + grad).clamp_min(0.0), xx + grad)
            eps = torch.minimum(
                (xx - proj).norm(dim=-1, keepdim=True), 1e-3 * xx.abs().amax(-1, keepdim=True)
            )
            active = bounded & (xx <= eps) & (grad < 0)
            free = ~active
            step, bad = self._reduced_step(yy, nu, a, grad, free, fisher=False)
            if bool(bad.any()):
                sel = bad.nonzero().squeeze(1)
                a_sel = a if a.shape[0] == 1 else a[sel]
                step_f, bad_f = self._reduced_step(
                    yy[sel], nu[sel], a_sel, grad[sel], free[sel], fisher=True
                )
                step[sel] = step_f
                bad = torch.zeros_like(bad)
                bad[sel] = bad_f
            dec = (torch.where(free, grad * step, 0.0)).sum(-1)
            dec = dec + torch.where(active, grad.abs() * xx, 0.0).sum(-1)
            return step, dec, bad, grad

        def project(xx):
            return torch.where(bounded, xx.clamp_min(0.0), xx)

        ysafe = torch.where(y > 0, y, torch.ones_like(y))
        data = (y, ysafe) if g is None else (y, ysafe, g)
        return newton(data, x, lnl_fn, step_fn, project, max_iter, tol, arc=True)

    def _reduced_step(
        self, y: Tensor, nu: Tensor, a: Tensor, grad: Tensor, free: Tensor, fisher: bool
    ) -> tuple[Tensor, Tensor]:
        """Newton step on the free parameters, ``g_k / H_kk`` on the active ones."""
        h = self._information(y, nu, a, fisher)
        diag = torch.diagonal(h, dim1=-2, dim2=-1)
        pair = free.unsqueeze(-1) & free.unsqueeze(-2)
        eye = torch.diag_embed(torch.where(free, 0.0, diag.clamp_min(1e-300)))
        h_red = torch.where(pair, h, 0.0) + eye
        return solve_spd(h_red, grad)

    # -- background only -------------------------------------------------------------------
    def fit_background(self, y: Tensor, max_iter: int, tol: float) -> tuple[Tensor, Tensor, Tensor]:
        """Fit ``c >= 0``, started at the flat density of the histogram's total."""
        x0 = (y.sum(-1, keepdim=True) * self.flat).expand(-1, self.n_par).contiguous()
        bounded = torch.ones(self.n_par, dtype=torch.bool, device=y.device)
        return self._solve(y, x0, None, bounded, max_iter, tol)

    def bkg_neg_hessian(self, theta: Tensor, y: Tensor) -> Tensor:
        nu = self.nu_background(theta)
        return self._information(y, nu, self._design(None), fisher=False)

    # -- signal + background ---------------------------------------------------------------
    def sb_neg_hessian(self, y: Tensor, params: Tensor, g: Tensor) -> Tensor:
        return self._information(y, self._nu(params, g), self._design(g), fisher=False)

    def fit_signal(
        self,
        y: Tensor,
        gsig: Tensor,
        theta0: Tensor,
        max_iter: int,
        tol: float,
        signed: bool = False,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(c >= 0, n1 >= 0)`` (``signed``: n1 free) started at ``(theta0, n1 = 0)``."""
        x0 = torch.cat([theta0, torch.zeros_like(theta0[:, :1])], dim=-1)
        bounded = torch.ones(self.n_par + 1, dtype=torch.bool, device=y.device)
        if signed:
            bounded[-1] = False
        return self._solve(y, x0, gsig, bounded, max_iter, tol)
