"""CLI subcommands of the GAN stage: ``gan-train`` and ``gan-validate`` (rules/gan.smk)."""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganlee.config import add_config_argument, add_observed_argument

if TYPE_CHECKING:
    from ganlee.settings import Settings

__all__ = ["read_history", "register", "run_validation"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gan-train",
        help="train the WGAN on the MC features (rule gan_train)",
        description="Train the WGAN-GP / WGAN-clip on the MC features; resumes from --checkpoint.",
    )
    add_config_argument(p)
    p.add_argument(
        "--features", required=True, help="features ROOT file (results/mc/features.root)"
    )
    p.add_argument("--model", required=True, help="output model (results/gan/model.pt), at the end")
    p.add_argument("--history", required=True, help="output per-epoch losses CSV")
    p.add_argument(
        "--checkpoint", default=None, help="resumable checkpoint (resumed if it matches)"
    )
    p.set_defaults(func=gan_train)

    v = sub.add_parser(
        "gan-validate",
        help="compare GAN events with the held-out MC (rule gan_validate)",
        description=(
            "Metrics (W1, KS, correlations, classifier AUC, FPD, KPD), the fidelity gate at the "
            "toy size and plots, against the MC hold-out."
        ),
    )
    add_config_argument(v)
    v.add_argument("--features", required=True, help="features ROOT file the model was trained on")
    v.add_argument("--model", required=True, help="model file (results/gan/model.pt)")
    v.add_argument(
        "--history", required=True, help="history CSV of the training (for the loss plot)"
    )
    v.add_argument("--out", required=True, help="output metrics JSON (results/gan/validation.json)")
    v.add_argument("--plots", required=True, help="output plot directory (results/gan/plots)")
    v.add_argument(
        "--no-feature-plots", action="store_true", help="only the overview page of features"
    )
    add_observed_argument(v)
    v.set_defaults(func=gan_validate)


def gan_train(args: argparse.Namespace) -> int:
    from ganlee.gan.train import TrainingDivergedError, train
    from ganlee.io import read_features
    from ganlee.settings import load_settings

    settings = load_settings(args.config)
    x = read_features(args.features)
    try:
        train(
            x,
            settings,
            model_path=args.model,
            history_path=args.history,
            checkpoint_path=args.checkpoint,
            source=f"features file '{args.features}'",
        )
    except TrainingDivergedError as exc:
        print(f"ganlee gan-train: error: {exc}", file=sys.stderr)
        return 3
    return 0


def read_history(path: str | Path) -> list[dict[str, float]]:
    """The per-epoch history CSV written by ``gan-train`` as a list of float rows (the monitor
    columns only on the monitored epochs)."""
    from ganlee.gan.monitor import MONITOR_COLUMNS
    from ganlee.gan.train import HISTORY_COLUMNS
    from ganlee.io import InputError

    p = Path(path)
    if not p.is_file():
        msg = f"history file '{p}' does not exist"
        raise InputError(msg)
    with open(p, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in HISTORY_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            msg = f"history file '{p}' lacks column(s) {missing}"
            raise InputError(msg)
        rows = []
        try:
            for r in reader:
                row = {k: float(r[k]) for k in HISTORY_COLUMNS}
                mon = {k: float(r[k]) for k in MONITOR_COLUMNS if r.get(k) not in (None, "")}
                if mon and all(math.isfinite(v) for v in mon.values()):
                    row.update(mon)
                rows.append(row)
        except (TypeError, ValueError) as exc:
            msg = f"history file '{p}' has a non-numeric entry: {exc}"
            raise InputError(msg) from exc
    return rows


def run_validation(
    features: Any,
    model: Any,
    settings: Settings,
    out: str | Path,
    plots: str | Path | None,
    history: list[dict[str, float]] | None = None,
    observed: str | Path | None = None,
    features_source: str = "features",
    feature_plots: bool = True,
) -> dict[str, Any]:
    """Compare ``model`` with its MC hold-out (rows of ``features`` stored in the model), the
    fidelity gate at the toy size (``Settings.toy_sizes_from``: the ``observed`` dataset's size
    when the toy sizes are null).

    Writes the plots (into a temporary directory renamed to ``plots`` when complete) and then
    ``out`` (JSON), both atomically; returns the metrics.
    """
    import numpy as np

    from ganlee.gan.fidelity import fidelity_gate
    from ganlee.gan.metrics import evaluate
    from ganlee.gan.plots import plot_correlations, plot_features, plot_losses, plot_monitor
    from ganlee.gan.sample import sample
    from ganlee.gan.train import data_fingerprint
    from ganlee.io import InputError, write_json
    from ganlee.seeds import derive_seed, numpy_rng

    x = np.asarray(features, dtype=np.float64)
    split = model.split
    if len(x) != int(split["n_events"]) or data_fingerprint(x) != split["data_fingerprint"]:
        msg = (
            f"{features_source} ({len(x)} events, fingerprint {data_fingerprint(x)}) is not the "
            "input the "
            f"model '{model.path}' was trained on ({split['n_events']} events, fingerprint "
            f"{split['data_fingerprint']}): rerun gan_train"
        )
        raise InputError(msg)
    hold = np.asarray(split["holdout_indices"], dtype=np.int64)
    seed = int(settings.seed)
    n_req = settings.gan.validation_events
    n_val = len(hold) if n_req is None else min(int(n_req), len(hold))
    if n_val < len(hold):
        hold = np.sort(numpy_rng(seed, "gan_validate", "subset").permutation(hold)[:n_val])
    mc = x[hold]
    gan = sample(model, n_val, derive_seed(seed, "gan_validate", "sample"))
    stats = model.last_stats
    print(
        f"[gan_validate] {n_val} hold-out MC events vs {n_val} GAN events; invalid (resampled) "
        f"{stats.invalid_fraction:.4%}, repaired {stats.repaired_fraction:.4%}",
        file=sys.stderr,
        flush=True,
    )
    names = list(model.feature_names)
    metrics = evaluate(mc, gan, names, derive_seed(seed, "gan_validate", "metrics"))
    gate = fidelity_gate(
        mc,
        gan,
        names,
        settings.toy_sizes_from(observed=observed, n_mc=int(split["n_events"])).sample1,
        settings.gan.fidelity,
        model.window,
        derive_seed(seed, "gan_validate", "fidelity"),
    )
    result: dict[str, Any] = {
        "model": {
            "path": str(model.path),
            "sha": model.sha,
            "kind": model.config.get("kind"),
            "epochs": len(model.history),
            "preprocessing": model.preprocessor.mode,
            "mllg_smoothing": model.preprocessor.smoothing,
            "window": model.window,
        },
        "features": features_source,
        "feature_names": names,
        "holdout_fraction": float(split["holdout_fraction"]),
        "sampling": stats.as_dict(),
        "invalid_fraction": stats.invalid_fraction,
        "fidelity": gate,
        "best": model.best,
        **metrics,
    }
    if plots is not None:
        final = Path(plots)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        try:
            kinds = list(model.preprocessor.kinds)
            plot_features(mc, gan, names, kinds, tmp, model.window, per_feature=feature_plots)
            c = metrics["correlation"]
            plot_correlations(
                np.array(c["mc"]), np.array(c["gan"]), names, tmp / "correlations.png"
            )
            hist_rows = history if history is not None else model.history
            if hist_rows:
                plot_losses(hist_rows, tmp / "losses.png")
                plot_monitor(hist_rows, tmp / "monitor.png", model.best)
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
    write_json(out, result)
    pf = metrics["per_feature"]
    worst = max(pf, key=lambda k: pf[k]["ks"])
    print(
        f"[gan_validate] AUC {metrics['classifier']['auc']:.4f} | "
        f"FPD {metrics['fpd']['value']:.4g} "
        f"(inf {metrics['fpd']['inf_value']:.4g} +- {metrics['fpd']['inf_error']:.2g}) | KPD "
        f"{metrics['kpd']['value']:.3g} | mean W1/std {metrics['w1_over_std_mean']:.4f} | max KS "
        f"{metrics['ks_max']:.4f} ({worst}) | corr max|diff| "
        f"{metrics['correlation']['max_abs_diff']:.3f}",
        file=sys.stderr,
        flush=True,
    )
    return result


def gan_validate(args: argparse.Namespace) -> int:
    from ganlee.device import resolve_device
    from ganlee.gan.sample import load_model
    from ganlee.io import read_features
    from ganlee.settings import load_settings

    settings = load_settings(args.config)
    model = load_model(args.model, device=resolve_device(settings.device))
    x = read_features(args.features, names=model.feature_names)
    history = read_history(args.history)
    result = run_validation(
        x,
        model,
        settings,
        args.out,
        args.plots,
        history=history,
        features_source=f"features file '{args.features}'",
        feature_plots=not args.no_feature_plots,
        observed=settings.observed_dataset(args.observed, args.features),
    )
    gate = result["fidelity"]
    if gate["passed"]:
        print(f"[gan_validate] fidelity gate: {gate['message']}", file=sys.stderr, flush=True)
        return 0
    if settings.gan.require_fidelity:
        print(
            f"ganlee gan-validate: error: {gate['message']} (model '{args.model}'; "
            "gan.require_fidelity is true: the toys would not be trustworthy)",
            file=sys.stderr,
        )
        return 3
    print(
        f"[gan_validate] WARNING: {gate['message']} (model '{args.model}'); the toys run anyway "
        "(set gan.require_fidelity: true to stop here)",
        file=sys.stderr,
        flush=True,
    )
    return 0
