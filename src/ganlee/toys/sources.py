"""Where toy events come from: the GAN, or a bootstrap of the MC itself.

A source draws ``n`` events (all 18 features, ``FEATURE_NAMES`` order, float32, on the engine's
device) for a role and a seed. Roles: ``sample1`` (labelled background), ``sample2``
(unlabelled data) and ``reference`` (sample 1 of the observed-data analysis).

- ``GanSource``: every role is a fresh GAN sample (``ganlee.gan.sample.sample_torch``).
- ``BootstrapSource`` (``toys.source: mc_bootstrap``): the MC events are split once into two
  disjoint halves by ``derive_seed(seed, "mc_split")``; sample 1 is drawn with replacement from
  the first half and sample 2 from the second, so the two samples of a toy never share an MC
  event (a shared event would be a perfectly learnable coincidence); ``reference`` resamples the
  whole MC. This is the bootstrap (Efron 1979) counterpart of the GAN toys, so both can be run
  on the same footing.

Signal injection (``toys.inject``, ``ganlee.toys.inject``) takes the features of its events from
the same source with role ``sample2`` and its own seed, so with ``mc_bootstrap`` they come from
the sample-2 half of the MC, never from the half that sample 1 of a toy is drawn from.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlee.features import FEATURE_NAMES
from ganlee.io import InputError, read_features
from ganlee.seeds import derive_seed

__all__ = ["ROLES", "BootstrapSource", "GanSource", "SampleSource", "file_hash", "make_source"]

ROLES = ("sample1", "sample2", "reference")


def file_hash(path: str | os.PathLike[str]) -> str:
    """First 16 hex digits of the SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


class SampleSource:
    """Base class: ``draw(role, n, seed) -> (n, 18)`` float32 tensor on ``device``."""

    name: str = "source"
    n_mc: int
    model_hash: str
    device: torch.device

    def draw(self, role: str, n: int, seed: int) -> torch.Tensor:
        raise NotImplementedError

    def _check_role(self, role: str) -> None:
        if role not in ROLES:
            msg = f"unknown sample role '{role}' (expected one of {ROLES})"
            raise ValueError(msg)


class GanSource(SampleSource):
    """Toy events from a trained GAN checkpoint (``results/gan/model.pt``)."""

    name = "gan"

    def __init__(self, model_path: str | os.PathLike[str], n_mc: int, device: torch.device) -> None:
        from ganlee.gan.sample import load_model

        self.model: Any = load_model(model_path, device)
        names = tuple(getattr(self.model, "feature_names", FEATURE_NAMES))
        if names != FEATURE_NAMES:
            msg = (
                f"GAN checkpoint '{model_path}' generates features {list(names)}; the toys need "
                f"{list(FEATURE_NAMES)} in that order"
            )
            raise InputError(msg)
        self.model_hash = str(self.model.sha)
        self.n_mc = int(n_mc)
        self.device = torch.device(device)

    def draw(self, role: str, n: int, seed: int) -> torch.Tensor:
        from ganlee.gan.sample import sample_torch

        self._check_role(role)
        x = sample_torch(self.model, int(n), int(seed))
        return x.to(device=self.device, dtype=torch.float32)


class BootstrapSource(SampleSource):
    """Toy events resampled with replacement from the MC features (two disjoint halves)."""

    name = "mc_bootstrap"

    def __init__(self, mc: np.ndarray, seed: int, device: torch.device, model_hash: str) -> None:
        mc = np.asarray(mc)
        if mc.ndim != 2 or mc.shape[1] != len(FEATURE_NAMES):
            msg = f"mc_bootstrap needs an (n, {len(FEATURE_NAMES)}) feature array, got {mc.shape}"
            raise InputError(msg)
        if mc.shape[0] < 2:
            msg = (
                "mc_bootstrap needs at least 2 MC events to split into two halves, "
                f"got {mc.shape[0]}"
            )
            raise InputError(msg)
        self.device = torch.device(device)
        self.n_mc = int(mc.shape[0])
        self.model_hash = model_hash
        self.mc = torch.as_tensor(mc, dtype=torch.float32, device=self.device)
        perm = np.random.default_rng(derive_seed(seed, "mc_split")).permutation(self.n_mc)
        half = self.n_mc // 2
        self.pools = {
            "sample1": perm[:half],
            "sample2": perm[half:],
            "reference": np.arange(self.n_mc),
        }

    @classmethod
    def from_file(
        cls, features: str | os.PathLike[str], seed: int, device: torch.device
    ) -> BootstrapSource:
        mc = read_features(features)
        return cls(mc, seed, device, model_hash=f"mc_bootstrap:{file_hash(features)}")

    def draw(self, role: str, n: int, seed: int) -> torch.Tensor:
        self._check_role(role)
        pool = self.pools[role]
        pick = pool[np.random.default_rng(int(seed)).integers(0, pool.size, int(n))]
        return self.mc[torch.as_tensor(pick, device=self.device)]


def make_source(
    cfg: dict[str, Any],
    features: str | os.PathLike[str],
    model: str | os.PathLike[str] | None,
    device: torch.device,
) -> SampleSource:
    """The source named by ``toys.source``; the MC features file gives the default sample size."""
    kind = cfg["toys"]["source"]
    if kind == "mc_bootstrap":
        return BootstrapSource.from_file(features, cfg["seed"], device)
    if model is None:
        msg = "toys.source is 'gan' but no GAN checkpoint was given (--model)"
        raise InputError(msg)
    if not Path(model).is_file():
        msg = f"GAN checkpoint '{model}' does not exist (run the gan_train rule first)"
        raise InputError(msg)
    n_mc = read_features(features, names=("m_llg",)).shape[0]
    return GanSource(model, n_mc, device)
