"""Toy generators side by side on one features file: fidelity against hold-out MC, sampling rates.

For each ``--kinds`` entry (WGAN-GP, flow, ...) the generator is trained with the config's
``gan`` section (``--config``, default config/config.yaml, plus ``--set gan.key=value``
overrides, JSON values) and compared with its MC hold-out by

* an independent gradient-boosting classifier (sklearn ``HistGradientBoostingClassifier``,
  default settings): hold-out MC vs as many generated events, 50/50 train/test split, ROC AUC
  averaged over ``--splits`` random splits (each with a fresh generated sample), and the same
  for MC vs MC (two disjoint hold-out halves: the null);
* the generated/MC m_llg ratio in 4 GeV bins over the window (``--ratio-events`` generated
  events against the whole hold-out, errors from both samples' counts), edges included;

and its sampling rate (events/s, ``sample()`` of ``--rate-events`` events on this machine's CPU
or ``--device``). Prints one table; ``--json`` writes every number.

    python bench/bench_generators.py --features results/mc/features.root --kinds wgan_gp flow
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _set(cfg: dict[str, Any], assignment: str) -> None:
    key, _, value = assignment.partition("=")
    *heads, last = key.split(".")
    node = cfg
    for h in heads:
        node = node.setdefault(h, {})
    node[last] = json.loads(value)


def classifier_auc(a: np.ndarray, b: np.ndarray, seed: int) -> float:
    """ROC AUC of a default HistGradientBoostingClassifier, a vs b, on a 50/50 split."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    a, b = a[rng.permutation(len(a))[:n]], b[rng.permutation(len(b))[:n]]
    h = n // 2
    from ganlee.gan.metrics import one_thread

    clf = HistGradientBoostingClassifier(random_state=seed)
    with one_thread():
        clf.fit(np.concatenate([a[:h], b[:h]]), np.r_[np.zeros(h), np.ones(h)])
        score = clf.predict_proba(np.concatenate([a[h:], b[h:]]))[:, 1]
    return float(roc_auc_score(np.r_[np.zeros(n - h), np.ones(n - h)], score))


def evaluate(model: Any, hold: np.ndarray, splits: int, ratio_events: int, seed: int) -> dict:
    from ganlee.gan.fidelity import mllg_ratio
    from ganlee.gan.sample import sample

    aucs = [
        classifier_auc(hold, sample(model, len(hold), seed + 1000 + s), seed + s)
        for s in range(splits)
    ]
    col = list(model.feature_names).index("m_llg")
    big = sample(model, ratio_events, seed + 7)
    ratio = mllg_ratio(hold[:, col], big[:, col], model.window, 4.0)
    return {"auc": aucs, "auc_mean": float(np.mean(aucs)), "mllg": ratio}


def sampling_rate(model: Any, n: int) -> float:
    from ganlee.gan.sample import sample

    sample(model, min(n, 10_000), 1)  # warm-up
    t0 = time.perf_counter()
    sample(model, n, 2)
    return n / (time.perf_counter() - t0)


def main() -> None:
    import torch

    from ganlee.config import load_config
    from ganlee.gan.sample import load_model
    from ganlee.gan.train import train
    from ganlee.io import read_features

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--features", required=True)
    p.add_argument("--config", default="config/config.yaml")
    p.add_argument("--kinds", nargs="+", default=["wgan_gp", "flow"])
    p.add_argument("--set", action="append", default=[], help="gan.key=JSON value override")
    p.add_argument("--splits", type=int, default=3)
    p.add_argument("--ratio-events", type=int, default=200_000)
    p.add_argument("--rate-events", type=int, default=100_000)
    p.add_argument("--workdir", default="/tmp/bench_generators")
    p.add_argument("--json", default=None)
    p.add_argument("--verbose", action="store_true", help="training progress on stderr")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: robust on a loaded CPU)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    base = load_config(args.config)
    for a in args.set:
        _set(base, a)
    x = read_features(args.features)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    null = None
    for kind in args.kinds:
        cfg = copy.deepcopy(base)
        cfg["gan"]["kind"] = kind
        cfg["device"] = "cpu"
        path = work / f"{kind}.pt"
        log = sys.stderr if args.verbose else io.StringIO()
        t0, c0 = time.perf_counter(), time.process_time()
        train(x, cfg, model_path=path, stream=log)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        model = load_model(path)
        hold = x[np.asarray(model.split["holdout_indices"], dtype=np.int64)]
        if null is None:
            h = len(hold) // 2
            null = [classifier_auc(hold[:h], hold[h : 2 * h], s) for s in range(args.splits)]
        res = evaluate(model, hold, args.splits, args.ratio_events, int(cfg["seed"]))
        res.update(
            train_seconds=seconds,
            train_cpu_seconds=cpu,
            threads=torch.get_num_threads(),
            best=model.best,
            rate=sampling_rate(model, args.rate_events),
        )
        results[kind] = res
        dev = res["mllg"]["max_abs_deviation"]
        print(
            f"{kind:8s} train {seconds:6.1f} s wall, {cpu:6.1f} s CPU | AUC {res['auc_mean']:.3f} "
            f"({', '.join(f'{a:.3f}' for a in res['auc'])}) | m_llg ratio max |r-1| {dev:.3f}, "
            f"chi2/dof {res['mllg']['chi2']:.1f}/{res['mllg']['dof']} | best {model.best} | "
            f"{res['rate']:.3g} events/s",
            flush=True,
        )
        print(
            "   m_llg ratio per 4 GeV bin: "
            + " ".join(
                f"{r:.2f}+-{e:.2f}"
                for r, e in zip(res["mllg"]["ratio"], res["mllg"]["ratio_error"], strict=True)
            )
        )
    print(
        f"MC vs MC (hold-out halves) AUC: {np.mean(null):.3f} "
        f"({', '.join(f'{a:.3f}' for a in null)})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"null": null, **results}, indent=1, default=float))


if __name__ == "__main__":
    main()
