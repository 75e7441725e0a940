"""Toys per hour: one model at a time vs the batched engine, measured in the same run.

Every figure is a full toy: sampling both samples, standardising, training the DNN, scoring
sample 2, slicing the selections, histogramming and the batched fits (``ToyEngine.run_toys``).
The time of each phase (sampling / train / score+slice / fit) is printed beside the total.

Events come from a synthetic background (``--source synthetic``, default: a falling m_llg
spectrum in [130, 170] GeV and Gaussian features, drawn on the device; no GAN needed), from a
GAN checkpoint (``--source gan --model results/gan/model.pt --features ...``) or from the MC
(``--source mc_bootstrap --features ...``).

Defaults are small for a CPU. The H100 measurement of the issue::

    python bench/bench_toys.py --device cuda --events 100000 --epochs 8 \\
        --batch-sizes 128 512 --models 1024 --dtypes bfloat16 float32 --single-toys 2

``--background results/fit/background.json`` fits each selection with its chosen model (the
fit share of a toy with per-selection models); ``--fit-models exp_poly2 exp_chebyshev12 ...``
repeats the batched measurement with each model as ``fit.background`` for every selection (the
fit share of a toy per background family; issue 20: under 5 % at 1e5 events)::

    python bench/bench_toys.py --events 100000 --epochs 1 --models 2 --single-toys 0 \
        --threads 1 --fit-models exp_poly2 exp_chebyshev12 bernstein_free12 exp_chebyshev16

``--check`` first trains the same toys in passes of different widths, padded and unpadded, and
prints the largest |Z| difference (``toys.pad_passes``: bitwise equality expected when padded).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ganlee.device import resolve_device
from ganlee.features import FEATURE_NAMES
from ganlee.settings import Settings, load_settings
from ganlee.toys.run import ToyEngine
from ganlee.toys.sources import SampleSource, make_source


class SyntheticSource(SampleSource):
    """Background-only stand-in events drawn on the device (both samples the same law)."""

    name = "synthetic"
    model_hash = "synthetic"

    def __init__(self, device: torch.device, n_mc: int) -> None:
        self.device = device
        self.n_mc = n_mc

    def draw(self, role: str, n: int, seed: int) -> torch.Tensor:
        g = torch.Generator(device=self.device)
        g.manual_seed(int(seed))
        x = torch.randn(n, len(FEATURE_NAMES), generator=g, device=self.device)
        u = torch.rand(n, generator=g, device=self.device)
        lo, hi, scale = 130.0, 170.0, 12.0
        x[:, 0] = lo - scale * torch.log1p(-u * (1.0 - math.exp(-(hi - lo) / scale)))
        return x


def _config(
    args: argparse.Namespace, batch: int, dtype: str, models: int, pad: bool = True
) -> Settings:
    half = args.events // 2
    return load_settings(
        json.dumps(
            {
                "seed": 12345,
                "device": str(args.device),
                "toys": {
                    "source": args.source if args.source != "synthetic" else "gan",
                    "sample1_size": half,
                    "sample2_size": args.events - half,
                    "scoring": args.scoring,
                    "k_folds": args.k_folds,
                    "models_per_batch": models,
                    "pad_passes": pad,
                    "dnn": {"epochs": args.epochs, "batch_size": batch, "dtype": dtype},
                },
                "fit": {"backend": args.fit_backend, "background": args.fit_model},
            }
        )
    )


def _source(args: argparse.Namespace, cfg: Settings) -> SampleSource:
    if args.source == "synthetic":
        return SyntheticSource(args.device, args.events)
    return make_source(cfg, args.features, args.model, args.device)


def measure(
    args: argparse.Namespace, batch: int, dtype: str, models: int, toys: int, first: int
) -> dict:
    """Run ``toys`` toys, ``models`` stacked per pass; return the rate and the phase breakdown."""
    cfg = _config(args, batch, dtype, models)
    choice = None
    if getattr(args, "background", None):
        from ganlee.background_choice import read_choice

        choice = read_choice(args.background, cfg.toys.selections)
    stream = io.StringIO() if args.quiet else sys.stderr
    engine = ToyEngine(cfg, _source(args, cfg), stream=stream, background=choice)
    if args.device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    res = engine.run_toys(first, toys, progress=not args.quiet)
    if args.device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    tm = engine.timing
    row = {
        "models": models,
        "batch": batch,
        "dtype": engine.dtype,
        "toys": toys,
        "wall_s": wall,
        "toys_per_hour": 3600.0 * toys / wall,
        "ms_per_toy": 1000.0 * wall / toys,
        "sampling_s": tm.sampling,
        "train_s": tm.train,
        "score_s": tm.score,
        "fit_s": tm.fit,
        "failed_fits": int(res["n_failed"].sum()),
        "fits": int(res["n_fits"].sum()),
        "z_max_mean": float(np.nanmean(res["z_max"])),
    }
    if args.device.type == "cuda":
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    widths = (len(FEATURE_NAMES), *cfg.toys.dnn.layers, 1)
    macs = sum(a * b for a, b in itertools.pairwise(widths))
    row["train_tflops"] = 6.0 * macs * args.events * args.epochs * toys / max(tm.train, 1e-9) / 1e12
    return row


def _print(row: dict, base: dict | None) -> None:
    tot = row["sampling_s"] + row["train_s"] + row["score_s"] + row["fit_s"]
    share = " ".join(
        f"{k[:-2]} {100 * row[k] / tot:4.1f}%"
        for k in ("sampling_s", "train_s", "score_s", "fit_s")
    )
    ratio = f" x{row['toys_per_hour'] / base['toys_per_hour']:.1f} vs one-at-a-time" if base else ""
    mem = f" peak {row['peak_gib']:.1f} GiB" if "peak_gib" in row else ""
    model = f" {row['fit_model']}" if "fit_model" in row else ""
    fit_ms = 1e3 * row["fit_s"] / row["toys"]
    print(
        f"K={row['models']:5d} batch={row['batch']:5d} {row['dtype']:8s} {row['toys']:5d} toys "
        f"{row['wall_s']:8.2f} s {row['ms_per_toy']:9.2f} ms/toy "
        f"{row['toys_per_hour']:11,.0f} toys/h [{share}] train {row['train_tflops']:.3g} TFLOP/s "
        f"fits{model} failed {row['failed_fits']}/{row['fits']} ({fit_ms:.1f} ms/toy)"
        f"{mem}{ratio}",
        flush=True,
    )


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--events",
        type=int,
        default=4000,
        help="events per toy (sample 1 + sample 2, split in half)",
    )
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[128])
    p.add_argument(
        "--models", type=int, nargs="+", default=[16], help="K values of the batched engine"
    )
    p.add_argument("--dtypes", nargs="+", default=["float32"], choices=["float32", "bfloat16"])
    p.add_argument(
        "--single-toys", type=int, default=2, help="toys of the one-model-at-a-time loop (0: skip)"
    )
    p.add_argument("--single-dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--scoring", default="train", choices=["train", "kfold"])
    p.add_argument("--k-folds", type=int, default=5)
    p.add_argument("--fit-backend", default="batched", choices=["batched", "iminuit"])
    p.add_argument("--source", default="synthetic", choices=["synthetic", "gan", "mc_bootstrap"])
    p.add_argument("--model", default=None)
    p.add_argument(
        "--background",
        default=None,
        help="background choice of rule fit_model (one model per selection; default: "
        "fit.background for all)",
    )
    p.add_argument(
        "--fit-models",
        nargs="+",
        default=["exp_poly2"],
        help="fit.background of the batched measurement, one measurement each",
    )
    p.add_argument("--features", default=None)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--json", default=None, help="also write the rows as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument(
        "--check",
        action="store_true",
        help="first check K-independence of toy results on this device",
    )
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = resolve_device(args.device)
    args.fit_model = args.fit_models[0]
    name = (
        torch.cuda.get_device_name(args.device)
        if args.device.type == "cuda"
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(
        f"# bench_toys on {name}, torch {torch.__version__}; {args.events} events/toy "
        f"({args.events // 2} + {args.events - args.events // 2}), {args.epochs} epochs, "
        f"scoring {args.scoring}, fits {args.fit_backend}, source {args.source}",
        flush=True,
    )
    # warm-up: CUDA context, cuBLAS handles, allocator
    measure(
        argparse.Namespace(
            **{**vars(args), "events": min(args.events, 2000), "epochs": 1, "quiet": True}
        ),
        args.batch_sizes[0],
        args.dtypes[0],
        2,
        2,
        10**6,
    )
    rows: list[dict] = []

    def save() -> None:
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            blob = {
                "device": name,
                "args": {k: str(v) for k, v in vars(args).items()},
                "rows": rows,
            }
            Path(args.json).write_text(json.dumps(blob, indent=2))

    if args.check:
        rows.append(check_independence(args))
        save()
    for batch in args.batch_sizes:
        base = None
        if args.single_toys:
            base = measure(args, batch, args.single_dtype, 1, args.single_toys, 0)
            base["mode"] = "one-at-a-time"
            _print(base, None)
            rows.append(base)
            save()
        for dtype, k, fit_model in itertools.product(args.dtypes, args.models, args.fit_models):
            args.fit_model = fit_model
            toys = max(1, k // args.k_folds) if args.scoring == "kfold" else k
            try:
                row = measure(args, batch, dtype, k, toys, 1000)
            except torch.cuda.OutOfMemoryError as exc:
                print(
                    f"K={k} batch={batch} {dtype}: out of memory ({str(exc).splitlines()[0]})",
                    flush=True,
                )
                torch.cuda.empty_cache()
                continue
            row["mode"] = "batched"
            row["fit_model"] = fit_model
            if base is not None:
                row["speedup_vs_single"] = row["toys_per_hour"] / base["toys_per_hour"]
            _print(row, base)
            rows.append(row)
            save()
    return 0


def check_independence(args: argparse.Namespace) -> dict:
    """Same toy, different company: z of toy i trained in different passes, per dtype.

    ``padded``: passes padded to 8 models (``toys.pad_passes``): toys 0-3 together vs toys 2-3
    vs toy 1 alone, and a rerun (bitwise equality expected). ``unpadded``: toys 0-3 as K = 4 vs
    K = 1 without padding (on CUDA and multi-threaded CPU the kernels round differently for
    another stacked shape, which training amplifies).
    """
    small = argparse.Namespace(
        **{**vars(args), "events": min(args.events, 20000), "quiet": True, "scoring": "train"}
    )
    out: dict = {"mode": "check"}

    def run(dtype: str, k: int, first: int, count: int, pad: bool) -> np.ndarray:
        cfg = _config(small, args.batch_sizes[-1], dtype, k, pad)
        engine = ToyEngine(cfg, _source(small, cfg), stream=io.StringIO())
        return engine.run_toys(first, count, progress=False)["z"].astype(np.float64)

    def diff(a: np.ndarray, b: np.ndarray) -> float:
        both = np.isfinite(a) & np.isfinite(b)
        return float(np.abs(a - b)[both].max()) if both.any() else float("nan")

    for dtype in args.dtypes:
        full = run(dtype, 8, 0, 4, True)
        padded = {
            "rerun": diff(full, run(dtype, 8, 0, 4, True)),
            "toys 2-3 alone": diff(full[2:], run(dtype, 8, 2, 2, True)),
            "toy 1 alone": diff(full[1:2], run(dtype, 8, 1, 1, True)),
        }
        unpadded = diff(run(dtype, 4, 0, 4, False), run(dtype, 1, 0, 4, False))
        out[dtype] = {"padded_max_abs_dz": padded, "unpadded_K4_vs_K1_max_abs_dz": unpadded}
        print(
            f"# same toy, other pass ({dtype}, {small.events} events, "
            f"batch {args.batch_sizes[-1]}): "
            f"max |dZ| padded to 8: "
            + ", ".join(f"{k} {v:.2e}" for k, v in padded.items())
            + f"; unpadded K=4 vs K=1: {unpadded:.2e}",
            flush=True,
        )
    return out


if __name__ == "__main__":
    sys.exit(main())
