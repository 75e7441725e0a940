"""Benchmark of the spectrum fits: iminuit one fit at a time vs the batched torch fits.

A "toy" here is what one toy of the pipeline fits: 7 selections (top 1, 2, 5, 10, 20, 50, 100%
of ``--events`` events) histogrammed in 40 bins, each fitted background-only once and
signal+background at 31 masses (217 s+b fits per toy). Histograms are Poisson draws of the
default background shape (no DNN, no GAN), so only the fits are timed.

"s+b fits/s" counts (histogram, mass) results, each with its share of the background-only fit;
under the background-only hypothesis about half of them are settled exactly by the score test
at n1 = 0 and need no iterations (printed as "iterated").

With ``--families`` it prints, in the same run, s+b fits per second of every background family
member (``--family-names``, default ``exp_poly``, ``bernstein``, ``exp_chebyshev``,
``bernstein_free``, orders 1..``--max-order``; or the members ``--models``;
``ganlee.stats.fit.families``) with the batched backend on each device and with iminuit
(``--iminuit-toys 0``: skipped), their ratio, and the rate relative to ``exp_poly2`` on the same
device, on histograms of the inclusive selection.

Usage::

    python bench/bench_fit.py                      # small: CPU, and CUDA when available
    python bench/bench_fit.py --families --max-order 5 --toys 100 --iminuit-toys 1
    python bench/bench_fit.py --families --models exp_poly2 exp_chebyshev8 exp_chebyshev12 \
        exp_chebyshev16 bernstein_free8 bernstein_free12 bernstein_free16 --toys 200 \
        --iminuit-toys 0 --threads 1
    python bench/bench_fit.py --toys 2000 --cuda-toys 10000 --iminuit-toys 3
    python bench/bench_fit.py --devices cpu --threads 2
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from ganlee.config import load_config
from ganlee.seeds import numpy_rng
from ganlee.stats.fit import (
    FitSpec,
    candidates,
    expected_counts,
    scan_batched,
    scan_iminuit,
    status_counts,
)

SELECTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def make_toys(spec: FitSpec, n_toys: int, events: int, seed: int) -> np.ndarray:
    """(n_toys * 7, nbins) Poisson histograms, 7 selection sizes per toy."""
    shape = expected_counts(spec, 1.0, -1.0, 0.2)
    shape = shape / shape.sum()
    rng = numpy_rng(seed, "bench_fit")
    lam = np.array([f * events for f in SELECTIONS])[:, None] * shape[None, :]
    counts = rng.poisson(np.broadcast_to(lam, (n_toys, *lam.shape)))
    return counts.reshape(n_toys * len(SELECTIONS), -1).astype(np.float64)


def timed_batched(counts: np.ndarray, spec: FitSpec, device: str, repeat: int):
    dev = torch.device(device)
    y = torch.as_tensor(counts, device=dev)
    res = scan_batched(y, spec)  # warm-up (allocations, CUDA context, kernels)
    best = float("inf")
    for _ in range(repeat):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        res = scan_batched(y, spec)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return res, best


def family_table(spec: FitSpec, args: argparse.Namespace, devices: list[str]) -> None:
    """Fits per second per family member: batched on each device vs iminuit, and vs exp_poly2
    on the same device, one run."""
    models = args.models or candidates(args.family_names, args.max_order)
    models = list(dict.fromkeys(["exp_poly2", *models]))
    n_mass = spec.masses.size
    print(
        f"{'model':<18}"
        + "".join(f"{'batched ' + d:>18}{'/ exp_poly2':>12}" for d in devices)
        + (f"{'iminuit':>14}" + "".join(f"{'ratio ' + d:>14}" for d in devices))
        * (args.iminuit_toys > 0)
    )
    counts = make_toys(spec, args.toys, args.events, args.seed + 2)
    base: dict[str, float] = {}
    for model in models:
        one = spec.with_background(model)
        rates = []
        for device in devices:
            _, dt = timed_batched(counts, one, device, args.repeat)
            rates.append(counts.shape[0] * n_mass / dt)
            base.setdefault(device, rates[-1])
        line = f"{model:<18}" + "".join(
            f"{r:>18.0f}{r / base[d]:>12.2f}" for r, d in zip(rates, devices, strict=True)
        )
        if args.iminuit_toys > 0:
            ref_counts = counts[: args.iminuit_toys * len(SELECTIONS)]
            t0 = time.perf_counter()
            scan_iminuit(ref_counts, one, errors=False, progress=False)
            rate_im = ref_counts.shape[0] * n_mass / (time.perf_counter() - t0)
            line += f"{rate_im:>14.0f}" + "".join(f"{r / rate_im:>13.1f}x" for r in rates)
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--toys", type=int, default=200, help="toys for the batched CPU run")
    ap.add_argument("--cuda-toys", type=int, default=10000, help="toys for the batched CUDA run")
    ap.add_argument("--iminuit-toys", type=int, default=1, help="toys fitted with iminuit")
    ap.add_argument("--events", type=int, default=100_000, help="events of the 100%% selection")
    ap.add_argument(
        "--devices",
        default="auto",
        help="comma list of cpu,cuda (auto: cpu, and cuda if available)",
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    ap.add_argument("--repeat", type=int, default=3, help="timed repetitions (best kept)")
    ap.add_argument("--seed", type=int, default=20240607)
    ap.add_argument(
        "--families",
        action="store_true",
        help="fits per second per background family member (batched vs iminuit)",
    )
    ap.add_argument("--max-order", type=int, default=4, help="highest order with --families")
    ap.add_argument(
        "--family-names",
        nargs="+",
        default=["exp_poly", "bernstein", "exp_chebyshev", "bernstein_free"],
        help="families of --families (orders 1..--max-order)",
    )
    ap.add_argument("--models", nargs="*", default=None, help="members of --families instead")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = FitSpec.from_config(load_config(None))
    n_sel, n_mass = len(SELECTIONS), spec.masses.size
    per_toy_fits = n_sel * n_mass
    if args.devices == "auto":
        devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    else:
        devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    print(
        f"bench_fit: {n_sel} selections x {n_mass} masses = {per_toy_fits} s+b fits per toy, "
        f"{spec.nbins} bins, {args.events} events in the 100% selection; "
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
    )
    if args.families:
        family_table(spec, args, devices)
        return 0

    rates: dict[str, float] = {}
    ref = None
    ref_counts = make_toys(spec, max(args.iminuit_toys, 1), args.events, args.seed)
    try:
        import iminuit  # noqa: F401

        if args.iminuit_toys < 1:
            raise ImportError("--iminuit-toys 0")
        t0 = time.perf_counter()
        ref = scan_iminuit(ref_counts, spec, errors=False, progress=False)
        dt = time.perf_counter() - t0
        n = ref_counts.shape[0] * n_mass
        rates["iminuit"] = n / dt
        print(
            f"iminuit  one at a time : {n:>9d} s+b fits in {dt:8.3f} s = {n / dt:12.0f} fits/s, "
            f"{dt / args.iminuit_toys * 1e3:9.2f} ms per toy; status {status_counts(ref.status)}"
        )
    except ImportError:
        print("iminuit  skipped (not installed or --iminuit-toys 0)", file=sys.stderr)

    for device in devices:
        n_toys = args.cuda_toys if device.startswith("cuda") else args.toys
        counts = make_toys(spec, n_toys, args.events, args.seed + 1)
        res, dt = timed_batched(counts, spec, device, args.repeat)
        n = counts.shape[0] * n_mass
        iterated = float(np.mean(res.z > 0))
        rates[device] = n / dt
        print(
            f"batched  {device:<14}: {n:>9d} s+b fits in {dt:8.3f} s = {n / dt:12.0f} fits/s, "
            f"{dt / n_toys * 1e3:9.3f} ms per toy ({n_toys} toys; {iterated:.0%} iterated); "
            f"failed {res.n_failed}"
        )
        if ref is not None:
            check = scan_batched(torch.as_tensor(ref_counts, device=device), spec)
            dz = np.nanmax(np.abs(check.z - ref.z))
            print(f"         max |Z_batched - Z_iminuit| on the iminuit toys: {dz:.2e}")
        if device != "cpu":
            sub = counts[: 7 * min(n_toys, 100)]
            on_cpu = scan_batched(sub, spec)
            dz = np.nanmax(np.abs(res.z[: sub.shape[0]] - on_cpu.z))
            same = bool(np.array_equal(res.status[: sub.shape[0]], on_cpu.status))
            print(
                f"         max |Z_{device} - Z_cpu| on {sub.shape[0]} histograms: {dz:.2e}, "
                f"same status: {same}"
            )

    if "iminuit" in rates:
        for device in devices:
            print(f"ratio batched {device} / iminuit: {rates[device] / rates['iminuit']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
