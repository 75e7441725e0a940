"""Generation phase-space cuts matched to the selection: selected events per CPU-second, and bias.

``--scan``: for each (pTHatMin, mHatMin, mHatMax) setting, one ``mc-generate`` job of ``--events``
events (``realism`` of the config) and ``mc-convert``: the selected fraction, CPU seconds and
selected events per CPU second, as ratios to the first (reference) setting.

``--bias``: the reference cut and a tighter cut, each generated until ``--selected`` events pass
the selection (independent seeds), then per feature the two-sample Kolmogorov-Smirnov statistic
and p-value at equal selected statistics. A cut that removes no selected phase space gives
p-values uniform on [0, 1]; a cut that does shows small p-values in the affected features
(pt_llg, n_jets, the photon-pT driven m_llg shape).

    python bench/bench_mc_cuts.py --scan --events 20000
    python bench/bench_mc_cuts.py --bias --selected 5000 --tight 25 127 175
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = (10.0, 125.0, 180.0)


def run_setting(
    pt_hat: float, m_lo: float, m_hi: float, events: int, index: int, workdir: Path
) -> dict[str, Any]:
    """One generation job with the given cuts, converted; selected features and CPU seconds."""
    from ganlee.io import read_features
    from ganlee.mc.convert import convert
    from ganlee.mc.generate import generate
    from ganlee.settings import Settings

    gen = {
        "events_per_job": events,
        "batch_size": 2000,
        "pt_hat_min": pt_hat,
        "m_hat_min": m_lo,
        "m_hat_max": m_hi,
    }
    cfg = Settings.from_config({"mc": {"generate": gen}})
    tag = f"{pt_hat:g}_{m_lo:g}_{m_hi:g}_{index}"
    raw, feats = workdir / f"gen_{tag}.root", workdir / f"feat_{tag}.root"
    t0 = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        meta = generate(cfg, index, raw, stream=io.StringIO())
        convert([str(raw)], cfg, feats, workdir / f"feat_{tag}.json", stream=io.StringIO())
    cpu = time.process_time() - t0
    x = read_features(feats)
    raw.unlink()
    return {"x": x, "cpu": cpu, "events": events, "sigma_pb": meta["sigma_gen_pb"]}


def scan(args: argparse.Namespace, workdir: Path) -> None:
    settings = [REFERENCE, *[tuple(s) for s in args.settings]]
    ref_rate = None
    print(
        f"{'pTHatMin':>8} {'mHat':>11} {'selected':>9} {'fraction':>8} {'cpu s':>7} "
        f"{'sel/cpu s':>9} {'ratio':>6} {'sigma_sel fb':>12}"
    )
    for pt_hat, m_lo, m_hi in settings:
        r = run_setting(pt_hat, m_lo, m_hi, args.events, 0, workdir)
        n = len(r["x"])
        rate = n / r["cpu"]
        ref_rate = ref_rate or rate
        sigma_sel = r["sigma_pb"] * 1000 * n / r["events"]
        print(
            f"{pt_hat:8g} {m_lo:5g}-{m_hi:<5g} {n:9d} {n / r['events']:8.4f} {r['cpu']:7.1f} "
            f"{rate:9.1f} {rate / ref_rate:6.2f} {sigma_sel:12.2f}",
            flush=True,
        )


def collect(
    setting: tuple[float, float, float], n_sel: int, events: int, first: int, workdir: Path
) -> np.ndarray:
    """Jobs ``first, first + 1, ...`` of ``setting`` until ``n_sel`` events are selected."""
    parts, total, index = [], 0, first
    while total < n_sel:
        r = run_setting(*setting, events, index, workdir)
        parts.append(r["x"])
        total += len(r["x"])
        index += 1
    return np.concatenate(parts)[:n_sel]


def bias(args: argparse.Namespace, workdir: Path) -> None:
    from scipy import stats

    from ganlee.features import FEATURE_NAMES

    tight = tuple(args.tight)
    ref = collect(REFERENCE, args.selected, args.events, 0, workdir)
    alt = collect(tight, args.selected, args.events, 1000, workdir)  # independent Pythia seeds
    print(f"reference cut {REFERENCE} vs tight cut {tight}: {len(ref)} selected events each")
    pvals = []
    for j, name in enumerate(FEATURE_NAMES):
        res = stats.ks_2samp(ref[:, j], alt[:, j])
        pvals.append(res.pvalue)
        print(f"  {name:18s} KS {res.statistic:.4f}  p {res.pvalue:.3f}")
    print(
        f"min p {min(pvals):.4f}; Bonferroni-corrected (x{len(pvals)}) "
        f"{min(1.0, min(pvals) * len(pvals)):.4f}"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scan", action="store_true")
    p.add_argument("--bias", action="store_true")
    p.add_argument("--events", type=int, default=20000, help="generated events per job")
    p.add_argument("--selected", type=int, default=5000, help="selected events per side (--bias)")
    p.add_argument(
        "--settings",
        type=float,
        nargs=3,
        action="append",
        default=[[20.0, 125.0, 180.0], [25.0, 125.0, 180.0], [25.0, 127.0, 175.0]],
        metavar=("PTHAT", "MLO", "MHI"),
        help="settings scanned after the reference",
    )
    p.add_argument(
        "--tight",
        type=float,
        nargs=3,
        default=[25.0, 127.0, 175.0],
        metavar=("PTHAT", "MLO", "MHI"),
        help="the cut tested for bias (--bias)",
    )
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        if args.scan or not args.bias:
            scan(args, Path(d))
        if args.bias:
            bias(args, Path(d))


if __name__ == "__main__":
    main()
