"""Calibration of the background model at several toy sizes, measured in one run.

For each toy size n (events in the histogram) and each truth shape: the MC m_llg histogram
itself (only for n up to the MC size: its bin-to-bin fluctuations are then part of the truth
and no smooth model can follow them), and a smooth fit to it (the penalised-likelihood best of
Bernstein polynomials of orders ``--max-order + 1 .. 10`` on the MC, outside the candidates, so
that the test is not circular), which stands for the smooth density the MC samples.
The spurious-signal test (``ganlee.stats.fit.spurious.choose``) picks the model on the truth's
Asimov histogram at the toy size; then ``--toys`` background-only Poisson histograms of the
truth (no DNN) are fitted with the chosen model and with the reference ``exp_poly2``. Printed
per size and model:

* P(Z >= 1.645) at ``--mass`` (0.05 for a correct model; binomial error) and the KS p-value of
  the non-zero Z^2 against chi2(1) (Chernoff);
* P(z_max >= 3) over the scan from the toys (Clopper-Pearson interval) and from Gross-Vitells
  (arXiv:1005.1891) with the upcrossings above Z0 = ``--z0``, and their ratio;
* max |S_spur| / sigma_stat of the model at that size (the spurious-signal test's figure, the
  Asimov spurious Z).

Usage::

    python bench/background_calibration.py --features results/mc/features.root \
        --sizes 2300 10000 100000 --toys 2000
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from scipy import stats

from ganlee.io import read_features
from ganlee.seeds import numpy_rng
from ganlee.stats.fit import FitSpec, candidates, expected_counts, scan_batched
from ganlee.stats.fit.spurious import choose, spurious_scan
from ganlee.stats.lee import clopper_pearson, count_upcrossings, gv_p_global


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


def measure(y: np.ndarray, spec: FitSpec, mass: float, z0: float) -> dict[str, float]:
    res = scan_batched(y, spec)
    n = y.shape[0]
    j = int(np.argmin(np.abs(spec.masses - mass)))
    ok = np.all(res.status == 0, axis=1)
    z = res.z[ok]
    zf = z[:, j]
    p_fixed = float(np.mean(zf >= 1.645))
    zmax = z.max(axis=1)
    k = int(np.sum(zmax >= 3.0))
    lo, hi = clopper_pearson(k, z.shape[0])
    up = count_upcrossings(z, z0)
    p_gv, s_gv = gv_p_global(3.0, up.mean(), z0, up.std(ddof=1) / math.sqrt(z.shape[0]))
    return {
        "n_ok": float(z.shape[0]),
        "failed": float(n - z.shape[0]),
        "p_fixed": p_fixed,
        "p_fixed_err": math.sqrt(0.05 * 0.95 / z.shape[0]),
        "ks": float(stats.kstest(zf[zf > 0] ** 2, stats.chi2(1).cdf).pvalue),
        "p_zmax3": k / z.shape[0],
        "p_zmax3_lo": float(lo),
        "p_zmax3_hi": float(hi),
        "p_gv": float(p_gv),
        "p_gv_err": float(s_gv),
    }


def _report(
    spec: FitSpec,
    models: list[str],
    shape: np.ndarray,
    n: float,
    truth: str,
    args: argparse.Namespace,
) -> None:
    """Choose the model on the truth's Asimov histogram, fit toys of it, print the figures."""
    choice = choose(shape[None] * n, [n], spec, models, on_fail="warn")
    chosen = choice["choice"][0]
    rows = {r["model"]: r for r in choice["selections"][0]["rows"]}
    y = (
        numpy_rng(args.seed, "background_calibration", int(n), truth)
        .poisson(n * shape, size=(args.toys, spec.nbins))
        .astype(np.float64)
    )
    for model in dict.fromkeys([chosen, "exp_poly2"]):
        r = measure(y, spec.with_background(model), args.mass, args.z0)
        asimov = spurious_scan(shape, n, spec, model)
        tag = "chosen" if model == chosen else "reference"
        ratio = r["p_zmax3"] / r["p_gv"] if r["p_gv"] > 0 else float("nan")
        passed = "" if choice["selections"][0]["passed"] or tag != "chosen" else " NONE PASSES"
        print(
            f"n={n:>8.0f} ({truth:>12}) {model:<11} [{tag:>9}{passed}] max|S/sigma| "
            f"{rows.get(model, asimov)['max_abs_ratio']:.3f} "
            f"| P(Z>=1.645 @ {args.mass:g}) = {r['p_fixed']:.4f} +- {r['p_fixed_err']:.4f}, "
            f"KS p {r['ks']:.2g} | P(z_max>=3) toys {r['p_zmax3']:.4f} "
            f"[{r['p_zmax3_lo']:.4f}, {r['p_zmax3_hi']:.4f}] vs GV {r['p_gv']:.4f} +- "
            f"{r['p_gv_err']:.4f} (toys/GV {ratio:.2f}); failed toys {r['failed']:.0f}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--features", required=True, help="MC features ROOT file")
    ap.add_argument("--sizes", type=float, nargs="+", default=[2300, 10000, 100000])
    ap.add_argument("--toys", type=int, default=2000)
    ap.add_argument(
        "--smooth-above",
        type=float,
        default=0.5,
        help="use the smooth fit when n > this x the MC size",
    )
    ap.add_argument("--mass", type=float, default=150.0)
    ap.add_argument("--z0", type=float, default=1.0)
    ap.add_argument("--max-order", type=int, default=5)
    ap.add_argument("--seed", type=int, default=20240607)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    spec = FitSpec.from_config({})
    m = read_features(args.features, names=("m_llg",))[:, 0]
    hist = spec.histogram(m).astype(np.float64)
    n_mc = float(hist.sum())
    smooth, smooth_model = smooth_truth(hist, spec, min(args.max_order + 1, 10))
    models = candidates(["exp_poly", "bernstein"], args.max_order)
    print(
        f"MC: {n_mc:.0f} events in [{spec.edges[0]:g}, {spec.edges[-1]:g}] GeV; smooth truth "
        f"{smooth_model}; {args.toys} toys per size; candidates {models[0]}..{models[-1]}"
    )
    for n in args.sizes:
        truths = [("smooth fit", smooth)]
        if n <= n_mc:
            truths.insert(0, ("MC histogram", hist / n_mc))
        for truth, shape in truths:
            _report(spec, models, shape, n, truth, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
