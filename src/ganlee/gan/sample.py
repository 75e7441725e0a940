"""Loading a trained GAN and drawing valid events from it (the toys' event source).

``sample(model, n, seed)`` returns ``n`` events, float64, in ``model.feature_names`` order, every
one valid (``ganlee.gan.preprocess.valid_mask``): invalid generator outputs are rejected and
redrawn; with the ``physical`` preprocessing angles outside [-pi, pi] are wrapped and jet counts
below zero reflected (repairs; see ``ganlee.gan.preprocess``). The fractions are kept in
``model.last_stats`` and logged. Identical ``(seed, n, batch_size)`` give
identical events on the same device.

Example:
    >>> model = load_model("results/gan/model.pt")          # doctest: +SKIP
    >>> x = sample(model, 10_000, seed=derive_seed(settings.seed, "toy", 0))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganlee.device import resolve_device
from ganlee.gan.models import build_generator
from ganlee.gan.preprocess import Preprocessor
from ganlee.gan.train import CHECKPOINT_FORMAT, READABLE_FORMATS
from ganlee.io import InputError

__all__ = [
    "GanModel",
    "ModelUnusableError",
    "SampleStats",
    "build_sampler",
    "file_sha",
    "load_model",
    "sample",
    "sample_torch",
]

log = logging.getLogger(__name__)
#: Abort when more than this fraction of generated events is invalid (a broken model).
MAX_REJECTED_FRACTION = 0.5
DEFAULT_BATCH = 65536


class ModelUnusableError(InputError):
    """The model's samples are (almost) all invalid; the message names the model file.

    An ``InputError``: every CLI command that samples (toys, observe, gan-validate, the
    validation studies) turns it into a one-line error and exit 2."""


def build_sampler(stored: Mapping[str, Any], dim: int) -> nn.Module:
    """The sampled network (WGAN generator or ``FlowSampler``), untrained, of the ``gan``
    section a checkpoint stored (``config``): its kind and architecture keys."""
    if stored.get("kind") == "flow":
        from ganlee.gan.flow import build_flow

        f = stored["flow"]
        return build_flow(dim, f["bins"], f["transforms"], f["hidden_features"])
    return build_generator(stored["latent_dim"], stored["generator_layers"], dim)


@dataclass
class SampleStats:
    """Counts of one ``sample`` call: generator outputs drawn, rejected and repaired (accepted)."""

    requested: int = 0
    drawn: int = 0
    rejected: int = 0
    repaired: int = 0

    @property
    def invalid_fraction(self) -> float:
        """Fraction of drawn events that were invalid and rejected (resampled)."""
        return self.rejected / self.drawn if self.drawn else 0.0

    @property
    def repaired_fraction(self) -> float:
        """Fraction of returned events repaired: an angle wrapped into [-pi, pi] or a jet count
        reflected at zero (``physical`` preprocessing)."""
        return self.repaired / self.requested if self.requested else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "requested": self.requested,
            "drawn": self.drawn,
            "rejected": self.rejected,
            "invalid_fraction": self.invalid_fraction,
            "repaired": self.repaired,
            "repaired_fraction": self.repaired_fraction,
        }


@dataclass
class GanModel:
    """A trained generator with everything needed to produce events.

    Attributes:
        generator: the network (eval mode, on ``device``).
        preprocessor: decoding from the scaled space (and the validity rules).
        feature_names: output column order (``ganlee.features.FEATURE_NAMES`` for the pipeline).
        device: where sampling runs.
        config: the ``gan`` config section used for training.
        sha: 16-hex SHA-256 of the checkpoint file (ties toys to the model).
        window: the m_llg analysis window stored at training, or None.
        split: the hold-out description (indices, fraction, input fingerprint).
        history: per-epoch losses.
        seed: master seed of the training.
        path: the checkpoint file.
        latent_dim: width of the latent vectors.
        best: the monitored epoch and metrics of the saved weights (None without monitoring).
    """

    generator: nn.Module
    preprocessor: Preprocessor
    feature_names: tuple[str, ...]
    device: torch.device
    config: dict[str, Any]
    sha: str
    window: tuple[float, float] | None
    split: dict[str, Any]
    history: list[dict[str, float]]
    seed: int
    path: Path
    latent_dim: int
    best: dict[str, float] | None = None
    last_stats: SampleStats = field(default_factory=SampleStats)


def file_sha(path: str | Path) -> str:
    """16-hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_model(path: str | Path, device: str | torch.device = "cpu") -> GanModel:
    """Load ``model.pt`` (or a training checkpoint) onto ``device`` (``cpu``, ``cuda``, ``auto``).

    Raises ``InputError`` naming the file when it is missing, unreadable or not a ganlee GAN.
    """
    p = Path(path)
    if not p.is_file():
        msg = f"GAN model file '{p}' does not exist (run the gan_train rule first)"
        raise InputError(msg)
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        msg = f"GAN model file '{p}' is not a readable torch checkpoint: {exc}"
        raise InputError(msg) from exc
    if not isinstance(ck, dict) or ck.get("format") not in READABLE_FORMATS:
        found = ck.get("format") if isinstance(ck, dict) else type(ck).__name__
        msg = (
            f"GAN model file '{p}' is not a ganlee GAN checkpoint "
            f"(format {found!r}, expected {CHECKPOINT_FORMAT!r})"
        )
        raise InputError(msg)
    dev = resolve_device(device) if isinstance(device, str) else torch.device(device)
    try:
        names = tuple(ck["feature_names"])
        stored = dict(ck["config"])
        pre = Preprocessor.from_state(ck["preprocessor"])
        gen = build_sampler(stored, pre.dim)
        gen.load_state_dict(ck["generator_state"])
        latent_dim = int(ck.get("latent_dim", stored["latent_dim"]))
        window = None if ck["window"] is None else (float(ck["window"][0]), float(ck["window"][1]))
        split = dict(ck["split"])
        history = [dict(r) for r in ck["history"]]
        seed = int(ck["seed"])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        msg = f"GAN model file '{p}' is damaged or incomplete: {exc}"
        raise InputError(msg) from exc
    gen.to(dev).eval()
    for prm in gen.parameters():
        prm.requires_grad_(False)
    return GanModel(
        generator=gen,
        preprocessor=pre,
        feature_names=names,
        device=dev,
        config=stored,
        sha=file_sha(p),
        window=window,
        split=split,
        history=history,
        seed=seed,
        path=p,
        latent_dim=latent_dim,
        best=None if ck.get("best") is None else dict(ck["best"]),
    )


def sample_torch(
    model: GanModel, n: int, seed: int, *, batch_size: int = DEFAULT_BATCH
) -> torch.Tensor:
    """``n`` valid events as a float32 tensor (n, d) on ``model.device``.

    ``sample`` returns exactly these values as float64. Latent vectors come from a
    ``torch.Generator`` on the model's device seeded with ``seed``; rejected events are replaced
    by further draws of the same generator, so the result depends on (seed, n, batch_size, device).
    """
    n = int(n)
    if n < 0:
        msg = f"sample: n must be >= 0, got {n}"
        raise ValueError(msg)
    if batch_size < 1:
        msg = f"sample: batch_size must be >= 1, got {batch_size}"
        raise ValueError(msg)
    dev = model.device
    d = len(model.feature_names)
    out = torch.empty((n, d), dtype=torch.float32, device=dev)
    stats = SampleStats(requested=n)
    gen = torch.Generator(device=dev)
    gen.manual_seed(int(seed) & ((1 << 63) - 1))
    filled = 0
    with torch.inference_mode():
        while filled < n:
            need = n - filled
            m = min(batch_size, need)
            z = torch.randn((m, model.latent_dim), generator=gen, device=dev)
            dec = model.preprocessor.decode(model.generator(z))
            n_valid = int(dec.valid.sum())
            stats.drawn += m
            stats.rejected += m - n_valid
            take = n_valid
            if n_valid == m:
                out[filled : filled + take] = dec.x[:take]
                stats.repaired += int(dec.repaired[:take].sum())
            elif take:
                keep = torch.nonzero(dec.valid).squeeze(1)[:take]
                out[filled : filled + take] = dec.x.index_select(0, keep)
                stats.repaired += int(dec.repaired.index_select(0, keep).sum())
            filled += take
            if stats.drawn >= 1000 and stats.invalid_fraction > MAX_REJECTED_FRACTION:
                msg = (
                    f"GAN model file '{model.path}': {stats.invalid_fraction:.1%} of {stats.drawn} "
                    f"generated events are invalid (limit {MAX_REJECTED_FRACTION:.0%}); "
                    "the model is unusable: retrain it (rule gan_train)"
                )
                raise ModelUnusableError(msg)
    model.last_stats = stats
    level = logging.WARNING if stats.invalid_fraction > 0.01 else logging.INFO
    log.log(
        level,
        "GAN sample: %d events, %.4f%% of draws invalid and resampled, %.4f%% repaired",
        n,
        100 * stats.invalid_fraction,
        100 * stats.repaired_fraction,
    )
    return out


def sample(model: GanModel, n: int, seed: int, *, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
    """``n`` valid events (n, d) float64 in ``model.feature_names`` order (see ``sample_torch``)."""
    return sample_torch(model, n, seed, batch_size=batch_size).cpu().numpy().astype(np.float64)
