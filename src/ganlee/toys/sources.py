"""Where toy events come from: the GAN, a bootstrap of the MC itself, or an independent MC pool.

A source draws ``n`` events (all 18 features, ``FEATURE_NAMES`` order, float32, on the engine's
device) for a role and a seed. Roles: ``sample1`` (labelled background), ``sample2``
(unlabelled data) and ``reference`` (sample 1 of the observed-data analysis).

- ``GanSource``: every role is a fresh GAN sample (``ganlee.gan.sample.sample_torch``).
- ``BootstrapSource`` (``toys.source: mc_bootstrap``): the MC events are split once into two
  disjoint halves by ``derive_seed(seed, "mc_split")``; sample 1 is drawn with replacement from
  the first half and sample 2 from the second, so the two samples of a toy never share an MC
  event (a shared event would be a perfectly learnable coincidence); ``reference`` resamples the
  whole MC. This is the bootstrap (Efron 1979) counterpart of the GAN toys, so both can be run
  on the same footing. It is biased as a reference for the LEE: every toy's sample 2 resamples
  the same half, so that half's fluctuations (a bump or dip of the half's m_llg spectrum) are in
  every toy, and a toy of the half's size repeats events (about 37% of its draws). Its z_max
  distribution therefore describes one half of the MC, not the process: on the embedded MC
  (2,314 events, halves of 1,157 resampled to 2,314) the z_max median ranged from 2.0 to 3.3
  over five splits, against 1.65 for independent samples of the same size.
- ``PoolSource`` (``toys.source: mc_pool``): toys drawn without replacement from an MC pool
  independent of the generator's training MC and at least ``MIN_POOL_FACTOR`` times the toy
  size (``sample1_size + sample2_size``); the reference toys of the closure test
  (docs/design.md, "Validation: closure test"). The pool is split once by
  ``derive_seed(seed, "mc_pool_split")`` into two disjoint parts in proportion to the two
  sample sizes (so each part holds at least ``MIN_POOL_FACTOR`` times its sample); sample 1 and
  sample 2 are drawn without replacement from their part, so no event repeats within a sample
  or is shared between the two samples of a toy; ``reference`` draws from the whole pool. Toys
  still share events with each other (a finite pool): the fraction of a toy's variance common
  to all toys is about the sample's share of its part, at most ``1 / MIN_POOL_FACTOR``.

Seeds come from the toy engine: ``derive_seed(seed, "toy", i, role)`` for toy ``i``, whatever the
source, so any toy is reproducible alone.

Signal injection (``toys.inject``, ``ganlee.toys.inject``) takes the features of its events from
the same source with role ``sample2`` and its own seed, so with ``mc_bootstrap`` or ``mc_pool``
they come from the sample-2 part of the MC, never from the part that sample 1 of a toy is drawn
from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlee.errors import ConfigError, InputError
from ganlee.features import FEATURE_NAMES, feature_shape_problem
from ganlee.io import features_fingerprint, file_hash, read_features
from ganlee.seeds import derive_seed
from ganlee.settings import Settings

__all__ = [
    "MIN_POOL_FACTOR",
    "ROLES",
    "BootstrapSource",
    "GanSource",
    "PoolSource",
    "SampleSource",
    "check_model_features",
    "file_hash",
    "make_source",
]

ROLES = ("sample1", "sample2", "reference")
#: An MC pool must hold at least this many times the events of one toy (both samples).
MIN_POOL_FACTOR = 10


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

        self.model: Any = load_model(Path(model_path), device)
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
    """Toy events resampled with replacement from the MC features (two disjoint halves).

    Biased as an LEE reference (module docstring): the fluctuations of each half are common to
    all toys. ``PoolSource`` is the unbiased reference when an independent pool is available.
    """

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


class PoolSource(SampleSource):
    """Toy events drawn without replacement from an independent MC pool (module docstring).

    Arguments:
        mc: ``(n_pool, 18)`` pool features.
        seed: master seed (the split into the two sample parts).
        sizes: ``(sample1_size, sample2_size)`` of a toy.
        device: where the drawn events live.
        model_hash: provenance string written into every chunk.
        name: how errors name the pool (its file).
    """

    name = "mc_pool"

    def __init__(
        self,
        mc: np.ndarray,
        seed: int,
        sizes: tuple[int, int],
        device: torch.device,
        model_hash: str,
        name: str = "the MC pool",
    ) -> None:
        mc = np.asarray(mc)
        problem = feature_shape_problem(mc)
        if problem is not None:
            msg = f"mc_pool: {name} {problem}"
            raise InputError(msg)
        n1, n2 = (int(v) for v in sizes)
        need = MIN_POOL_FACTOR * (n1 + n2)
        if mc.shape[0] < need:
            msg = (
                f"mc_pool: {name} holds {mc.shape[0]} events; toys of {n1} + {n2} events need a "
                f"pool of at least {need} ({MIN_POOL_FACTOR}x the toy size; events are drawn "
                "without replacement): generate a larger pool or make the toys smaller"
            )
            raise InputError(msg)
        self.device = torch.device(device)
        self.n_mc = int(mc.shape[0])
        self.model_hash = model_hash
        self.label = name
        self.mc = torch.as_tensor(mc, dtype=torch.float32, device=self.device)
        perm = np.random.default_rng(derive_seed(seed, "mc_pool_split")).permutation(self.n_mc)
        cut = (self.n_mc * n1) // (n1 + n2)
        self.pools = {
            "sample1": perm[:cut],
            "sample2": perm[cut:],
            "reference": np.arange(self.n_mc),
        }

    @classmethod
    def from_file(
        cls,
        features: str | os.PathLike[str],
        seed: int,
        sizes: tuple[int, int],
        device: torch.device,
    ) -> PoolSource:
        """The pool in the features file ``features`` for toys of ``sizes`` events."""
        mc = read_features(features)
        return cls(
            mc,
            int(seed),
            sizes,
            device,
            model_hash=f"mc_pool:{file_hash(features)}",
            name=f"pool '{features}'",
        )

    def draw(self, role: str, n: int, seed: int) -> torch.Tensor:
        self._check_role(role)
        pool = self.pools[role]
        if int(n) > pool.size:
            msg = (
                f"mc_pool: {self.label} has {pool.size} events for role '{role}', "
                f"{int(n)} requested (draws are without replacement)"
            )
            raise InputError(msg)
        rng = np.random.default_rng(int(seed))
        pick = pool[rng.choice(pool.size, size=int(n), replace=False)]
        return self.mc[torch.as_tensor(pick, device=self.device)]


def make_source(
    settings: Settings,
    features: str | os.PathLike[str],
    model: str | os.PathLike[str] | None,
    device: torch.device,
) -> SampleSource:
    """The source named by ``toys.source``. ``features``: the MC (for ``mc_pool`` the pool,
    which needs the toy sizes set explicitly: a pool defines no toy size)."""
    kind = settings.toys.source
    if kind == "mc_bootstrap":
        return BootstrapSource.from_file(features, settings.seed, device)
    if kind == "mc_pool":
        t = settings.toys
        if t.sample1_size is None or t.sample2_size is None:
            msg = (
                "toys.source is 'mc_pool': set config keys 'toys.sample1_size' and "
                "'toys.sample2_size' (null means the size of the dataset the toys calibrate, "
                "which the pool does not define)"
            )
            raise ConfigError(msg)
        return PoolSource.from_file(
            features, settings.seed, (int(t.sample1_size), int(t.sample2_size)), device
        )
    if model is None:
        msg = "toys.source is 'gan' but no GAN checkpoint was given (--model)"
        raise InputError(msg)
    if not Path(model).is_file():
        msg = f"GAN checkpoint '{model}' does not exist (run the gan_train rule first)"
        raise InputError(msg)
    mc = read_features(features)
    source = GanSource(model, mc.shape[0], device)
    check_model_features(source.model, model, features, mc)
    return source


def check_model_features(
    model: Any,
    model_path: str | os.PathLike[str],
    features: str | os.PathLike[str],
    mc: np.ndarray,
) -> None:
    """``InputError`` naming both files when the GAN was not trained on the events ``mc`` of
    the features file (``ganlee.io.features_fingerprint``, recorded in the checkpoint's
    ``split``; checkpoints older than that key are compared by their float64 data hash)."""
    split = dict(getattr(model, "split", None) or {})
    want, got = split.get("features_fingerprint"), features_fingerprint(mc)
    if want is None and "data_fingerprint" in split:
        from ganlee.gan.train import data_fingerprint

        want, got = split["data_fingerprint"], data_fingerprint(mc)
    if want == got:
        return
    msg = (
        f"GAN checkpoint '{model_path}' was trained on other events than the features file "
        f"'{features}' (features fingerprint {want} of {split.get('n_events', '?')} events in "
        f"the checkpoint, {got} of {mc.shape[0]} events in the file): retrain the GAN on this "
        "file (rule gan_train) or give the features file it was trained on"
    )
    raise InputError(msg)
