"""Benchmark of the WGAN-GP training step: eager vs the CUDA-graph fast path, in one run.

Measures generator steps per second (one step = n_critic critic updates with gradient penalty
+ one generator update) with the reference architecture (generator 16-512-1024-512-18, critic
18-512-512-512-1) at several batch sizes, and the sampling rate of the trained-model path.
On CPU only the eager path exists (graph: n/a).

    python bench/bench_gan.py                      # small defaults
    python bench/bench_gan.py --steps 300 --batches 128 1024 --device cuda
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ganlee.device import resolve_device
from ganlee.features import FEATURE_NAMES
from ganlee.gan.models import init_seeded
from ganlee.gan.preprocess import Preprocessor
from ganlee.gan.train import Trainer, matmul_tf32
from ganlee.settings import GanSettings, Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic import synthetic_events  # test data, in tests/


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_step(
    gan: GanSettings,
    device: torch.device,
    path: str,
    batch: int,
    steps: int,
    warmup: int,
    tf32: bool = False,
) -> float:
    """Generator steps per second of ``path`` at ``batch`` (the epoch buffers filled once)."""
    gan = dataclasses.replace(gan, batch_size=batch)
    k = int(gan.n_critic)
    n = batch * k * (steps + warmup + 1)
    x = synthetic_events(n, seed=1)
    pre = Preprocessor.fit(x, FEATURE_NAMES, window=(130.0, 170.0), rng=np.random.default_rng(1))
    data = torch.from_numpy(pre.encode(x, np.random.default_rng(2)))
    g, d = init_seeded(gan, len(FEATURE_NAMES), 1)
    tr = Trainer(g, d, data, gan, device, path)
    tr.fill_epoch(7)
    with matmul_tf32(tf32, device):
        tr.run_steps(warmup)  # includes the capture for cuda_graph
        _sync(device)
        t0 = time.perf_counter()
        tr.run_steps(steps)
        _sync(device)
        dt = time.perf_counter() - t0
    losses = tr.loss_buf[: warmup + steps].detach().cpu().numpy()
    if not np.isfinite(losses).all():
        msg = f"non-finite losses in the benchmark ({path}, batch {batch})"
        raise RuntimeError(msg)
    return steps / dt


def bench_sampling(gan: GanSettings, device: torch.device, n: int) -> float:
    """Events per second of generator + decoding + validity checks (untrained seed generator)."""
    from ganlee.gan.sample import GanModel, sample_torch

    x = synthetic_events(20000, seed=2)
    pre = Preprocessor.fit(x, FEATURE_NAMES, window=(130.0, 170.0), rng=np.random.default_rng(1))
    g, _ = init_seeded(gan, len(FEATURE_NAMES), 1)
    model = GanModel(
        generator=g.to(device).eval(),
        preprocessor=pre,
        feature_names=FEATURE_NAMES,
        device=device,
        config=gan.to_dict(),
        sha="0" * 16,
        window=(130.0, 170.0),
        split={},
        history=[],
        seed=0,
        path=__import__("pathlib").Path("<bench>"),
        latent_dim=int(gan.latent_dim),
    )
    sample_torch(model, min(n, 10000), seed=0)
    _sync(device)
    t0 = time.perf_counter()
    sample_torch(model, n, seed=1)
    _sync(device)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--batches", type=int, nargs="+", default=[128, 1024])
    ap.add_argument(
        "--steps", type=int, default=None, help="timed steps (default: 200 on CUDA, 4 on CPU)"
    )
    ap.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="untimed steps first (default: 10 on CUDA, 1 on CPU)",
    )
    ap.add_argument("--sample-events", type=int, default=None, help="events for the sampling rate")
    args = ap.parse_args()

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    steps = args.steps or (200 if cuda else 4)
    warmup = args.warmup or (10 if cuda else 1)
    gan = Settings.from_config({}).gan  # the reference architecture and hyperparameters
    name = (
        torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    )
    print(
        f"# WGAN-GP training step, reference architecture, n_critic {gan.n_critic}, "
        f"device {name}, torch {torch.__version__}"
    )
    print(f"# {steps} timed steps after {warmup} warm-up steps")
    print(
        f"{'batch':>6} {'eager steps/s':>14} {'graph steps/s':>14} {'speed-up':>9} "
        f"{'graph+tf32':>11} {'speed-up':>9}"
    )
    for batch in args.batches:
        eager = bench_step(gan, device, "eager", batch, steps, warmup)
        if cuda:
            graph = bench_step(gan, device, "cuda_graph", batch, steps, warmup)
            g32 = bench_step(gan, device, "cuda_graph", batch, steps, warmup, tf32=True)
            print(
                f"{batch:>6} {eager:>14.1f} {graph:>14.1f} {graph / eager:>8.1f}x "
                f"{g32:>11.1f} {g32 / eager:>8.1f}x",
                flush=True,
            )
        else:
            print(
                f"{batch:>6} {eager:>14.2f} {'n/a':>14} {'n/a':>9} {'n/a':>11} {'n/a':>9}",
                flush=True,
            )
    n = args.sample_events or (2_000_000 if cuda else 100_000)
    rate = bench_sampling(gan, device, n)
    print(f"# sampling (generator + decoding + validity), {n} events: {rate:,.0f} events/s")


if __name__ == "__main__":
    main()
