"""Sampling rates of every toy generator through ``ganlee.gan.sample.sample``, in one run.

Generators (weights untrained: the rate does not depend on them) built from the config's ``gan``
sections: the WGAN-GP generator at the embedded (config/config.yaml) and reference
(config/cluster.yaml) sizes, the coupling neural spline flow of ``gan.flow`` (two parallel
passes per transform), and, for comparison, the same flow made autoregressive (one pass per
feature, as zuko's default NSF). Each is wrapped with a quantile preprocessor fitted on
stand-in events, so the rate includes decoding and the validity check. Prints events/s and the
ratio to the embedded WGAN; on CUDA (``--device cuda``) the same.

    python bench/bench_sampling.py                 # CPU, torch threads as set by --threads
    python bench/bench_sampling.py --device cuda --events 1000000
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic import synthetic_events  # test data, in tests/

from ganlee.config import load_config
from ganlee.features import FEATURE_NAMES
from ganlee.gan.flow import build_flow
from ganlee.gan.models import build_generator
from ganlee.gan.preprocess import Preprocessor
from ganlee.gan.sample import GanModel, sample


def _model(
    net: torch.nn.Module, pre: Preprocessor, cfg: dict[str, Any], latent: int, dev: str
) -> GanModel:
    return GanModel(
        generator=net.to(dev).eval(),
        preprocessor=pre,
        feature_names=FEATURE_NAMES,
        device=torch.device(dev),
        config=cfg,
        sha="bench",
        window=(130.0, 170.0),
        split={},
        history=[],
        seed=0,
        path=Path("<bench>"),
        latent_dim=latent,
    )


def rate(model: GanModel, n: int, repeats: int) -> float:
    sample(model, min(n, 20_000), 1)  # warm-up
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    best = 0.0
    for r in range(repeats):
        t0 = time.perf_counter()
        sample(model, n, 2 + r)
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    emb = load_config("config/config.yaml")["gan"]
    ref = copy.deepcopy(emb)
    cluster = load_config("config/cluster.yaml")["gan"]
    ref.update({k: cluster[k] for k in ("generator_layers", "critic_layers")})
    x = synthetic_events(20000, seed=1)
    pre = Preprocessor.fit(x, FEATURE_NAMES, mode="quantile", window=(130.0, 170.0), derived=True)
    ar = copy.deepcopy(emb)
    rows = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        nets = [
            (
                f"WGAN generator {emb['generator_layers']} (embedded)",
                build_generator(emb, pre.dim),
                emb["latent_dim"],
            ),
            (
                f"WGAN generator {ref['generator_layers']} (reference)",
                build_generator(ref, pre.dim),
                ref["latent_dim"],
            ),
            (
                f"coupling NSF, {emb['flow']['transforms']} transforms (gan.flow)",
                build_flow(emb, pre.dim),
                pre.dim,
            ),
        ]
        import zuko

        f = ar["flow"]
        auto = zuko.flows.NSF(
            pre.dim,
            0,
            bins=f["bins"],
            transforms=f["transforms"],
            hidden_features=f["hidden_features"],
        )
        from ganlee.gan.flow import FlowSampler

        nets.append(("autoregressive NSF, same size (comparison)", FlowSampler(auto), pre.dim))
    print(
        f"# sampling {args.events} events (best of {args.repeats}), device {args.device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    for name, net, latent in nets:
        n = args.events if "autoregressive" not in name else max(args.events // 20, 5000)
        rows.append((name, rate(_model(net, pre, emb, latent, args.device), n, args.repeats)))
    base = rows[0][1]
    for name, r in rows:
        print(f"{name:55s} {r:12.4g} events/s  x{r / base:.3g}")


if __name__ == "__main__":
    main()
