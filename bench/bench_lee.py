"""Benchmark of the LEE aggregation: seconds and peak memory to aggregate many toy chunks.

Writes synthetic chunks with the exact toy-chunk contract (one-sided smooth Gaussian-process
scans, nested selections) into a temporary directory, then aggregates them twice:

* in this process under ``tracemalloc`` (peak of Python + numpy allocations);
* through the CLI (``ganlee lee-aggregate <dir>``) in a child process, for wall time including
  start-up and writing the outputs, and the child's peak RSS (``resource.getrusage``).

Default: 100 chunks x 1,000 toys (100,000 toys), S = 7 selections, M = 31 masses.

    python bench/bench_lee.py [--chunks 100] [--chunk-size 1000] [--selections 7] [--masses 31]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d


def write_chunks(outdir: Path, n_chunks: int, size: int, s: int, m: int, seed: int = 1) -> float:
    rng = np.random.default_rng(seed)
    masses = np.linspace(135.0, 165.0, m)
    frac = np.geomspace(0.01, 1.0, s)
    w = np.diff(np.r_[0.0, frac])
    width, pad = 2.5, 15
    r = int(5 * width + 0.5)
    kern = np.exp(-0.5 * (np.arange(-r, r + 1) / width) ** 2)
    kern /= kern.sum()
    norm = math.sqrt(np.sum(kern**2))
    t0 = time.perf_counter()
    for c in range(n_chunks):
        x = rng.standard_normal((size, s, m + 2 * pad), dtype=np.float32)
        y = (
            gaussian_filter1d(x, width, axis=-1, mode="constant", truncate=5.0)[..., pad : pad + m]
            / norm
        )
        y = np.cumsum(y * np.sqrt(w)[None, :, None], axis=1) / np.sqrt(frac)[None, :, None]
        z = np.maximum(y, 0.0).astype(np.float32)
        flat = z.reshape(size, -1)
        arg = flat.argmax(axis=1)
        idx = np.arange(c * size, (c + 1) * size, dtype=np.int64)
        np.savez(
            outdir / f"chunk_{c}.npz",
            toy_index=idx,
            seed=idx * 7919 + 3,
            z=z,
            z_max=flat.max(axis=1).astype(np.float64),
            mass_at_max=masses[arg % m],
            selection_at_max=frac[arg // m],
            n_fits=np.full(size, s * m, dtype=np.int64),
            n_failed=np.zeros(size, dtype=np.int64),
            masses=masses,
            selections=frac,
            config_hash=np.array("bench"),
            model_hash=np.array("bench"),
            config_json=np.array(json.dumps({"toys": {"chunk_size": size}})),
        )
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--chunks", type=int, default=100)
    ap.add_argument("--chunk-size", type=int, default=1000)
    ap.add_argument("--selections", type=int, default=7)
    ap.add_argument("--masses", type=int, default=31)
    args = ap.parse_args()

    from ganlee.chunks import resolve_chunk_paths
    from ganlee.settings import Settings
    from ganlee.stats import lee

    n = args.chunks * args.chunk_size
    z_bytes = n * args.selections * args.masses * 4
    print(
        f"toys {n:,} = {args.chunks} chunks x {args.chunk_size}; S = {args.selections}, M = "
        f"{args.masses}; "
        f"all z arrays together: {z_bytes / 2**20:.1f} MiB"
    )
    with tempfile.TemporaryDirectory(prefix="bench_lee_") as tmp:
        d = Path(tmp) / "toys"
        d.mkdir()
        t_gen = write_chunks(d, args.chunks, args.chunk_size, args.selections, args.masses)
        disk = sum(p.stat().st_size for p in d.iterdir())
        print(f"wrote synthetic chunks in {t_gen:.1f} s ({disk / 2**20:.1f} MiB on disk)")
        paths, _ = resolve_chunk_paths([d])

        # 1) in process: warm up (imports), then time without and trace memory with tracemalloc,
        #    over half and all of the chunks to show the scaling
        lee.aggregate(
            paths[:1], Settings.from_config({"toys": {"n_toys": args.chunk_size}}), progress=False
        )
        results = {}
        for label, subset, n_sub in (("half", paths[: len(paths) // 2], n // 2), ("all", paths, n)):
            cfg_sub = Settings.from_config({"toys": {"n_toys": n_sub}})
            t0 = time.perf_counter()
            lee.aggregate(subset, cfg_sub, progress=False)
            dt = time.perf_counter() - t0
            tracemalloc.start()
            lee.aggregate(subset, cfg_sub, progress=False)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            results[label] = (dt, peak)
            print(
                f"in-process aggregate, {label:4s} ({n_sub:,} toys): {dt:.2f} s "
                f"({n_sub / dt:,.0f} toys/s), tracemalloc peak {peak / 2**20:.1f} MiB"
            )
        (t_half, m_half), (t_all, m_all) = results["half"], results["all"]
        print(
            f"ratio all/half: time {t_all / t_half:.2f} (2 = linear), peak memory "
            f"{m_all / m_half:.2f} "
            "(per-toy scalars grow, one chunk's z at a time); peak / all z arrays = "
            f"{m_all / z_bytes:.2f}"
        )

        # 2) the CLI in a child process (outputs written), wall time and peak RSS
        out = Path(tmp) / "out"
        base = [sys.executable, "-c", "import ganlee.cli, ganlee.stats.lee, hist, scipy.stats"]
        subprocess.run(base, check=True)  # the imports alone: RSS baseline (children's max so far)
        rss0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        cmd = [
            sys.executable,
            "-m",
            "ganlee.cli",
            "lee-aggregate",
            "--config",
            json.dumps({"toys": {"n_toys": n}}),
            "--quiet",
            "--summary",
            str(out / "summary.json"),
            "--zmax",
            str(out / "zmax.csv"),
            "--hist",
            str(out / "zmax_hist.pkl"),
            str(d),
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr)
            return 1
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # kB -> MiB (Linux)
        print(
            f"CLI lee-aggregate (start-up, {args.chunks} chunks, summary + {n:,}-row CSV + hist): "
            f"{wall:.2f} s wall, child peak RSS {rss:.0f} MiB (imports alone {rss0:.0f} MiB)"
        )
        s = json.loads((out / "summary.json").read_text())
        row = s["table"][3]
        print(
            f"check: Z_local 4 -> p_global toys {row['toys']['p_global']:.3g}, "
            f"Gross-Vitells (union) {row['gross_vitells']['p_global']:.3g}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
