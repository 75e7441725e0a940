"""MC stage benchmark: Pythia generation, detector and conversion rates; cost of 1M selected events.

For each realism level: Pythia ``nextBatch`` events/s (initialisation excluded), the detector
step (``ganlee.mc.detector.simulate``) events/s, writing, and ``mc_convert`` (read + select +
features + write) events/s on the file just written; the selected fraction; and the CPU-hours
needed for one million selected events. Single process, one core.

    python bench/bench_mc.py                       # small default sizes, ~1 minute
    python bench/bench_mc.py --events 20000 --realism no_mpi full
    python bench/bench_mc.py --check-pt-max-match  # also jets with/without SpaceShower:pTmaxMatch=2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

DEFAULT_EVENTS = {"full": 1000, "no_mpi": 5000, "parton_shower": 5000}


def bench_level(
    realism: str, n_events: int, batch_size: int, workdir: Path, extra: list[str] | None = None
) -> dict:
    import numpy as np

    from ganlee.features import FEATURE_NAMES
    from ganlee.io import read_features
    from ganlee.mc.convert import convert
    from ganlee.mc.detector import simulate
    from ganlee.mc.generate import (
        _make_pythia,
        _ParticleTable,
        final_state,
        pythia_seed,
        pythia_settings,
        write_objects,
    )
    from ganlee.settings import Settings

    cfg = Settings.from_config(
        {"mc": {"generate": {"realism": realism, "extra_settings": extra or []}}}
    )
    settings = pythia_settings(cfg.mc.generate, pythia_seed(cfg.seed, 0))
    t0 = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        pythia = _make_pythia(settings)
    t_init = time.process_time() - t0
    table = _ParticleTable(pythia.particleData)
    rng = np.random.default_rng(1)
    t_gen = t_det = 0.0
    chunks = []
    done = 0
    while done < n_events:
        t0 = time.process_time()
        batch = pythia.nextBatch(min(batch_size, n_events - done), "skip")
        t1 = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):  # fastjet's banner
            chunks.append(simulate(final_state(batch, table), rng))
        t_det += time.process_time() - t1
        t_gen += t1 - t0
        done += len(batch)
        del batch
    path = workdir / f"bench_{realism}.root"
    t0 = time.process_time()
    write_objects(
        path,
        chunks,
        {"events": done, "realism": realism, "sigma_gen_pb": pythia.infoPython().sigmaGen() * 1e9},
    )
    t_write = time.process_time() - t0
    t0 = time.process_time()
    record = convert([str(path)], cfg, workdir / "f.root", workdir / "f.json", stream=io.StringIO())
    t_conv = time.process_time() - t0
    feats = dict(zip(FEATURE_NAMES, read_features(workdir / "f.root").T, strict=True))
    selected = record["selected_events"]
    per_event = (t_gen + t_det + t_write + t_conv) / done
    return {
        "realism": realism,
        "events": done,
        "init_s": t_init,
        "gen_rate": done / t_gen,
        "det_rate": done / t_det,
        "write_rate": done / t_write,
        "conv_rate": done / t_conv,
        "selected": selected,
        "fraction": selected / done,
        "ms_per_selected": 1e3 * per_event * done / max(selected, 1),
        "cpu_h_per_1m": per_event * done / max(selected, 1) * 1e6 / 3600.0,
        "sigma_pb": float(pythia.infoPython().sigmaGen()) * 1e9,
        "n_jets_mean": float(np.mean(feats["n_jets"])),
        "pt_llg_median": float(np.median(feats["pt_llg"])),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--realism", nargs="+", default=["parton_shower", "no_mpi", "full"])
    ap.add_argument(
        "--events",
        type=int,
        default=None,
        help="events per level (default: 1000 full, 5000 others)",
    )
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument(
        "--check-pt-max-match",
        action="store_true",
        help="compare jets without SpaceShower:pTmaxMatch = 2",
    )
    args = ap.parse_args()

    print(f"# ganlee MC benchmark (1 process, CPU time; {os.cpu_count()} cores on this machine)")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for realism in args.realism:
            n = args.events or DEFAULT_EVENTS.get(realism, 2000)
            rows.append(bench_level(realism, n, args.batch_size, Path(tmp)))
        head = (
            f"{'realism':<14}{'events':>8}{'init s':>8}{'pythia ev/s':>13}"
            f"{'detector ev/s':>15}{'write ev/s':>12}"
            f"{'convert ev/s':>14}{'selected':>10}{'ms/selected':>13}{'CPU-h per 1M sel.':>19}"
        )
        print(head)
        for r in rows:
            print(
                f"{r['realism']:<14}{r['events']:>8d}{r['init_s']:>8.2f}{r['gen_rate']:>13.0f}{r['det_rate']:>15.0f}"
                f"{r['write_rate']:>12.0f}{r['conv_rate']:>14.0f}{r['fraction']:>9.1%} "
                f"{r['ms_per_selected']:>12.2f}"
                f"{r['cpu_h_per_1m']:>19.1f}"
            )
        print()
        for r in rows:
            print(
                f"{r['realism']:<14} sigma = {r['sigma_pb']:.3f} pb, mean n_jets = "
                f"{r['n_jets_mean']:.3f}, "
                f"median pT_llg = {r['pt_llg_median']:.1f} GeV"
            )
        by = {r["realism"]: r for r in rows}
        if "full" in by and "no_mpi" in by:
            print(
                "cost ratio full / no_mpi per selected event: "
                f"{by['full']['ms_per_selected'] / by['no_mpi']['ms_per_selected']:.1f}x"
            )
        for r in rows:
            share = (1 / r["det_rate"]) / (
                1 / r["gen_rate"] + 1 / r["det_rate"] + 1 / r["write_rate"] + 1 / r["conv_rate"]
            )
            print(f"{r['realism']:<14} detector share of the per-event cost: {share:.0%}")
        if args.check_pt_max_match:
            n = args.events or DEFAULT_EVENTS["no_mpi"] * 2
            capped = bench_level(
                "no_mpi", n, args.batch_size, Path(tmp), ["SpaceShower:pTmaxMatch = 0"]
            )
            matched = bench_level("no_mpi", n, args.batch_size, Path(tmp))
            print(
                f"SpaceShower:pTmaxMatch = 2 vs 0 (no_mpi, {n} events): mean n_jets "
                f"{matched['n_jets_mean']:.3f} vs "
                f"{capped['n_jets_mean']:.3f}, median pT_llg {matched['pt_llg_median']:.1f} vs "
                f"{capped['pt_llg_median']:.1f} GeV"
            )


if __name__ == "__main__":
    main()
