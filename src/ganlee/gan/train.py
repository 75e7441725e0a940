"""WGAN training: WGAN-GP (arXiv:1704.00028) or weight clipping (arXiv:1701.07875), resumable.

One *training step* is ``n_critic`` critic updates (each on a fresh real batch) followed by one
generator update; an epoch is ``n_train // (batch_size * n_critic)`` steps, so each real event is
seen once per epoch. Losses (arXiv:1704.00028, Algorithm 1)::

    L_critic = D(fake) - D(real) + lambda * (||grad_xhat D(xhat)||_2 - 1)^2,
               xhat = eps * real + (1 - eps) * fake,  eps ~ U[0, 1]  (one eps per event)
    L_gen    = -D(G(z)),  z ~ N(0, 1)

(for ``wgan_clip``: no penalty, critic weights clamped to [-c, c] after each critic update).

All random numbers of an epoch (the batch permutation, latent vectors, interpolation weights) are
drawn up front from a generator seeded with ``derive_seed(seed, "gan_train", "epoch", e)`` into
static buffers; the step reads them by a step counter kept on the device. The same step function
therefore runs eagerly or captured once in a CUDA graph and replayed (the fast path, default on
CUDA), with the same updates, and a run resumed from an epoch checkpoint repeats exactly the run
that was not interrupted.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from torch import nn

from ganlee.config import ConfigError, config_hash, validate
from ganlee.device import resolve_device
from ganlee.features import FEATURE_NAMES
from ganlee.gan.models import init_seeded
from ganlee.gan.preprocess import Preprocessor
from ganlee.io import InputError, atomic_path, features_fingerprint
from ganlee.progress import Progress
from ganlee.seeds import derive_seed, numpy_rng

__all__ = [
    "CHECKPOINT_FORMAT",
    "HISTORY_COLUMNS",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "check_finite",
    "data_fingerprint",
    "matmul_tf32",
    "resolve_fast_path",
    "split_indices",
    "train",
    "write_history",
]

CHECKPOINT_FORMAT = "ganlee-gan-v1"
HISTORY_COLUMNS = (
    "epoch",
    "generator_steps",
    "loss_critic",
    "loss_generator",
    "wasserstein",
    "gradient_penalty",
    "seconds",
)
#: gan config keys that do not change the training trajectory: a checkpoint stays resumable.
_RESUME_NEUTRAL = ("epochs", "checkpoint_every", "fast_path", "validation_events")


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite: training stopped, no model was written."""


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


def check_finite(x: np.ndarray, names: Sequence[str], source: str = "features") -> np.ndarray:
    """``x`` as float64 (n, len(names)); refuses NaN/inf naming the column, first row and count."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != len(names):
        msg = f"{source}: expected an array (n, {len(names)}) ordered {list(names)}, got {arr.shape}"
        raise InputError(msg)
    if arr.shape[0] == 0:
        msg = f"{source}: no events"
        raise InputError(msg)
    bad = ~np.isfinite(arr)
    if bad.any():
        col = int(np.argmax(bad.any(axis=0)))
        row = int(np.argmax(bad[:, col]))
        msg = (
            f"{source}: feature column '{names[col]}' (index {col}) has {int(bad[:, col].sum())} "
            f"non-finite value(s) (NaN/inf), first at row {row}"
        )
        raise InputError(msg)
    return arr


def data_fingerprint(x: np.ndarray) -> str:
    """16-hex SHA-256 of the float64 events: ties a model (and its hold-out) to its input."""
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    h = hashlib.sha256(str(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()[:16]


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic sorted (train, hold-out) row indices; the hold-out is drawn from
    ``derive_seed(seed, "gan_split")``."""
    n_hold = round(fraction * n)
    n_hold = min(max(n_hold, 1), n - 1) if n > 1 else 0
    perm = numpy_rng(seed, "gan_split").permutation(n)
    return np.sort(perm[n_hold:]), np.sort(perm[:n_hold])


def resolve_fast_path(name: str, device: torch.device) -> str:
    """``auto`` -> ``cuda_graph`` on CUDA, ``eager`` elsewhere; ``cuda_graph`` off CUDA is an error."""
    if name == "auto":
        return "cuda_graph" if device.type == "cuda" else "eager"
    if name == "cuda_graph" and device.type != "cuda":
        msg = f"config key 'gan.fast_path' is 'cuda_graph' but the device is '{device}' (use auto or eager)"
        raise ConfigError(msg)
    return name


def _make_optimizer(
    params: Sequence[nn.Parameter], gan: Mapping[str, Any], device: torch.device
) -> torch.optim.Adam:
    kw: dict[str, Any] = {"lr": float(gan["lr"]), "betas": tuple(float(b) for b in gan["betas"])}
    if device.type == "cuda":  # capturable: step counters on the device (needed by CUDA graphs)
        kw.update(capturable=True, fused=True)
    return torch.optim.Adam(params, **kw)


@contextlib.contextmanager
def matmul_tf32(enabled: bool, device: torch.device) -> Iterator[None]:
    """Allow TF32 matmuls on CUDA inside the block (config key ``gan.tf32``), then restore."""
    if not enabled or device.type != "cuda":
        yield
        return
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


def _load_optimizer(opt: torch.optim.Optimizer, state: Mapping[str, Any]) -> None:
    """Load a saved optimizer state, keeping this device's implementation flags (a checkpoint
    written on a GPU, with capturable/fused Adam, resumes on a CPU and vice versa)."""
    state = dict(state)
    flags = ("capturable", "fused", "foreach", "differentiable")
    current = opt.param_groups
    groups = []
    for saved, cur in zip(state["param_groups"], current, strict=True):
        groups.append({**saved, **{k: cur[k] for k in flags if k in cur}})
    state["param_groups"] = groups
    opt.load_state_dict(state)


_Snapshot = tuple[list[torch.Tensor], dict[int, dict[str, torch.Tensor]]]


def _snapshot(module: nn.Module, opt: torch.optim.Optimizer) -> _Snapshot:
    params = [p.detach().clone() for p in module.parameters()]
    state = {
        i: {k: v.detach().clone() for k, v in opt.state[p].items() if isinstance(v, torch.Tensor)}
        for i, p in enumerate(module.parameters())
        if p in opt.state
    }
    return params, state


def _restore(module: nn.Module, opt: torch.optim.Optimizer, snap: _Snapshot) -> None:
    """Copy a snapshot back *in place* (a captured CUDA graph keeps pointing at the same memory)."""
    params, state = snap
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            p.copy_(params[i])
            for k, v in opt.state.get(p, {}).items():
                if isinstance(v, torch.Tensor):
                    if i in state and k in state[i]:
                        v.copy_(state[i][k])
                    else:
                        v.zero_()


class Trainer:
    """The WGAN training step over device-resident data, run eagerly or as a replayed CUDA graph.

    Arguments:
        generator, critic: the networks (moved to ``device``).
        data: scaled training events (n, d), float32.
        gan: the ``gan`` config section.
        device: torch device.
        fast_path: ``eager`` or ``cuda_graph``.

    References:
        arXiv:1704.00028 (WGAN-GP), arXiv:1701.07875 (WGAN, weight clipping).
    """

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        data: torch.Tensor,
        gan: Mapping[str, Any],
        device: torch.device,
        fast_path: str = "eager",
    ) -> None:
        self.device = device
        self.G = generator.to(device)
        self.D = critic.to(device)
        self.kind = gan["kind"]
        self.B = int(gan["batch_size"])
        self.k = int(gan["n_critic"])
        self.latent = int(gan["latent_dim"])
        self.gp_weight = float(gan["gp_weight"])
        self.clip = float(gan["clip_value"])
        self.data = data.to(device=device, dtype=torch.float32).contiguous()
        n = len(self.data)
        self.steps = n // (self.B * self.k)
        if self.steps < 1:
            msg = (
                f"config keys gan.batch_size ({self.B}) x gan.n_critic ({self.k}) = {self.B * self.k} "
                f"events per generator step, but the training split has only {n} events: lower them"
            )
            raise ConfigError(msg)
        self.opt_g = _make_optimizer(list(self.G.parameters()), gan, device)
        self.opt_d = _make_optimizer(list(self.D.parameters()), gan, device)
        s, k, B = self.steps, self.k, self.B
        self.perm_buf = torch.zeros((s, k, B), dtype=torch.long, device=device)
        self.noise_buf = torch.zeros((s, k + 1, B, self.latent), device=device)
        self.eps_buf = torch.zeros((s, k, B, 1), device=device)
        self.step_ptr = torch.zeros(1, dtype=torch.long, device=device)
        self.loss_buf = torch.zeros((s, 4), device=device)
        self._sign = torch.cat([torch.full((B,), 1.0 / B), torch.full((B,), -1.0 / B)]).to(device)
        self._zero = torch.zeros((), device=device)
        self.fast_path = fast_path
        self.graph: torch.cuda.CUDAGraph | None = None

    # ---------------------------------------------------------------- the step
    def _critic_update(self, x: torch.Tensor) -> torch.Tensor:
        """One critic update on ``x`` = [real; fake; interpolates] (3B rows; 2B for wgan_clip)."""
        B = self.B
        if self.kind == "wgan_gp":
            x = x.detach().requires_grad_(True)
            out = self.D(x).view(-1)
            # Rows are independent, so d(sum of the interpolate outputs)/dx is the per-event
            # critic gradient at the interpolates (zero on the other rows).
            (grad,) = torch.autograd.grad(out[2 * B :].sum(), x, create_graph=True)
            gp = (torch.linalg.vector_norm(grad[2 * B :], dim=1) - 1).square().mean()
        else:
            out = self.D(x).view(-1)
            gp = self._zero
        w = torch.dot(out[: 2 * B], self._sign)  # mean D(real) - mean D(fake)
        loss = gp * self.gp_weight - w
        self.opt_d.zero_grad(set_to_none=False)
        loss.backward()
        self.opt_d.step()
        if self.kind == "wgan_clip":
            with torch.no_grad():
                params = list(self.D.parameters())
                torch._foreach_clamp_min_(params, -self.clip)
                torch._foreach_clamp_max_(params, self.clip)
        return torch.stack([loss.detach(), w.detach(), gp.detach()])

    def _step(self) -> None:
        """One training step (k critic updates + 1 generator update); reads buffers at ``step_ptr``.

        The k fake batches and interpolates are computed up front in one generator pass: the
        generator does not change during the critic updates, so this is the same computation
        with fewer, larger kernels.
        """
        ptr, k, B = self.step_ptr, self.k, self.B
        idx = self.perm_buf.index_select(0, ptr).view(k * B)
        z_all = self.noise_buf.index_select(0, ptr)[0]
        real = self.data.index_select(0, idx).view(k, B, -1)
        with torch.no_grad():
            fake = self.G(z_all[:k].reshape(k * B, -1)).view(k, B, -1)
            if self.kind == "wgan_gp":
                eps = self.eps_buf.index_select(0, ptr)[0]
                x_all = torch.cat([real, fake, torch.lerp(fake, real, eps)], dim=1)
            else:
                x_all = torch.cat([real, fake], dim=1)
        stats = [self._critic_update(x_all[j]) for j in range(k)]
        loss_g = -self.D(self.G(z_all[k])).mean()
        self.opt_g.zero_grad(set_to_none=False)
        loss_g.backward(inputs=list(self.G.parameters()))
        self.opt_g.step()
        row = torch.cat([torch.stack(stats).mean(0), loss_g.detach().view(1)])
        self.loss_buf.index_copy_(0, ptr, row.view(1, 4))
        ptr.add_(1)

    def _capture(self) -> None:
        """Warm up on a side stream, restore the exact pre-warm-up state, capture one step."""
        snap_g, snap_d = _snapshot(self.G, self.opt_g), _snapshot(self.D, self.opt_d)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self.step_ptr.zero_()
                self._step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        _restore(self.G, self.opt_g, snap_g)
        _restore(self.D, self.opt_d, snap_d)
        self.step_ptr.zero_()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._step()
        self.graph = graph
        torch.cuda.synchronize(self.device)

    # ---------------------------------------------------------------- an epoch
    def fill_epoch(self, seed: int) -> None:
        """Draw the permutation, latent vectors and interpolation weights of one epoch."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(seed))
        perm = torch.randperm(len(self.data), generator=gen, device=self.device)
        self.perm_buf.copy_(perm[: self.perm_buf.numel()].view_as(self.perm_buf))
        self.noise_buf.copy_(torch.randn(self.noise_buf.shape, generator=gen, device=self.device))
        self.eps_buf.copy_(torch.rand(self.eps_buf.shape, generator=gen, device=self.device))
        self.step_ptr.zero_()

    def run_steps(self, n: int) -> None:
        """Run ``n`` steps from the current step counter (no host synchronisation)."""
        if self.fast_path == "cuda_graph" and self.graph is None:
            self._capture()
        for _ in range(n):
            if self.graph is not None:
                self.graph.replay()
            else:
                self._step()

    def run_epoch(self, seed: int) -> np.ndarray:
        """All steps of one epoch; returns the per-step losses (steps, 4) on the host."""
        self.fill_epoch(seed)
        self.run_steps(self.steps)
        return self.loss_buf.detach().cpu().numpy().astype(np.float64)


# -------------------------------------------------------------------- checkpoints and history
def write_history(path: str | Path, history: Sequence[Mapping[str, float]]) -> None:
    """Atomically write the per-epoch history CSV (columns ``HISTORY_COLUMNS``)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=HISTORY_COLUMNS)
        w.writeheader()
        for row in history:
            w.writerow({k: row[k] for k in HISTORY_COLUMNS})


def _save(path: str | Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _cpu_state(obj: nn.Module | torch.optim.Optimizer) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.detach().cpu().clone()
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return conv(obj.state_dict())


def _load_checkpoint(path: Path, key: str, stream: TextIO) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        print(f"[gan_train] checkpoint '{path}' is unreadable ({exc}); starting afresh", file=stream)
        return None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT or "critic_state" not in ck:
        print(f"[gan_train] '{path}' is not a ganlee training checkpoint; starting afresh", file=stream)
        return None
    if ck.get("resume_key") != key:
        print(
            f"[gan_train] checkpoint '{path}' was made with another config or input "
            f"(key {ck.get('resume_key')} != {key}); starting afresh",
            file=stream,
        )
        return None
    return ck


# -------------------------------------------------------------------- the training entry point
def train(
    features: np.ndarray,
    cfg: Mapping[str, Any],
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
    """Train the WGAN on ``features`` (all MC events; the hold-out is split off here).

    Arguments:
        features: events (n, d) in the order ``feature_names``; NaN/inf refused naming the column.
        cfg: full ganlee config (validated here; ``gan`` section, ``seed``, ``device`` used).
        model_path: final model (weights, preprocessing, names, config, split), written atomically
            at the end only.
        history_path: per-epoch losses CSV (written at the end, with the resumed epochs).
        checkpoint_path: resumable state written every ``gan.checkpoint_every`` epochs; resumed
            when it exists and was made with the same trajectory-relevant config and input.
        window: m_llg analysis window; default ``mc.selection.m_llg_min/max`` when m_llg is a feature.
        kinds: feature-kind overrides (see ``ganlee.gan.preprocess.feature_kinds``).
        callback: called as ``callback(epoch, history_row)`` after each epoch.

    Raises:
        InputError: non-finite or out-of-range features.
        ConfigError: inconsistent config (batch larger than the data, cuda_graph on CPU).
        TrainingDivergedError: a loss became NaN/inf (nothing is written but earlier checkpoints).
    """
    t_start = time.perf_counter()
    stream = stream if stream is not None else sys.stderr
    cfg = validate(dict(cfg), "config")
    gan = cfg["gan"]
    seed = int(cfg["seed"])
    names = tuple(feature_names)
    x = check_finite(features, names, source)
    if window is None and "m_llg" in names:
        sel = cfg["mc"]["selection"]
        window = (float(sel["m_llg_min"]), float(sel["m_llg_max"]))
    device = resolve_device(cfg["device"])
    fast_path = resolve_fast_path(gan["fast_path"], device)

    fingerprint = data_fingerprint(x)
    train_idx, hold_idx = split_indices(len(x), float(gan["holdout_fraction"]), seed)
    try:
        pre = Preprocessor.fit(
            x[train_idx],
            names,
            mode=gan["preprocessing"],
            window=window,
            kinds=kinds,
            rng=numpy_rng(seed, "gan_dequantise", "fit"),
        )
    except ValueError as exc:
        raise InputError(f"{source}: {exc}") from exc
    scaled = pre.encode(x[train_idx], numpy_rng(seed, "gan_dequantise"))
    resume_key = config_hash(
        {
            "format": CHECKPOINT_FORMAT,
            "seed": seed,
            "gan": {k: v for k, v in gan.items() if k not in _RESUME_NEUTRAL},
            "names": names,
            "kinds": pre.kinds,
            "window": window,
            "data": fingerprint,
        }
    )

    G, D = init_seeded(gan, len(names), derive_seed(seed, "gan_init"))
    trainer = Trainer(G, D, torch.from_numpy(scaled), gan, device, fast_path)
    history: list[dict[str, float]] = []
    start = 0
    ck_path = Path(checkpoint_path) if checkpoint_path is not None else None
    ck = _load_checkpoint(ck_path, resume_key, stream) if ck_path is not None else None
    if ck is not None and int(ck["epochs_done"]) > int(gan["epochs"]):
        print(
            f"[gan_train] checkpoint '{ck_path}' is at epoch {ck['epochs_done']} > gan.epochs "
            f"{gan['epochs']}; starting afresh",
            file=stream,
        )
        ck = None
    if ck is not None:
        G.load_state_dict(ck["generator_state"])
        D.load_state_dict(ck["critic_state"])
        _load_optimizer(trainer.opt_g, ck["opt_g_state"])
        _load_optimizer(trainer.opt_d, ck["opt_d_state"])
        history = [dict(r) for r in ck["history"]]
        start = int(ck["epochs_done"])
        print(f"[gan_train] resuming from '{ck_path}' at epoch {start}", file=stream)

    epochs = int(gan["epochs"])
    steps = trainer.steps
    print(
        f"[gan_train] {source}: {len(x)} events, {len(train_idx)} for training, {len(hold_idx)} held "
        f"out; kind {gan['kind']}, {steps} generator steps/epoch (batch {trainer.B}, n_critic "
        f"{trainer.k}), epochs {start + 1}..{epochs}, device {device}, path {fast_path}",
        file=stream,
        flush=True,
    )

    def payload(full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": CHECKPOINT_FORMAT,
            "kind": gan["kind"],
            "config": dict(gan),
            "seed": seed,
            "feature_names": list(names),
            "generator_state": _cpu_state(G),
            "preprocessor": pre.state(),
            "window": None if window is None else list(window),
            "split": {
                "rule": "numpy_rng(seed, 'gan_split').permutation(n)[:round(holdout_fraction * n)]",
                "n_events": len(x),
                "holdout_fraction": float(gan["holdout_fraction"]),
                "holdout_indices": torch.from_numpy(hold_idx.astype(np.int64)),
                "data_fingerprint": fingerprint,
                "features_fingerprint": features_fingerprint(x, names),
            },
            "history": [dict(r) for r in history],
            "epochs_done": len(history),
            "train_info": {"device": str(device), "fast_path": fast_path, "source": str(source)},
        }
        if full:
            out.update(
                critic_state=_cpu_state(D),
                opt_g_state=_cpu_state(trainer.opt_g),
                opt_d_state=_cpu_state(trainer.opt_d),
                resume_key=resume_key,
            )
        return out

    progress = Progress(
        "gan_train", total=epochs * steps, unit="step", stream=stream, start=start * steps
    )
    every = int(gan["checkpoint_every"])
    for epoch in range(start + 1, epochs + 1):
        t0 = time.perf_counter()
        with matmul_tf32(bool(gan["tf32"]), device):
            losses = trainer.run_epoch(derive_seed(seed, "gan_train", "epoch", epoch))
        bad = ~np.isfinite(losses)
        if bad.any():
            step = int(np.argmax(bad.any(axis=1)))
            last = f"epoch {len(history)}" if history else "none"
            msg = (
                f"gan_train diverged: non-finite loss at epoch {epoch}, step {step + 1}/{steps} "
                f"(critic {losses[step, 0]:.4g}, wasserstein {losses[step, 1]:.4g}, penalty "
                f"{losses[step, 2]:.4g}, generator {losses[step, 3]:.4g}). Stopped; no model written "
                f"(last checkpoint: {last}). Lower gan.lr (now {gan['lr']:g}) or change "
                f"gan.gp_weight / gan.clip_value."
            )
            raise TrainingDivergedError(msg)
        row = {
            "epoch": float(epoch),
            "generator_steps": float(epoch * steps),
            "loss_critic": float(losses[:, 0].mean()),
            "loss_generator": float(losses[:, 3].mean()),
            "wasserstein": float(losses[:, 1].mean()),
            "gradient_penalty": float(losses[:, 2].mean()),
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        progress.update(
            steps,
            f"epoch {epoch}/{epochs} critic {row['loss_critic']:.4g} gen {row['loss_generator']:.4g} "
            f"W {row['wasserstein']:.4g}",
        )
        if ck_path is not None and (epoch % every == 0 or epoch == epochs):
            _save(ck_path, payload(full=True))
        if callback is not None:
            callback(epoch, row)

    if history_path is not None:
        write_history(history_path, history)
    if model_path is not None:
        _save(model_path, payload(full=False))
        print(f"[gan_train] wrote {model_path} ({len(history)} epochs)", file=stream, flush=True)
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
