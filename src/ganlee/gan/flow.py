"""A normalising flow behind the generator interface (config ``gan.kind: flow``).

A neural spline flow (rational-quadratic splines, arXiv:1906.04032) built with zuko
(``zuko.flows.NSF``) as a *coupling* flow (``passes=2``: each transform updates half of the
features conditioned on the other half, arXiv:1605.08803), so that sampling is two parallel
passes per transform instead of one pass per feature as in an autoregressive flow. It is trained
by maximum likelihood on the Gaussianised features (``gan.preprocessing: quantile``), with Adam and
a cosine learning-rate decay to zero over ``gan.flow.epochs``.

``FlowSampler`` maps standard-normal latent vectors to the scaled feature space through the
inverse transform, exactly as a WGAN generator maps its latent vectors, so ``ganlee.gan.sample``
draws events from either the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ganlee.errors import ConfigError
from ganlee.gan.wgan import cpu_state, load_optimizer
from ganlee.settings import FlowSettings

__all__ = ["FlowSampler", "FlowTrainer", "build_flow", "init_flow"]


class FlowSampler(nn.Module):
    """``z ~ N(0, 1)^d -> x``: the inverse of a zuko flow's transform (the flow's sampler)."""

    def __init__(self, flow: nn.Module) -> None:
        super().__init__()
        self.flow = flow

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.flow().transform.inv(z)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.flow().log_prob(x)


def build_flow(dim: int, bins: int, transforms: int, hidden_features: Sequence[int]) -> FlowSampler:
    """The coupling NSF (``gan.flow``: ``bins``, ``transforms``, ``hidden_features``) on ``dim``
    features."""
    import zuko

    flow = zuko.flows.NSF(
        int(dim),
        0,
        bins=int(bins),
        transforms=int(transforms),
        hidden_features=[int(h) for h in hidden_features],
        passes=2,
    )
    return FlowSampler(flow)


def init_flow(flow: FlowSettings, dim: int, seed: int) -> FlowSampler:
    """``build_flow`` of the ``gan.flow`` settings initialised on the CPU from ``seed`` alone
    (global RNG state untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build_flow(dim, flow.bins, flow.transforms, flow.hidden_features)


class FlowTrainer:
    """Maximum-likelihood training of a ``FlowSampler`` on device-resident scaled events.

    ``run_epoch`` returns per-step rows ``(nan, nan, nan, nll)`` in the column order of the WGAN
    trainer's (critic loss, Wasserstein estimate, penalty, generator loss).
    """

    def __init__(
        self, sampler: FlowSampler, data: torch.Tensor, f: FlowSettings, device: torch.device
    ) -> None:
        self.device = device
        self.model = sampler.to(device)
        self.data = data.to(device=device, dtype=torch.float32).contiguous()
        self.B = int(f.batch_size)
        self.steps = len(self.data) // self.B
        if self.steps < 1:
            msg = (
                f"config key gan.flow.batch_size ({self.B}) exceeds the training split "
                f"({len(self.data)} events): lower it"
            )
            raise ConfigError(msg)
        self.lr = float(f.lr)
        self.epochs = int(f.epochs)
        self.clip = float(f.grad_clip)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        self.latent_dim = int(self.data.shape[1])
        self.loss_columns = (3,)

    @property
    def sampler(self) -> nn.Module:
        return self.model

    def full_state(self) -> dict[str, Any]:
        return {"opt_state": cpu_state(self.opt)}

    def load_full_state(self, ck: Mapping[str, Any]) -> None:
        load_optimizer(self.opt, ck["opt_state"])

    def run_epoch(self, seed: int, epoch: int = 1) -> np.ndarray:
        """One pass over the shuffled training events; cosine learning rate at ``epoch``."""
        lr = 0.5 * self.lr * (1.0 + math.cos(math.pi * (epoch - 1) / max(self.epochs, 1)))
        for group in self.opt.param_groups:
            group["lr"] = lr
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(seed))
        perm = torch.randperm(len(self.data), generator=gen, device=self.device)
        rows = np.full((self.steps, 4), np.nan)
        self.model.train()
        for i in range(self.steps):
            x = self.data.index_select(0, perm[i * self.B : (i + 1) * self.B])
            loss = -self.model.log_prob(x).mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
            self.opt.step()
            rows[i, 3] = float(loss.detach())
        self.model.eval()
        return rows
