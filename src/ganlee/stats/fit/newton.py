"""Vectorised damped Newton ascent of many independent Poisson log-likelihoods (torch).

docs/design.md, "Fits and background model". Each fit stops when its own Newton decrement
``g^T H^-1 g`` (about twice the ln L still to gain; Boyd & Vandenberghe, Convex Optimization,
Sec. 9.5) is below the tolerance, so a fit's result never depends on which other fits share the
batch. Steps are accepted by a backtracking line search with the Armijo condition, along the
projected arc where parameters are bounded (Bertsekas, SIAM J. Control Optim. 20 (1982) 221).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ganlee.stats.fit.results import STATUS_NON_FINITE, STATUS_NOT_CONVERGED, STATUS_OK

__all__ = ["lnl_rel", "newton", "solve_spd"]

Tensor = torch.Tensor
Data = tuple[Tensor, ...]
LnlFn = Callable[[Data, Tensor], Tensor]
#: ``step_fn(data, x)`` -> (step, decrement, singular mask, gradient)
StepFn = Callable[[Data, Tensor], tuple[Tensor, Tensor, Tensor, Tensor]]
Project = Callable[[Tensor], Tensor] | None


def lnl_rel(y: Tensor, nu: Tensor, ysafe: Tensor) -> Tensor:
    """``sum_i y ln(nu/y) - (nu - y)`` = ln L - ln L_saturated (small terms: precise differences).

    ``nu`` is floored at 1e-300 so that empty bins give exactly ``-nu`` (``0 * log``) and an
    underflowed bin with counts gives a huge negative, not NaN.
    """
    return (y * torch.log(nu.clamp_min(1e-300) / ysafe) - nu + y).sum(-1)


def solve_spd(neg_h: Tensor, g: Tensor) -> tuple[Tensor, Tensor]:
    """Solve ``neg_h x = g`` by Cholesky; returns x and a mask of where ``neg_h`` is not SPD."""
    chol, info = torch.linalg.cholesky_ex(neg_h)
    bad = info != 0
    x = torch.cholesky_solve(g.unsqueeze(-1), chol).squeeze(-1)
    return x, bad


def newton(
    data: Data,
    x0: Tensor,
    lnl_fn: LnlFn,
    step_fn: StepFn,
    project: Project,
    max_iter: int,
    tol: float,
    arc: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Damped Newton ascent of ln L for k independent fits, vectorised.

    ``data``: tuple of (k, ...) tensors, one row per fit. ``lnl_fn(data, x)`` -> (k,) ln L;
    ``step_fn(data, x)`` -> Newton step (k, p), decrement (k,), mask of singular systems and the
    gradient (k, p). ``arc``: the Armijo condition uses the first-order gain ``g . (x(a) - x)``
    along the projected arc ``x(a) = project(x + a step)`` instead of ``a g . step``.
    Each fit stops when its decrement is below ``tol`` (status 0); singular or non-finite ->
    status 2; no acceptable step or ``max_iter`` reached -> status 1. The working set is
    compacted only when fits finish, so most iterations gather nothing.
    Returns the parameters, their ln L and the status (k,) int8.
    """
    k = x0.shape[0]
    dev = x0.device
    x_out = x0.clone()
    status = torch.full((k,), STATUS_NOT_CONVERGED, dtype=torch.int8, device=dev)
    rows = torch.arange(k, device=dev)
    x = x0
    lnl = lnl_fn(data, x)
    lnl_out = lnl.clone()

    def compact(keep: Tensor, *vals: Any) -> tuple[Any, ...]:
        return tuple(v[keep] for v in vals)

    bad0 = ~torch.isfinite(lnl)
    if bool(bad0.any()):
        status[rows[bad0]] = STATUS_NON_FINITE
        rows, x, lnl, *rest = compact(~bad0, rows, x, lnl, *data)
        data = tuple(rest)
    for it in range(max_iter + 1):
        if rows.numel() == 0:
            break
        step, dec, bad, grad = step_fn(data, x)
        bad = bad | ~torch.isfinite(dec)
        done = (dec < tol) & ~bad
        finished = done | bad
        status[rows[done]] = STATUS_OK
        status[rows[bad]] = STATUS_NON_FINITE
        x_out[rows] = x
        lnl_out[rows] = lnl
        if it == max_iter:
            break
        if bool(finished.any()):
            rows, x, lnl, step, dec, grad, *rest = compact(
                ~finished, rows, x, lnl, step, dec, grad, *data
            )
            data = tuple(rest)
            if rows.numel() == 0:
                break
        x, lnl, ok = _line_search(data, lnl_fn, x, step, lnl, dec, project, grad if arc else None)
        if not bool(ok.all()):  # stalled: keep its last point, status stays NOT_CONVERGED
            x_out[rows] = x
            lnl_out[rows] = lnl
            rows, x, lnl, *rest = compact(ok, rows, x, lnl, *data)
            data = tuple(rest)
    x_out[rows] = x
    lnl_out[rows] = lnl
    return x_out, lnl_out, status


def _line_search(
    data: Data,
    lnl_fn: LnlFn,
    x: Tensor,
    step: Tensor,
    lnl0: Tensor,
    dec: Tensor,
    project: Project,
    grad: Tensor | None,
    max_halvings: int = 40,
) -> tuple[Tensor, Tensor, Tensor]:
    """Backtracking line search with the Armijo condition, vectorised over fits.

    Returns the accepted params, their ln L and the mask of fits that found a step.
    """
    slack = 1e-12 * (1.0 + lnl0.abs())

    def accept(
        lc: Tensor, lnl_ref: Tensor, alpha: float, dec_: Tensor, slack_: Tensor, gain: Tensor | None
    ) -> Tensor:
        if gain is None:
            return torch.isfinite(lc) & (lc >= lnl_ref + 1e-4 * alpha * dec_ - slack_)
        return torch.isfinite(lc) & (lc >= lnl_ref + 1e-4 * gain - slack_)

    def arc_gain(rows: Tensor | None, cand: Tensor) -> Tensor | None:
        if grad is None:
            return None
        if rows is None:
            return (grad * (cand - x)).sum(-1)
        return (grad[rows] * (cand - x[rows])).sum(-1)

    cand = x + step if project is None else project(x + step)
    lc = lnl_fn(data, cand)
    ok = accept(lc, lnl0, 1.0, dec, slack, arc_gain(None, cand))
    if bool(ok.all()):
        return cand, lc, ok
    new_x = torch.where(ok[:, None], cand, x)
    new_lnl = torch.where(ok, lc, lnl0)
    pending = (~ok).nonzero().squeeze(1)
    alpha = 1.0
    for _ in range(max_halvings):
        if pending.numel() == 0:
            break
        alpha *= 0.5
        sub = tuple(d[pending] for d in data)
        cand = x[pending] + alpha * step[pending]
        if project is not None:
            cand = project(cand)
        lc = lnl_fn(sub, cand)
        good = accept(
            lc, lnl0[pending], alpha, dec[pending], slack[pending], arc_gain(pending, cand)
        )
        idx = pending[good]
        new_x[idx] = cand[good]
        new_lnl[idx] = lc[good]
        ok[idx] = True
        pending = pending[~good]
    return new_x, new_lnl, ok
