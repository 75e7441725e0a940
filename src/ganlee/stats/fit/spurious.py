"""Spurious-signal test and automatic choice of the background model, per selection.

docs/design.md, "Spurious-signal test and background choice". For each selection a
high-statistics template of the background-only m_llg spectrum (``n_template`` events) is
scaled to the toy size ``n_toy`` (the selection's events in one toy), and each candidate model
is fitted with signal+background at every scanned mass with the signal yield left free
(``signed``). The fitted yield is the spurious signal ``S_spur(m)``; the statistical uncertainty
``sigma_stat(m)`` of the signal yield at the toy size is the HESSE error of ``n1`` in the same
fit (the inverse observed information of the scaled template, which is the Fisher information
of a background-only Asimov dataset of that size; arXiv:1007.1727). A model passes when
``max_m |S_spur| / sigma_stat <= max_ratio`` (0.2, the ATLAS criterion: e.g. arXiv:1802.04146).
The template's own Poisson noise moves the ratio by ``sqrt(n_toy / n_template)`` per mass
(recorded as ``template_noise``); ``relax`` > 0 subtracts that many template standard errors
from ``|S_spur|`` before the comparison (the ATLAS relaxation by the MC statistics).

Choice per selection:

* ``spurious`` (default): the simplest candidate (fewest parameters; the listed family order
  breaks ties) that passes;
* ``penalised``: the candidate minimising ``D + c N_par`` with ``D = -2 ln(L / L_sat)`` of the
  background-only fit to the scaled template and ``c = penalty`` (1: CMS discrete profiling,
  arXiv:1408.6865), among those that pass the spurious test when any does.

When no candidate passes, ``choose`` raises ``ConfigError`` naming the selection, the best
candidate and its ratio, unless ``on_fail == "warn"``: then the best candidate is used and a
warning is recorded (and carried into the LEE summary).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ganlee.config import ConfigError
from ganlee.stats.fit.batched import scan_batched
from ganlee.stats.fit.families import background_family
from ganlee.stats.fit.minuit import scan_iminuit
from ganlee.stats.fit.results import lnl_const
from ganlee.stats.fit.spec import FitSpec

__all__ = ["CRITERIA", "choose", "spurious_scan"]

CRITERIA = ("spurious", "penalised")


def spurious_scan(
    template: np.ndarray, n_toy: float, spec: FitSpec, model: str, backend: str = "batched"
) -> dict[str, Any]:
    """S_spur(m), sigma_stat(m) and their ratio for one template (nbins,) and one model.

    The template (any normalisation, >= 1 event) is scaled to ``n_toy`` events. Returns a dict of
    arrays over ``spec.masses`` (``s_spur``, ``sigma_stat``, ``ratio``; NaN where a fit
    failed), ``max_abs_ratio`` and its ``mass_at_max``, the deviance ``D`` of the
    background-only fit at the toy size and ``n_failed``.
    """
    template = np.asarray(template, dtype=np.float64).reshape(-1)
    n_template = float(template.sum())
    if not n_template > 0:
        msg = "spurious_scan: the template holds no events"
        raise ValueError(msg)
    asimov = template * (float(n_toy) / n_template)
    one = spec.with_background(model)
    if backend == "iminuit":
        res = scan_iminuit(asimov, one, errors=True, signed=True)
    else:
        res = scan_batched(asimov, one, errors=True, signed=True)
    assert res.sb_errors is not None
    s_spur = res.n1[0]
    sigma = res.sb_errors[0, :, -1]
    ok = (res.status[0] == 0) & np.isfinite(sigma) & (sigma > 0)
    ratio = np.where(ok, s_spur / np.where(ok, sigma, 1.0), np.nan)
    deviance = float(-2.0 * (res.lnl_b[0] - lnl_const(asimov[None, :])[0]))
    finite = np.isfinite(ratio)
    j = int(np.nanargmax(np.abs(ratio))) if finite.any() else 0
    return {
        "model": model,
        "n_par": background_family(model).n_par,
        "s_spur": s_spur,
        "sigma_stat": sigma,
        "ratio": ratio,
        "max_abs_ratio": float(np.abs(ratio[j])) if finite.all() else math.inf,
        "mass_at_max": float(spec.masses[j]),
        "deviance": deviance if math.isfinite(deviance) else math.inf,
        "n_failed": int(np.count_nonzero(~ok)),
    }


def _passes(row: dict[str, Any], max_ratio: float, relax: float, noise: float) -> bool:
    return bool(row["max_abs_ratio"] - relax * noise <= max_ratio)


def _rows(
    tmpl: np.ndarray,
    n: float,
    spec: FitSpec,
    models: Sequence[str],
    backend: str,
    second: np.ndarray | None,
) -> list[dict[str, Any]]:
    """One row per model; with a ``second`` template the larger ratio counts (``second``
    holds that template's row)."""
    rows = [spurious_scan(tmpl, n, spec, m, backend) for m in models]
    if second is not None:
        for row in rows:
            other = spurious_scan(second, n, spec, row["model"], backend)
            row["second"] = other
            if other["max_abs_ratio"] > row["max_abs_ratio"]:
                row["max_abs_ratio"] = other["max_abs_ratio"]
                row["mass_at_max"] = other["mass_at_max"]
    return rows


def choose(
    templates: np.ndarray,
    n_toy: Sequence[float],
    spec: FitSpec,
    models: Sequence[str],
    criterion: str = "spurious",
    max_ratio: float = 0.2,
    penalty: float = 1.0,
    relax: float = 0.0,
    on_fail: str = "error",
    labels: Sequence[str] | None = None,
    backend: str = "batched",
    second: Sequence[np.ndarray | None] | None = None,
) -> dict[str, Any]:
    """The spurious-signal table and the chosen model of each selection.

    ``templates`` (S, nbins) high-statistics spectra, ``n_toy`` (S,) the toy-size events of each
    selection, ``models`` the candidates simplest first (``families.candidates``), ``labels``
    the selections' names for messages, ``second`` an optional second template per selection
    (None where there is none; the larger ratio counts). Returns ``{"choice": [model per
    selection], "selections": [per-selection dict with "rows" (one per model, see
    ``spurious_scan``), "chosen", "passed", "template_noise"], "warnings": [...]}``.
    """
    if criterion not in CRITERIA:
        msg = f"config key 'fit.spurious.criterion' must be one of {CRITERIA}, got {criterion!r}"
        raise ConfigError(msg)
    templates = np.atleast_2d(np.asarray(templates, dtype=np.float64))
    n_sel = templates.shape[0]
    labels = [f"selection {i}" for i in range(n_sel)] if labels is None else labels
    second = [None] * n_sel if second is None else second
    out: dict[str, Any] = {"choice": [], "selections": [], "warnings": []}
    for s, (tmpl, n) in enumerate(zip(templates, n_toy, strict=True)):
        noise = math.sqrt(float(n) / float(tmpl.sum()))
        other = second[s]
        rows = _rows(tmpl, float(n), spec, models, backend, other)
        passing = [r for r in rows if _passes(r, max_ratio, relax, noise)]
        best = min(rows, key=lambda r: r["max_abs_ratio"])
        if criterion == "penalised":
            pick = min(passing or rows, key=lambda r: r["deviance"] + penalty * r["n_par"])
        else:
            pick = passing[0] if passing else best
        if not passing:
            msg = (
                f"background model for {labels[s]}: no candidate passes the spurious-signal test "
                f"(max |S_spur|/sigma_stat <= {max_ratio:g} at {float(n):.0f} events); best "
                f"{best['model']} with {best['max_abs_ratio']:.3g} at {best['mass_at_max']:g} GeV; "
                f"the template's own noise moves each ratio by {noise:.2g} (a larger template "
                "helps only if that is comparable to the excess)"
            )
            if on_fail != "warn":
                raise ConfigError(msg + " (set fit.spurious.on_fail: warn to use it anyway)")
            out["warnings"].append(msg)
        out["choice"].append(pick["model"])
        out["selections"].append(
            {
                "label": labels[s],
                "n_toy": float(n),
                "n_template": float(tmpl.sum()),
                "n_second_template": None if other is None else float(other.sum()),
                "template_noise": noise,
                "chosen": pick["model"],
                "passed": bool(passing),
                "rows": rows,
            }
        )
    return out
