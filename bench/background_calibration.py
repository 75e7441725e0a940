"""Calibration of the background model at several toy sizes, measured in one run.

For each toy size n (events in the histogram) and each truth shape:

* ``--truth spline`` (default): the log-density cubic spline of ``ganlee.gan.smooth_marginal``
  fitted to the MC's m_llg events (knot spacing ``--spacing``, or the one of ``--spacings``
  with the smallest ``D + 2 k`` on the MC's 1 GeV histogram: Akaike), integrated over the bins.
  A spline is outside every background family, so the test is not circular; it stands for the
  smooth density the MC samples.
* ``--truth bernstein``: the penalised-likelihood best of Bernstein polynomials of orders
  ``--max-order + 1 .. 10`` on the MC (the truth of the earlier calibrations; inside the
  ``bernstein_free`` family).
* the MC m_llg histogram itself (with ``--mc-truth``; only for n up to the MC size: its
  bin-to-bin fluctuations are then part of the truth and no smooth model can follow them).

With ``--template-table`` the spurious-signal test is first run on the MC histogram itself as
the template (the Pythia template; its own noise moves each ratio by ``sqrt(n / n_MC)``): per
family the best member's max |S_spur| / sigma_stat, raw and relaxed by ``--relax`` template
standard errors (``fit.spurious.relax``), and the model chosen either way; and the same on the
truth's Asimov histogram (no template noise).

The spurious-signal test (``ganlee.stats.fit.spurious.choose``) picks the model on the truth's
Asimov histogram at the toy size among ``--families`` (orders 1..``--max-order``); then
``--toys`` background-only Poisson histograms of the truth (no DNN) are fitted with the chosen
model (and the reference ``exp_poly2`` unless ``--no-reference``). Printed per size and model:

* P(Z >= 1.645) at ``--mass`` (0.05 for a correct model; binomial error), the prediction
  ``1 - Phi(1.645 - r(m))`` from the Asimov spurious signal ``r = S_spur / sigma_stat`` at that
  mass (the truth's own spurious signal shifts the fitted yield), and the KS p-value of the
  non-zero Z^2 against chi2(1) (Chernoff); with ``--per-mass`` the same at every mass;
* P(z_max >= 3) over the scan from the toys (Clopper-Pearson interval) and from Gross-Vitells
  (arXiv:1005.1891) with the upcrossings above Z0 = ``--z0``, and their ratio: the continuum
  extrapolation ``exp(-(u^2 - u0^2)/2)`` ("GV") and the grid one the LEE uses ("grid GV",
  ``ganlee.stats.lee_grid``; also with one neighbour correlation per step, "per-step");
* the measured bound ``P(first) + <N(3)>`` and the clump factor ``<N(3)> / P(N(3) >= 1)``
  (GV's upcrossing count over the toys with one: GV over-predicts by about this much);
* with ``--signed-toys K``: the Gaussian field with the correlation of K toys' signed scans
  (free n1), sampled on the same grid (arXiv:2206.12328): its P(max >= 3) is the asymptotic
  answer including grid and clumping;
* with ``--levels``: the mean upcrossings at each level against the Rice and grid scalings;
* the fixed-mass tails pooled over all masses (P(Z >= 1.645), P(Z >= 3) against 0.05, 0.00135)
  and the pooled prediction;
* the failed fits (status != 0; NaN as in the toy engine: a toy is dropped only when every fit
  failed);
* max |S_spur| / sigma_stat of the model at that size (the spurious-signal test's figure, the
  Asimov spurious Z).

``--mass-steps`` repeats each measurement on other scan grids (``fit.mass_low`` ..
``fit.mass_high``). A summary table (one row per size: choice, Chernoff, GV) ends the output.
Usage (docs/design.md, "Spurious-signal test and background choice")::

    python bench/background_calibration.py --features /work/runs/fit/pythia_big.root \
        --sizes 20000 50000 100000 --toys 5000 --template-table --relax 2 --threads 1

    # the earlier calibration (exp_poly and bernstein, a Bernstein truth, the MC histogram)
    python bench/background_calibration.py --features results/mc/features.root \
        --truth bernstein --mc-truth --families exp_poly bernstein --max-order 9 \
        --sizes 2300 10000 100000 --toys 2000 --threads 1 \
        --mass-steps 1 0.25 --levels 0.5 1 1.5 2 2.5 3 --signed-toys 2000
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np
import torch
from scipy import stats

from ganlee.gan.smooth_marginal import _basis, spline_density
from ganlee.io import read_features
from ganlee.seeds import numpy_rng
from ganlee.stats.fit import (
    FitSpec,
    background_family,
    candidates,
    expected_counts,
    scan_batched,
)
from ganlee.stats.fit.spurious import choose, spurious_scan
from ganlee.stats.lee import clopper_pearson, count_upcrossings, gv_p_global
from ganlee.stats.lee_grid import grid_a, grid_p_global, grid_upcrossing_prob, rho_from_a


def smooth_truth(hist: np.ndarray, spec: FitSpec, min_order: int) -> tuple[np.ndarray, str]:
    """Penalised-likelihood best Bernstein fit of order >= ``min_order`` to ``hist``
    (normalised), and its model."""
    models = candidates(["bernstein"], 10, min_order=min_order)
    best = None
    for m in models:
        one = spec.with_background(m).with_masses([150.0])
        res = scan_batched(hist, one)
        if res.bkg_status[0] != 0:
            continue
        score = -2.0 * res.lnl_b[0] + one.family.n_par
        if best is None or score < best[0]:
            best = (score, m, res.bkg_params[0])
    assert best is not None
    _, model, params = best
    shape = expected_counts(spec.with_background(model), *params)
    return shape / shape.sum(), model


def spline_truth(m: np.ndarray, spec: FitSpec, spacing: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Bin probabilities of the Poisson-ML log-density cubic spline of the events ``m`` with knots
    ``spacing`` GeV apart (``ganlee.gan.smooth_marginal.spline_density``), integrated over the
    fit's bins, and its goodness of fit on the events' histogram (deviance, Pearson chi2,
    number of coefficients, ``D + 2 k``)."""
    lo, hi = float(spec.edges[0]), float(spec.edges[-1])
    inside = m[(m >= lo) & (m <= hi)]
    coef = spline_density(inside, (lo, hi), spacing)
    grid = np.linspace(lo, hi, spec.nbins * 256 + 1)
    dens = np.exp(_basis(grid, lo, hi, spacing) @ coef)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(grid))])
    shape = np.diff(np.interp(spec.edges, grid, cdf))
    shape = shape / shape.sum()
    y = spec.histogram(inside).astype(np.float64)
    nu = shape * y.sum()
    dev = float(2.0 * np.sum(nu - y + np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / nu), 0)))
    gof = {
        "spacing": spacing,
        "k": int(coef.size),
        "deviance": dev,
        "chi2": float(np.sum((y - nu) ** 2 / nu)),
        "ndf": int(spec.nbins - coef.size),
        "aic": dev + 2.0 * coef.size,
    }
    return shape, gof


def _per_step_grid_gv(z: np.ndarray, z0: float, u: float) -> float:
    """Grid Gross-Vitells with a neighbour correlation per step (each step's upcrossing
    frequency of ``z0`` inverted), the non-stationary check of the stationary estimate."""
    c, c0 = z * z, z0 * z0
    freq = np.nanmean((c[:, :-1] <= c0) & (c[:, 1:] > c0), axis=0)
    a = np.array([grid_a(f, z0, 1) for f in freq])
    return float(stats.norm.sf(u) + np.sum(grid_upcrossing_prob(u, a)))


def _gaussian_field(y: np.ndarray, spec: FitSpec, u: float, seed: int) -> dict[str, float]:
    """The Gaussian field with the toys' correlation (free-n1 fits of ``y``), sampled: its
    P(max >= u) and <N(u)> on the same grid (the asymptotic answer with clumping and the grid,
    as in Ananiev & Read, arXiv:2206.12328), its neighbour correlation (mean, min over the
    steps) and the mean variance of the signed Z."""
    ys = scan_batched(y, spec, signed=True).z
    ys = ys[np.all(np.isfinite(ys), axis=1)]
    corr = np.corrcoef(ys.T)
    w, v = np.linalg.eigh(corr)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    rng = numpy_rng(seed, "background_calibration", "gaussian_field")
    above = up = total = 0
    for _ in range(20):
        g = rng.standard_normal((50_000, corr.shape[0])) @ root.T
        above += int(np.sum(g.max(axis=1) >= u))
        up += int(count_upcrossings(np.maximum(g, 0.0), u).sum())
        total += g.shape[0]
    nb = np.diagonal(corr, offset=1)
    return {
        "rho": float(nb.mean()),
        "rho_min": float(nb.min()),
        "var": float(ys.var(axis=0).mean()),
        "p_max": above / total,
        "p_max_err": math.sqrt(above) / total,
        "n_up": up / total,
    }


def measure(
    y: np.ndarray,
    spec: FitSpec,
    args: argparse.Namespace,
    u: float = 3.0,
    ratio: np.ndarray | None = None,
) -> dict[str, Any]:
    """Fixed-mass and global figures of the toys ``y`` fitted with ``spec`` (see the module
    docstring). Failed fits are NaN, as in the toy engine (``ganlee.toys.fits``): they neither
    start nor end an upcrossing, and a toy is dropped only when every fit failed. ``ratio``
    (M,): the Asimov S_spur / sigma_stat per mass, for the predicted fixed-mass tails."""
    res = scan_batched(y, spec)
    z = np.where(res.status == 0, res.z, np.nan)
    ok = np.any(np.isfinite(z), axis=1)
    z = z[ok]
    n_ok = z.shape[0]
    j = int(np.argmin(np.abs(spec.masses - args.mass)))
    zf = z[:, j][np.isfinite(z[:, j])]
    zmax = np.fmax.reduce(z, axis=1)
    k = int(np.sum(zmax >= u))
    lo, hi = clopper_pearson(k, n_ok)
    steps = spec.masses.size - 1
    levels = sorted(set(args.levels) | {args.z0, u})
    up = {lev: count_upcrossings(z, lev) for lev in levels}
    n0, e0 = up[args.z0].mean(), up[args.z0].std(ddof=1) / math.sqrt(n_ok)
    p_gv, s_gv = gv_p_global(u, n0, args.z0, e0)
    p_grid, s_grid = grid_p_global(u, n0, args.z0, steps, e0)
    zall = z[np.isfinite(z)]
    per_mass = np.nanmean(np.where(np.isfinite(z), z >= 1.645, np.nan), axis=0)
    pred = None if ratio is None else stats.norm.sf(1.645 - np.asarray(ratio))
    return {
        "per_mass": per_mass,
        "pred": pred,
        "p_pred": float("nan") if pred is None else float(pred[j]),
        "p_pred_all": float("nan") if pred is None else float(np.nanmean(pred)),
        "n_ok": n_ok,
        "failed_toys": int(y.shape[0] - n_ok),
        "failed_fits": int(np.count_nonzero(res.status != 0)),
        "toys_with_failed_fits": int(np.count_nonzero(np.any(res.status != 0, axis=1))),
        "p_fixed": float(np.mean(zf >= 1.645)),
        "p_fixed_err": math.sqrt(0.05 * 0.95 / zf.size),
        "p_fixed_all": float(np.mean(zall >= 1.645)),
        "p3_all": float(np.mean(zall >= 3.0)),
        "ks": float(stats.kstest(zf[zf > 0] ** 2, stats.chi2(1).cdf).pvalue),
        "p_zmax": k / n_ok,
        "p_zmax_lo": float(lo),
        "p_zmax_hi": float(hi),
        "p_gv": float(p_gv),
        "p_gv_err": float(s_gv),
        "p_grid": float(p_grid),
        "p_grid_err": float(s_grid),
        "p_grid_steps": _per_step_grid_gv(z, args.z0, u),
        "rho_grid": float(rho_from_a(grid_a(n0, args.z0, steps))),
        "n_up": {
            lev: (float(v.mean()), float(v.std(ddof=1) / math.sqrt(n_ok))) for lev, v in up.items()
        },
        "clump": float(up[u].mean() / max(np.mean(up[u] > 0), 1.0 / n_ok)),
        "bound_measured": float(stats.norm.sf(u) + up[u].mean()),
        "signed": (
            _gaussian_field(y[: args.signed_toys], spec, u, args.seed) if args.signed_toys else None
        ),
    }


def _print_levels(r: dict[str, Any], args: argparse.Namespace, steps: int) -> None:
    """Mean upcrossings per level against the continuum (Rice) and grid scalings from Z0."""
    n0 = r["n_up"][args.z0][0]
    a = grid_a(n0, args.z0, steps)
    for lev, (mean, err) in r["n_up"].items():
        rice = n0 * math.exp(-(lev * lev - args.z0 * args.z0) / 2.0)
        grid = steps * float(grid_upcrossing_prob(lev, a))
        print(
            f"      N(Z={lev:g}) = {mean:.4f} +- {err:.4f}; from N(Z0={args.z0:g}): Rice "
            f"{rice:.4f} (ratio {mean / rice:.3f}), grid {grid:.4f} (ratio {mean / grid:.3f})"
        )


def template_table(
    spec: FitSpec,
    models: list[str],
    families: list[str],
    template: np.ndarray,
    n: float,
    label: str,
    relax: float,
) -> None:
    """The spurious-signal test of every candidate on ``template`` at ``n`` events: per family
    the best member's max |S_spur| / sigma_stat raw and relaxed by ``relax`` template standard
    errors, and the simplest passing model either way (``fit.spurious.relax``). ``relax`` 0: a
    template without noise (a smooth truth)."""
    choice = choose(template[None], [n], spec, models, on_fail="warn")
    sel = choice["selections"][0]
    noise = sel["template_noise"] if relax > 0 else 0.0
    rows = sel["rows"]
    best = []
    for fam in families:
        mine = [r for r in rows if background_family(r["model"]).family == fam]
        b = min(mine, key=lambda r: r["max_abs_ratio"])
        best.append(
            f"{fam}: best {b['model']} {b['max_abs_ratio']:.3f} (relaxed "
            f"{b['max_abs_ratio'] - relax * noise:.3f})"
        )
    raw = next((r["model"] for r in rows if r["max_abs_ratio"] <= 0.2), "none")
    relaxed = next((r["model"] for r in rows if r["max_abs_ratio"] - relax * noise <= 0.2), "none")
    print(
        f"n={n:>8.0f} template {label} ({template.sum():.0f} events, noise sqrt(n/n_template) = "
        f"{noise:.3f}): chosen raw {raw}, relaxed ({relax:g} x noise) {relaxed}; " + "; ".join(best)
        if relax > 0
        else f"n={n:>8.0f} template {label} (no noise): chosen {raw}; "
        + "; ".join(b.split(" (relaxed")[0] for b in best),
        flush=True,
    )


def _report(
    spec: FitSpec,
    models: list[str],
    shape: np.ndarray,
    n: float,
    truth: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Choose the model on the truth's Asimov histogram, fit toys of it, print the figures;
    return the summary row of the chosen model (1 GeV scan)."""
    choice = choose(shape[None] * n, [n], spec, models, on_fail="warn")
    chosen = args.force_model or choice["choice"][0]
    rows = {r["model"]: r for r in choice["selections"][0]["rows"]}
    y = (
        numpy_rng(args.seed, "background_calibration", int(n), truth)
        .poisson(n * shape, size=(args.toys, spec.nbins))
        .astype(np.float64)
    )
    fitted = [chosen] if args.no_reference else list(dict.fromkeys([chosen, "exp_poly2"]))
    summary: dict[str, Any] = {}
    for model in fitted:
        asimov = spurious_scan(shape, n, spec, model)
        tag = "chosen" if model == chosen else "reference"
        passed = "" if choice["selections"][0]["passed"] or tag != "chosen" else " NONE PASSES"
        ratio = rows.get(model, asimov)["max_abs_ratio"]
        print(
            f"n={n:>8.0f} ({truth:>12}) {model:<16} [{tag:>9}{passed}] max|S/sigma| {ratio:.3f}",
            flush=True,
        )
        for step in args.mass_steps:
            masses = np.arange(spec.masses[0], spec.masses[-1] + 1e-9, step)
            one = spec.with_background(model).with_masses(masses)
            r_m = asimov["ratio"] if step == 1.0 else spurious_scan(shape, n, one, model)["ratio"]
            r = measure(y, one, args, ratio=r_m)
            _print_row(r, args, step)
            if args.per_mass:
                _print_per_mass(r, masses, r_m, args.toys)
            if args.levels:
                _print_levels(r, args, masses.size - 1)
            if tag == "chosen" and step == args.mass_steps[0]:
                summary = {"n": n, "truth": truth, "model": model, "ratio": ratio, **r}
    return summary


def _print_per_mass(r: dict[str, Any], masses: np.ndarray, ratio: np.ndarray, toys: int) -> None:
    """P(Z >= 1.645) at every mass against the prediction from the Asimov spurious signal."""
    for m, p, pr, q in zip(masses, r["per_mass"], r["pred"], ratio, strict=True):
        err = math.sqrt(pr * (1 - pr) / toys)
        print(
            f"      m = {m:6.2f}: P(Z>=1.645) = {p:.4f}, predicted {pr:.4f} +- {err:.4f} "
            f"(r = {q:+.3f}; pull {(p - pr) / err:+.1f})"
        )


def _print_row(r: dict[str, Any], args: argparse.Namespace, step: float) -> None:
    ratio = r["p_zmax"] / r["p_gv"] if r["p_gv"] > 0 else float("nan")
    ratio_grid = r["p_zmax"] / r["p_grid"] if r["p_grid"] > 0 else float("nan")
    sg = r["signed"]
    clump = (
        f"; measured N(3): P(first) + <N> = {r['bound_measured']:.4f}, clump factor "
        f"<N>/P(N>=1) {r['clump']:.2f}"
    )
    signed = (
        ""
        if sg is None
        else f"; Gaussian field of the toys' correlation (neighbour rho {sg['rho']:.3f}, min "
        f"{sg['rho_min']:.3f}, var(Y) {sg['var']:.3f}): P(max>=3) {sg['p_max']:.4f} +- "
        f"{sg['p_max_err']:.4f}, <N(3)> {sg['n_up']:.4f}"
    )
    print(
        f"  step {step:g} GeV | P(Z>=1.645 @ {args.mass:g}) = {r['p_fixed']:.4f} +- "
        f"{r['p_fixed_err']:.4f} (predicted from the spurious signal {r['p_pred']:.4f}), KS p "
        f"{r['ks']:.2g}; all masses P(Z>=1.645) {r['p_fixed_all']:.4f} (predicted "
        f"{r['p_pred_all']:.4f}), P(Z>=3) {r['p3_all']:.5f} (0.00135) | P(z_max>=3) toys "
        f"{r['p_zmax']:.4f} [{r['p_zmax_lo']:.4f}, {r['p_zmax_hi']:.4f}] vs GV "
        f"{r['p_gv']:.4f} +- {r['p_gv_err']:.4f} (toys/GV {ratio:.2f}), grid GV "
        f"{r['p_grid']:.4f} +- {r['p_grid_err']:.4f} (toys/grid {ratio_grid:.2f}; per-step "
        f"{r['p_grid_steps']:.4f}; rho {r['rho_grid']:.3f}){clump}{signed}; failed toys "
        f"{r['failed_toys']}, failed fits {r['failed_fits']} in {r['toys_with_failed_fits']} toys",
        flush=True,
    )


def _summary(rows: list[dict[str, Any]]) -> None:
    """The tables of docs/design.md: one row per size (chosen model, Chernoff, Gross-Vitells)."""
    print(
        "\n| events | truth | chosen (max ratio) | P(Z >= 1.645) at fixed mass | predicted | "
        "pooled over masses | P(z_max >= 3) toys | grid GV | toys / grid GV |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        half = 0.5 * (r["p_zmax_hi"] - r["p_zmax_lo"])
        print(
            f"| {r['n']:,.0f} | {r['truth']} | {r['model']} ({r['ratio']:.2f}) | "
            f"{r['p_fixed']:.4f} +- {r['p_fixed_err']:.4f} | {r['p_pred']:.4f} | "
            f"{r['p_fixed_all']:.4f} | {r['p_zmax']:.4f} +- {half:.4f} | "
            f"{r['p_grid']:.4f} +- {r['p_grid_err']:.4f} | {r['p_zmax'] / r['p_grid']:.2f} |"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--features", required=True, help="MC features ROOT file")
    ap.add_argument("--sizes", type=float, nargs="+", default=[20000, 50000, 100000])
    ap.add_argument("--toys", type=int, default=5000)
    ap.add_argument(
        "--truth",
        choices=["spline", "bernstein"],
        default="spline",
        help="smooth truth: log-density spline of the MC, or the best Bernstein polynomial",
    )
    ap.add_argument("--spacing", type=float, default=None, help="spline knot spacing in GeV")
    ap.add_argument(
        "--spacings",
        type=float,
        nargs="+",
        default=[2.5, 4.0, 5.0, 20 / 3, 8.0, 10.0, 40 / 3, 20.0],
        help="knot spacings tried when --spacing is not given (smallest D + 2k kept)",
    )
    ap.add_argument(
        "--mc-truth", action="store_true", help="also the MC histogram as truth (n <= MC size)"
    )
    ap.add_argument("--families", nargs="+", default=["exp_chebyshev", "bernstein_free"])
    ap.add_argument("--max-order", type=int, default=16)
    ap.add_argument(
        "--template-table",
        action="store_true",
        help="spurious-signal test on the MC histogram as the template, raw and relaxed",
    )
    ap.add_argument("--relax", type=float, default=2.0, help="template standard errors relaxed")
    ap.add_argument("--per-mass", action="store_true", help="P(Z>=1.645) at every mass")
    ap.add_argument("--force-model", default=None, help="fit this model instead of the choice")
    ap.add_argument(
        "--max-events", type=int, default=None, help="use the first this many MC events only"
    )
    ap.add_argument("--mass", type=float, default=150.0)
    ap.add_argument("--z0", type=float, default=1.0)
    ap.add_argument(
        "--mass-steps",
        type=float,
        nargs="+",
        default=[1.0],
        help="scan steps in GeV (fit.mass_low .. fit.mass_high), one measurement each",
    )
    ap.add_argument(
        "--levels",
        type=float,
        nargs="*",
        default=[],
        help="Z levels at which to print the mean upcrossings against the Rice and grid scalings",
    )
    ap.add_argument(
        "--signed-toys",
        type=int,
        default=0,
        help="fit this many toys with a free n1 too: the Gaussian field of their correlation",
    )
    ap.add_argument("--no-reference", action="store_true", help="skip the exp_poly2 reference")
    ap.add_argument("--seed", type=int, default=20240607)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = FitSpec.from_config({})
    m = read_features(args.features, names=("m_llg",))[:, 0]
    if args.max_events:
        inside = np.flatnonzero((m >= spec.edges[0]) & (m <= spec.edges[-1]))
        m = m[inside[: args.max_events]]
    hist = spec.histogram(m).astype(np.float64)
    n_mc = float(hist.sum())
    if args.truth == "bernstein":
        smooth, name = smooth_truth(hist, spec, min(args.max_order + 1, 10))
        truth = f"Bernstein {name}"
    else:
        spacings = [args.spacing] if args.spacing else args.spacings
        fits = [spline_truth(m, spec, sp) for sp in spacings]
        for _, gof in fits:
            print(
                f"spline spacing {gof['spacing']:.3g} GeV: {gof['k']} coefficients, deviance "
                f"{gof['deviance']:.1f}, chi2 {gof['chi2']:.1f} / {gof['ndf']} (p "
                f"{stats.chi2.sf(gof['chi2'], gof['ndf']):.2g}), D + 2k {gof['aic']:.1f}"
            )
        smooth, gof = min(fits, key=lambda f: f[1]["aic"])
        truth = f"spline {gof['spacing']:.3g} GeV"
    models = candidates(args.families, args.max_order)
    print(
        f"MC: {n_mc:.0f} events in [{spec.edges[0]:g}, {spec.edges[-1]:g}] GeV; truth {truth}; "
        f"{args.toys} toys per size; candidates {models[0]}..{models[-1]} ({len(models)})",
        flush=True,
    )
    summary = []
    for n in args.sizes:
        if args.template_table:
            template_table(spec, models, args.families, hist, n, "MC histogram", args.relax)
            template_table(spec, models, args.families, smooth * n_mc, n, truth, 0.0)
        truths = [(truth, smooth)]
        if args.mc_truth and n <= n_mc:
            truths.insert(0, ("MC histogram", hist / n_mc))
        for label, shape in truths:
            row = _report(spec, models, shape, n, label, args)
            if label == truth:
                summary.append(row)
    _summary(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
