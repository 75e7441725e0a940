"""Shared fixtures-by-function for the toy-engine tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

#: A GAN small enough to train in a fraction of a second: only the toys' GAN path is under test.
TINY_GAN_CFG = {
    "seed": 1,
    "device": "cpu",
    "gan": {
        "latent_dim": 4,
        "generator_layers": [16],
        "critic_layers": [16],
        "epochs": 1,
        "batch_size": 100,
        "n_critic": 1,
    },
}


def train_tiny_gan(mc: np.ndarray, model: Path) -> Path:
    """Train ``TINY_GAN_CFG`` on ``mc`` and write its checkpoint to ``model``."""
    from ganlee.gan.train import train
    from ganlee.settings import Settings

    train(mc, Settings.from_config(TINY_GAN_CFG), model_path=model, stream=io.StringIO())
    return model
