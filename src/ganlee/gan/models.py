"""Generator and critic of the WGAN: plain ReLU multilayer perceptrons.

The reference analysis (arXiv:2404.07822) uses a generator 16-512-1024-512-18 and a critic
18-512-512-512-1 (ReLU hidden layers, linear outputs), trained as a WGAN with gradient penalty
(arXiv:1704.00028) or with weight clipping (arXiv:1701.07875). Sizes come from the ``gan`` config
section (``ganlee.settings.GanSettings``).

Example:
    >>> import torch
    >>> g = mlp(16, [32, 32], 18)
    >>> g(torch.zeros(4, 16)).shape
    torch.Size([4, 18])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ganlee.settings import GanSettings

__all__ = ["build_critic", "build_generator", "init_seeded", "mlp"]


def mlp(n_in: int, hidden: Sequence[int], n_out: int) -> nn.Sequential:
    """``n_in -> hidden[0] -> ... -> hidden[-1] -> n_out`` with ReLU between, linear output."""
    layers: list[nn.Module] = []
    width = int(n_in)
    for h in hidden:
        layers += [nn.Linear(width, int(h)), nn.ReLU()]
        width = int(h)
    layers.append(nn.Linear(width, int(n_out)))
    return nn.Sequential(*layers)


def build_generator(latent_dim: int, layers: Sequence[int], n_features: int) -> nn.Sequential:
    """Generator ``latent_dim -> layers -> n_features`` (``gan.generator_layers``; the reference
    analysis: 16-512-1024-512-18)."""
    return mlp(latent_dim, layers, n_features)


def build_critic(n_features: int, layers: Sequence[int]) -> nn.Sequential:
    """Critic ``n_features -> layers -> 1`` (``gan.critic_layers``; reference:
    18-512-512-512-1), linear output."""
    return mlp(n_features, layers, 1)


def init_seeded(
    gan: GanSettings, n_features: int, seed: int
) -> tuple[nn.Sequential, nn.Sequential]:
    """Generator and critic initialised on the CPU from ``seed`` alone (same weights on any device).

    The global torch RNG is forked, so the caller's random state is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        gen = build_generator(gan.latent_dim, gan.generator_layers, n_features)
        critic = build_critic(n_features, gan.critic_layers)
    return gen, critic
