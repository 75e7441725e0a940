"""GAN / flow training entry point: split, preprocessing, epochs, monitoring, checkpoints.

The WGAN step (WGAN-GP, arXiv:1704.00028, or weight clipping, arXiv:1701.07875, with an EMA of
the generator) is ``ganlee.gan.wgan.Trainer``; the normalising flow (``gan.kind: flow``) is
``ganlee.gan.flow.FlowTrainer``. Both run epochs of steps from per-epoch seeds
``derive_seed(seed, "gan_train", "epoch", e)``, so a run resumed from an epoch checkpoint repeats
the run that was not interrupted.

Divergence: training stops (``TrainingDivergedError``, exit 3 in the CLI) when a loss is NaN/inf
or its magnitude exceeds ``gan.divergence_threshold`` (an exploding critic: with the gradient
penalty the critic is about 1-Lipschitz on Gaussianised features, so |W| stays O(1-10)).

Monitoring (``ganlee.gan.monitor``): every ``gan.monitor_every`` epochs the sampled network is
scored on monitor events (``gan.monitor_fraction`` of the events, split off the training set);
the saved ``generator_state`` is the best-scoring one (docs/design.md,
"Generator (GAN and flow): preprocessing, training, fidelity").
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from ganlee.config import config_hash
from ganlee.device import resolve_device
from ganlee.errors import ConfigError, InputError
from ganlee.features import FEATURE_NAMES
from ganlee.gan.checkpoint import (
    CHECKPOINT_FORMAT,
    HISTORY_COLUMNS,
    READABLE_FORMATS,
    load_checkpoint,
    save_checkpoint,
    write_history,
)
from ganlee.gan.data import check_finite, data_fingerprint, split_indices, split_monitor
from ganlee.gan.models import init_seeded
from ganlee.gan.monitor import Monitor
from ganlee.gan.preprocess import Preprocessor
from ganlee.gan.wgan import Trainer, cpu_state, matmul_tf32, resolve_fast_path
from ganlee.io import features_fingerprint
from ganlee.progress import Progress
from ganlee.seeds import derive_seed, numpy_rng
from ganlee.settings import GanSettings, Settings

__all__ = [
    "CHECKPOINT_FORMAT",
    "HISTORY_COLUMNS",
    "READABLE_FORMATS",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "check_finite",
    "cpu_state",
    "data_fingerprint",
    "matmul_tf32",
    "resolve_fast_path",
    "split_indices",
    "split_monitor",
    "train",
    "write_history",
]

#: gan config keys that do not change the training trajectory: a checkpoint stays resumable.
_RESUME_NEUTRAL = (
    "epochs",
    "checkpoint_every",
    "fast_path",
    "validation_events",
    "fidelity",
    "require_fidelity",
)


class TrainingDivergedError(RuntimeError):
    """A loss became NaN/inf or exploded: training stopped, no model was written."""


@dataclass
class TrainResult:
    """What ``train`` did: the full history (resumed epochs included) and where it wrote."""

    history: list[dict[str, float]]
    epochs_done: int
    resumed_from: int
    steps_per_epoch: int
    fast_path: str
    device: str
    seconds: float
    model_path: Path | None


def _make_trainer(
    gan: GanSettings, dim: int, scaled: np.ndarray, seed: int, device: torch.device, fast: str
) -> Any:
    data = torch.from_numpy(scaled)
    if gan.kind == "flow":
        from ganlee.gan.flow import FlowTrainer, init_flow

        flow = init_flow(gan.flow, dim, derive_seed(seed, "gan_init"))
        return FlowTrainer(flow, data, gan.flow, device)
    G, D = init_seeded(gan, dim, derive_seed(seed, "gan_init"))
    return Trainer(G, D, data, gan, device, fast)


def _check_losses(
    losses: np.ndarray, cols: Sequence[int], epoch: int, gan: GanSettings, last: str
) -> None:
    """Raise ``TrainingDivergedError`` on a NaN/inf loss, or one beyond gan.divergence_threshold,
    in the loss columns ``cols`` the trainer fills."""
    limit = float(gan.divergence_threshold)
    used = losses[:, list(cols)]
    bad = ~np.isfinite(used)
    what = "non-finite loss" if bad.any() else f"|loss| > gan.divergence_threshold ({limit:g})"
    bad |= np.abs(np.nan_to_num(used, nan=0.0)) > limit
    if not bad.any():
        return
    step = int(np.argmax(bad.any(axis=1)))
    row = losses[step]
    msg = (
        f"gan_train diverged: {what} at epoch {epoch}, step {step + 1}/{len(losses)} (critic "
        f"{row[0]:.4g}, wasserstein {row[1]:.4g}, penalty {row[2]:.4g}, "
        f"generator/NLL {row[3]:.4g}). "
        f"Stopped; no model written (last checkpoint: {last}). Lower gan.lr (now {gan.lr:g}; "
        f"gan.flow.lr for flows) or change gan.gp_weight / gan.clip_value."
    )
    raise TrainingDivergedError(msg)


def _recalibrate(trainer: Any, monitor: Monitor | None, pre: Preprocessor, seed: int) -> None:
    """Fit the marginal recalibration (``quantile_mode.recalibrate``) on the weights saved."""
    import copy

    from ganlee.gan import quantile_mode

    net = trainer.sampler
    if monitor is not None and monitor.best_state is not None:
        net = copy.deepcopy(net)
        net.load_state_dict(monitor.best_state)
    quantile_mode.recalibrate(pre, net.eval(), int(trainer.latent_dim), seed)


@dataclass
class _Setup:
    """What ``train`` derives from the config and the input before the epochs."""

    x: np.ndarray
    names: tuple[str, ...]
    pre: Preprocessor
    train_idx: np.ndarray
    monitor_idx: np.ndarray
    hold_idx: np.ndarray
    window: tuple[float, float] | None
    fingerprint: str
    resume_key: str


def _setup(
    features: np.ndarray,
    settings: Settings,
    names: tuple[str, ...],
    window: tuple[float, float] | None,
    kinds: Mapping[str, str] | None,
    source: str,
) -> _Setup:
    gan, seed = settings.gan, int(settings.seed)
    x = check_finite(features, names, source)
    if window is None and "m_llg" in names:
        window = settings.mc.selection.window
    if gan.kind == "flow" and gan.preprocessing != "quantile":
        msg = "config key 'gan.preprocessing' must be 'quantile' for gan.kind 'flow'"
        raise ConfigError(msg)
    fingerprint = data_fingerprint(x)
    train_idx, hold_idx = split_indices(len(x), float(gan.holdout_fraction), seed)
    every = int(gan.monitor_every)
    frac = float(gan.monitor_fraction) if every > 0 else 0.0
    train_idx, monitor_idx = split_monitor(train_idx, frac, seed)
    try:
        pre = Preprocessor.fit(
            x[train_idx],
            names,
            mode=gan.preprocessing,
            window=window,
            kinds=kinds,
            rng=numpy_rng(seed, "gan_dequantise", "fit"),
            knots=int(gan.quantile_knots),
            derived=bool(gan.derived_features),
            smooth_window=gan.mllg_smoothing,
        )
    except ValueError as exc:
        raise InputError(f"{source}: {exc}") from exc
    resume_key = config_hash(
        {
            "format": CHECKPOINT_FORMAT,
            "seed": seed,
            "gan": {k: v for k, v in gan.to_dict().items() if k not in _RESUME_NEUTRAL},
            "names": names,
            "kinds": pre.kinds,
            "window": window,
            "data": fingerprint,
        }
    )
    return _Setup(x, names, pre, train_idx, monitor_idx, hold_idx, window, fingerprint, resume_key)


def train(
    features: np.ndarray,
    settings: Settings,
    *,
    model_path: str | Path | None = None,
    history_path: str | Path | None = None,
    checkpoint_path: str | Path | None = None,
    feature_names: Sequence[str] = FEATURE_NAMES,
    window: tuple[float, float] | None = None,
    kinds: Mapping[str, str] | None = None,
    source: str = "features",
    stream: TextIO | None = None,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train the generator of ``gan.kind`` on ``features`` (the hold-out is split off here).

    Arguments:
        features: events (n, d) in the order ``feature_names``; NaN/inf refused naming the column.
        settings: the configuration (``gan`` section, ``seed``, ``device``, and the m_llg window
            ``mc.selection`` used).
        model_path: final model, written atomically at the end only. Keys: format, kind, config
            (the gan section), seed, feature_names, latent_dim, generator_state (the best
            monitored EMA generator / flow), preprocessor, window, split, history, best,
            epochs_done, train_info; ``model_hash`` of the toys is the file's SHA-256.
        history_path: per-epoch losses and monitor metrics CSV (resumed epochs included).
        checkpoint_path: resumable state written every ``gan.checkpoint_every`` epochs; resumed
            when it exists and was made with the same trajectory-relevant config and input.
        window: m_llg analysis window; default ``mc.selection.m_llg_min/max`` (if m_llg is a
            feature).
        kinds: feature-kind overrides (see ``ganlee.gan.preprocess.feature_kinds``).
        callback: called as ``callback(epoch, history_row)`` after each epoch.

    Raises:
        InputError: non-finite or out-of-range features.
        ConfigError: inconsistent config (batch larger than the data, cuda_graph on CPU).
        TrainingDivergedError: a loss became NaN/inf or exploded (nothing written but earlier
            checkpoints).
    """
    t_start = time.perf_counter()
    stream = stream if stream is not None else sys.stderr
    gan, seed = settings.gan, int(settings.seed)
    su = _setup(features, settings, tuple(feature_names), window, kinds, source)
    device = resolve_device(settings.device)
    fast_path = resolve_fast_path(gan.fast_path, device) if gan.kind != "flow" else "eager"
    scaled = su.pre.encode(su.x[su.train_idx], numpy_rng(seed, "gan_dequantise"))
    trainer = _make_trainer(gan, su.pre.dim, scaled, seed, device, fast_path)
    monitor = (
        Monitor(su.x[su.monitor_idx], su.pre, trainer.latent_dim, derive_seed(seed, "gan_monitor"))
        if len(su.monitor_idx)
        else None
    )
    history: list[dict[str, float]] = []
    start = 0
    epochs = gan.n_epochs
    ck_path = Path(checkpoint_path) if checkpoint_path is not None else None
    ck = load_checkpoint(ck_path, su.resume_key, stream) if ck_path is not None else None
    if ck is not None and int(ck["epochs_done"]) > epochs:
        print(
            f"[gan_train] checkpoint '{ck_path}' is at epoch {ck['epochs_done']} > {epochs} "
            "epochs configured; starting afresh",
            file=stream,
        )
        ck = None
    if ck is not None:
        trainer.sampler.load_state_dict(ck["sampler_state"])
        trainer.load_full_state(ck["trainer_state"])
        if monitor is not None and ck.get("monitor") is not None:
            monitor.load(ck["monitor"])
        history = [dict(r) for r in ck["history"]]
        start = int(ck["epochs_done"])
        print(f"[gan_train] resuming from '{ck_path}' at epoch {start}", file=stream)

    steps = trainer.steps
    print(
        f"[gan_train] {source}: {len(su.x)} events, {len(su.train_idx)} for training, "
        f"{len(su.monitor_idx)} monitor, {len(su.hold_idx)} held out; kind {gan.kind}, "
        f"preprocessing {gan.preprocessing} ({su.pre.dim} generated columns), "
        f"{steps} steps/epoch, "
        f"epochs {start + 1}..{epochs}, device {device}, path {fast_path}",
        file=stream,
        flush=True,
    )
    sm = su.pre.smoothing
    if sm is not None:
        p = sm["pvalue"]
        print(
            f"[gan_train] smooth m_llg marginal: log-density spline, knots {sm['spacing_gev']:g} "
            f"GeV apart ({sm['n_coefficients']} coefficients); on the {sm['n_events']} training "
            f"events chi2/ndf {sm['chi2']:.1f}/{sm['ndf']}, p "
            + ("n/a" if p is None else f"{p:.3g}")
            + ("" if p is None or p >= 0.01 else " - TOO RIGID: lower gan.mllg_smoothing"),
            file=stream,
            flush=True,
        )

    def payload(full: bool) -> dict[str, Any]:
        best = monitor.best_state if monitor is not None else None
        out: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "kind": gan.kind,
            "config": gan.to_dict(),
            "seed": seed,
            "feature_names": list(su.names),
            "latent_dim": int(trainer.latent_dim),
            "generator_state": best if best is not None else cpu_state(trainer.sampler),
            "preprocessor": su.pre.state(),
            "window": None if su.window is None else list(su.window),
            "split": {
                "rule": "numpy_rng(seed, 'gan_split').permutation(n)[:round(holdout_fraction * n)]",
                "n_events": len(su.x),
                "holdout_fraction": float(gan.holdout_fraction),
                "holdout_indices": torch.from_numpy(su.hold_idx.astype(np.int64)),
                "monitor_indices": torch.from_numpy(su.monitor_idx.astype(np.int64)),
                "data_fingerprint": su.fingerprint,
                "features_fingerprint": features_fingerprint(su.x, su.names),
            },
            "history": [dict(r) for r in history],
            "best": None
            if monitor is None or best is None
            else {"epoch": monitor.best_epoch, **monitor.best_metrics},
            "epochs_done": len(history),
            "train_info": {"device": str(device), "fast_path": fast_path, "source": str(source)},
        }
        if full:
            out.update(
                sampler_state=cpu_state(trainer.sampler),
                trainer_state=trainer.full_state(),
                monitor=None if monitor is None else monitor.state(),
                resume_key=su.resume_key,
            )
        return out

    progress = Progress(
        "gan_train", total=epochs * steps, unit="step", stream=stream, start=start * steps
    )
    every = int(gan.checkpoint_every)
    mon_every = int(gan.monitor_every)
    for epoch in range(start + 1, epochs + 1):
        t0 = time.perf_counter()
        with matmul_tf32(bool(gan.tf32), device):
            losses = trainer.run_epoch(derive_seed(seed, "gan_train", "epoch", epoch), epoch)
        _check_losses(
            losses, trainer.loss_columns, epoch, gan, f"epoch {len(history)}" if history else "none"
        )
        row = {
            "epoch": float(epoch),
            "generator_steps": float(epoch * steps),
            "loss_critic": float(losses[:, 0].mean()),
            "loss_generator": float(losses[:, 3].mean()),
            "wasserstein": float(losses[:, 1].mean()),
            "gradient_penalty": float(losses[:, 2].mean()),
            "seconds": time.perf_counter() - t0,
        }
        extra = ""
        if monitor is not None and (epoch % mon_every == 0 or epoch == epochs):
            row.update(monitor.update(epoch, trainer.sampler))
            extra = (
                f" | monitor AUC {row['monitor_auc']:.3f} "
                f"W1(m_llg)/sd {row['monitor_w1_m_llg']:.3f}"
                f" (best epoch {monitor.best_epoch})"
            )
        history.append(row)
        progress.update(
            steps,
            f"epoch {epoch}/{epochs} critic {row['loss_critic']:.4g} "
            f"gen {row['loss_generator']:.4g} "
            f"W {row['wasserstein']:.4g}{extra}",
        )
        if ck_path is not None and (epoch % every == 0 or epoch == epochs):
            save_checkpoint(ck_path, payload(full=True))
        if callback is not None:
            callback(epoch, row)

    if (
        model_path is not None
        and gan.recalibrate
        and su.pre.mode == "quantile"
        and gan.kind != "flow"
    ):
        _recalibrate(trainer, monitor, su.pre, derive_seed(seed, "gan_recalibrate"))
        if ck_path is not None:  # the finished checkpoint samples like the model file
            save_checkpoint(ck_path, payload(full=True))
    if history_path is not None:
        write_history(history_path, history)
    if model_path is not None:
        save_checkpoint(model_path, payload(full=False))
        best = f", best monitored epoch {monitor.best_epoch}" if monitor is not None else ""
        print(
            f"[gan_train] wrote {model_path} ({len(history)} epochs{best})", file=stream, flush=True
        )
    return TrainResult(
        history=history,
        epochs_done=len(history),
        resumed_from=start,
        steps_per_epoch=steps,
        fast_path=fast_path,
        device=str(device),
        seconds=time.perf_counter() - t_start,
        model_path=None if model_path is None else Path(model_path),
    )
