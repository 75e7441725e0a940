"""Seed derivation: every random stream is a pure function of the master seed and its indices.

``derive_seed(seed, "toy", 17)`` is the same whatever job or chunk computes it, so toy 17 is
reproducible alone and results never depend on how toys are split into jobs.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["derive_seed", "numpy_rng", "torch_generator"]


def _key(k: int | str) -> int:
    if isinstance(k, str):
        return zlib.crc32(k.encode())
    if k < 0:
        msg = f"seed keys must be non-negative, got {k}"
        raise ValueError(msg)
    return int(k)


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 63-bit seed from ``seed`` and a path of keys (strings or non-negative ints)."""
    ss = np.random.SeedSequence(int(seed), spawn_key=tuple(_key(k) for k in keys))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def numpy_rng(seed: int, *keys: int | str) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, *keys))


def torch_generator(seed: int, *keys: int | str, device: str = "cpu"):
    """A ``torch.Generator`` on ``device`` seeded with ``derive_seed(seed, *keys)``."""
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, *keys))
    return gen
