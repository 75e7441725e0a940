"""A batched ensemble of K independent DNN classifiers trained in lockstep.

The semi-supervised classifier of the reference analysis (arXiv:2404.07822): an MLP
18-360-180-180-90-180-1 with ReLU and a sigmoid output, binary cross-entropy between sample 1 (label
0, labelled background) and sample 2 (label 1, unlabelled data), Adam (arXiv:1412.6980) with the
Keras time-based decay ``lr_t = lr / (1 + decay * step)`` and epsilon 1e-7, Glorot-uniform weights
and zero biases (the Keras defaults; Glorot & Bengio, AISTATS 2010).

K such models are stored as stacked tensors, weight ``(K, in, out)`` and bias ``(K, 1, out)``, so
every layer of all K models is one ``torch.baddbmm`` and one fused Adam step updates them all.
Models never mix: model k sees only its own rows, its own initialisation and its own shuffling,
and its Adam moments are elementwise, so model k ends in the same state (to float rounding)
whether it is trained alone or with 1023 others (bitwise only for the same K: BLAS and
reduction kernels may round differently for another stacked shape; ``toys.pad_passes`` in
``ganlee.toys.run`` keeps K fixed). The shared learning-rate schedule is exact because all
models take their steps together and have the same number of training rows.

Randomness without per-model generator objects: ``hash_bits(seeds, counter)`` is a keyed
bijective integer hash (two rounds of Chris Wellons' ``lowbias32``) evaluated elementwise on the
device, so initial weights and per-epoch shuffles of all K models come out of a few vectorised
ops, are the same on CPU and CUDA, and depend only on each model's own 63-bit seed
(``ganlee.seeds.derive_seed``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ganlee.progress import Progress
from ganlee.settings import DnnSettings

__all__ = [
    "ADAM_BETAS",
    "ADAM_EPS",
    "StackedMLP",
    "hash_bits",
    "hash_permutation",
    "hash_uniform",
    "lr_at",
    "predict_logits",
    "train_stacked",
]

_M32 = 0xFFFFFFFF


# ----------------------------------------------------------------------------- hashing RNG
def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``(x * c) mod 2**32`` for int64 ``x`` in [0, 2**32) without signed overflow."""
    lo, hi = c & 0xFFFF, c >> 16
    return (x * lo + (((x * hi) & 0xFFFF) << 16)) & _M32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32: a bijection of [0, 2**32) with good avalanche (C. Wellons, hash-prospector)."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _as_seed_tensor(
    seeds: Sequence[int] | torch.Tensor, device: torch.device | str | None
) -> torch.Tensor:
    s = torch.as_tensor(seeds, dtype=torch.int64, device=device).reshape(-1)
    if bool((s < 0).any()):
        msg = "hash seeds must be non-negative 63-bit integers (ganlee.seeds.derive_seed)"
        raise ValueError(msg)
    return s


def hash_bits(
    seeds: Sequence[int] | torch.Tensor,
    n: int,
    start: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """32 pseudo-random bits per (seed, counter): int64 ``(len(seeds), n)`` in [0, 2**32).

    For a fixed seed the map counter -> bits is a bijection of [0, 2**32), so sorting by it gives
    a permutation without ties. Counters are ``start, ..., start + n - 1`` (< 2**32).
    """
    if start < 0 or start + n > 2**32:
        msg = f"hash counters must lie in [0, 2**32), got [{start}, {start + n})"
        raise ValueError(msg)
    s = _as_seed_tensor(seeds, device)
    s_lo, s_hi = s & _M32, (s >> 32) & _M32
    k1 = _mix32(s_lo ^ _mix32(s_hi ^ 0x9E3779B9))[:, None]
    k2 = _mix32(s_hi ^ _mix32(s_lo ^ 0x85EBCA6B))[:, None]
    c = torch.arange(start, start + n, dtype=torch.int64, device=s.device)[None, :]
    return _mix32(_mix32((c + k1) & _M32) ^ k2)


def hash_uniform(
    seeds: Sequence[int] | torch.Tensor,
    n: int,
    start: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Uniform floats in (0, 1), float64 ``(len(seeds), n)``, from ``hash_bits``."""
    return (hash_bits(seeds, n, start, device).to(torch.float64) + 0.5) * 2.0**-32


def hash_permutation(
    seeds: Sequence[int] | torch.Tensor, n: int, device: torch.device | str | None = None
) -> torch.Tensor:
    """One random permutation of ``range(n)`` per seed: int64 ``(len(seeds), n)``."""
    return torch.argsort(hash_bits(seeds, n, 0, device), dim=1)


# ----------------------------------------------------------------------------- the model
#: Adam's moment decays and Keras's epsilon (the reference analysis trained with Keras).
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1.0e-7


def lr_at(dnn: DnnSettings, step: int) -> float:
    """Keras time-based decay: ``lr / (1 + decay * step)``, ``step`` = updates already done."""
    return float(dnn.lr) / (1.0 + float(dnn.decay) * step)


class StackedMLP(nn.Module):
    """K independent MLPs ``n_inputs -> hidden... -> 1`` (ReLU) held as stacked tensors.

    Arguments:
        n_models: K, the number of independent models.
        n_inputs: input features per event.
        hidden: hidden-layer widths.

    ``forward(x)`` maps ``x`` of shape ``(K, B, n_inputs)`` to logits ``(K, B)``; the sigmoid of
    a logit is the classifier response.

    Example:
        >>> net = StackedMLP(3, 4, (8, 8), device="cpu")
        >>> net.reset_parameters([1, 2, 3])
        >>> net(torch.zeros(3, 5, 4)).shape
        torch.Size([3, 5])
    """

    def __init__(
        self,
        n_models: int,
        n_inputs: int,
        hidden: Sequence[int],
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if n_models < 1 or n_inputs < 1:
            msg = f"StackedMLP needs n_models >= 1 and n_inputs >= 1, got {n_models}, {n_inputs}"
            raise ValueError(msg)
        self.n_models, self.n_inputs = int(n_models), int(n_inputs)
        self.widths = (self.n_inputs, *(int(h) for h in hidden), 1)
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(n_models, a, b, device=device))
            for a, b in zip(self.widths[:-1], self.widths[1:], strict=True)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.zeros(n_models, 1, b, device=device)) for b in self.widths[1:]
        )

    @property
    def n_parameters(self) -> int:
        """Parameters of one model."""
        return sum(a * b + b for a, b in zip(self.widths[:-1], self.widths[1:], strict=True))

    @torch.no_grad()
    def reset_parameters(self, seeds: Sequence[int] | torch.Tensor) -> None:
        """Glorot-uniform weights, zero biases; model k drawn from ``seeds[k]`` alone."""
        s = _as_seed_tensor(seeds, self.weights[0].device)
        if s.numel() != self.n_models:
            msg = f"reset_parameters: {s.numel()} seeds for {self.n_models} models"
            raise ValueError(msg)
        offset = 0
        for w, b in zip(self.weights, self.biases, strict=True):
            fan_in, fan_out = w.shape[1], w.shape[2]
            limit = math.sqrt(6.0 / (fan_in + fan_out))
            u = hash_uniform(s, fan_in * fan_out, start=offset)
            w.copy_(((2.0 * u - 1.0) * limit).reshape(w.shape))
            b.zero_()
            offset += fan_in * fan_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[0] != self.n_models or x.shape[2] != self.n_inputs:
            want = f"({self.n_models}, B, {self.n_inputs})"
            msg = f"StackedMLP expects x of shape {want}, got {tuple(x.shape)}"
            raise ValueError(msg)
        h = x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = torch.relu(h)
        return h.squeeze(-1)


def _autocast(device: torch.device, dtype: str):
    """bf16 autocast for the matmuls on CUDA; a no-op context in float32 or on CPU."""
    enabled = dtype == "bfloat16" and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _make_adam(
    params: list[nn.Parameter], dnn: DnnSettings, device: torch.device
) -> torch.optim.Adam:
    kw: dict[str, Any] = {"fused": True} if device.type == "cuda" else {"foreach": True}
    return torch.optim.Adam(params, lr=float(dnn.lr), betas=ADAM_BETAS, eps=ADAM_EPS, **kw)


def train_stacked(
    net: StackedMLP,
    data: torch.Tensor,
    labels: torch.Tensor,
    shuffle_seeds: torch.Tensor | Sequence[Sequence[int]],
    dnn: DnnSettings,
    rows: torch.Tensor | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Train the K models of ``net`` in lockstep; return the mean loss per epoch, ``(epochs, K)``.

    Arguments:
        net: the stacked models, already initialised (``reset_parameters``).
        data: ``(R, F)`` every row any model trains on (standardised inputs).
        labels: ``(R,)`` 0 for sample 1, 1 for sample 2.
        shuffle_seeds: ``(K, epochs)`` non-negative seeds; epoch e of model k visits its rows
            in the order ``hash_permutation(shuffle_seeds[k, e])``.
        dnn: the ``toys.dnn`` settings: learning rate, decay, epochs, per-model batch size,
            dtype.
        rows: ``(K, N)`` the rows of ``data`` model k trains on. ``None``: model k trains on the
            contiguous block ``data[k*N:(k+1)*N]`` with ``N = R // K``.
        progress: optional progress line (one update per epoch).

    Every model takes ``ceil(N / batch_size)`` Adam steps per epoch, the last batch partial
    (as Keras does). The loss is each model's own batch-mean BCE summed over models, so each
    model's gradient is exactly its own.
    """
    K = net.n_models
    device = data.device
    if rows is None:
        if data.shape[0] % K:
            msg = f"train_stacked: {data.shape[0]} rows do not split into {K} equal blocks"
            raise ValueError(msg)
        n_rows = data.shape[0] // K
        offsets = (torch.arange(K, device=device, dtype=torch.int64) * n_rows)[:, None]
    else:
        if rows.dim() != 2 or rows.shape[0] != K:
            msg = f"train_stacked: rows must have shape ({K}, N), got {tuple(rows.shape)}"
            raise ValueError(msg)
        n_rows = rows.shape[1]
    seeds = torch.as_tensor(shuffle_seeds, dtype=torch.int64, device=device)
    if tuple(seeds.shape) != (K, dnn.epochs):
        msg = (
            f"train_stacked: shuffle_seeds must have shape ({K}, {dnn.epochs}), "
            f"got {tuple(seeds.shape)}"
        )
        raise ValueError(msg)
    if n_rows < 1:
        msg = "train_stacked: every model needs at least one training row"
        raise ValueError(msg)
    labels = labels.to(device=device, dtype=torch.float32)
    bs = int(dnn.batch_size)
    steps = math.ceil(n_rows / bs)
    opt = _make_adam(list(net.parameters()), dnn, device)
    history = torch.zeros(dnn.epochs, K, device=device)
    step = 0
    for epoch in range(dnn.epochs):
        perm = hash_permutation(seeds[:, epoch], n_rows, device=device)
        idx_all = perm + offsets if rows is None else rows.gather(1, perm)
        epoch_loss = torch.zeros(K, device=device)
        for s in range(steps):
            idx = idx_all[:, s * bs : (s + 1) * bs]
            xb = data[idx]
            yb = labels[idx]
            with _autocast(device, dnn.dtype):
                logits = net(xb)
            loss_k = F.binary_cross_entropy_with_logits(logits.float(), yb, reduction="none").mean(
                1
            )
            for group in opt.param_groups:
                group["lr"] = lr_at(dnn, step)
            opt.zero_grad(set_to_none=True)
            loss_k.sum().backward()
            opt.step()
            step += 1
            epoch_loss += loss_k.detach() * idx.shape[1]
        history[epoch] = epoch_loss / n_rows
        if progress is not None:
            progress.update(1)
    return history


@torch.no_grad()
def predict_logits(
    net: StackedMLP,
    data: torch.Tensor,
    rows: torch.Tensor,
    dtype: str = "float32",
    chunk: int | None = None,
) -> torch.Tensor:
    """Logits of model k for the rows ``rows[k]`` of ``data``: float32 ``(K, R)``.

    ``chunk`` rows per model are evaluated at once (default: about 2**28 activations in all).
    """
    if rows.dim() != 2 or rows.shape[0] != net.n_models:
        msg = f"predict_logits: rows must have shape ({net.n_models}, R), got {tuple(rows.shape)}"
        raise ValueError(msg)
    if chunk is None:
        chunk = max(64, 2**28 // (net.n_models * max(net.widths)))
    out = torch.empty(rows.shape, dtype=torch.float32, device=data.device)
    for r0 in range(0, rows.shape[1], chunk):
        idx = rows[:, r0 : r0 + chunk]
        with _autocast(data.device, dtype):
            out[:, r0 : r0 + chunk] = net(data[idx]).float()
    return out
