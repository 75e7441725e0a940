"""High-statistics templates of each selection's m_llg spectrum for the spurious-signal test.

docs/design.md, "Spurious-signal test and background choice". A pilot toy ``p`` is a toy keyed
``("fit_model", "pilot", p)``: its two samples are drawn and its DNN trained exactly as a toy's
(``ganlee.toys.training``). The trained DNN then scores a large sample of the generator
(``template_factor / pilot_toys`` times sample 2, in blocks, seeds
``("fit_model", "pilot", p, "template", block)``), standardised as the pilot's own events; each
selection keeps the same top fraction of it (thresholds: quantiles of the first block's logits),
and the pooled m_llg histograms of all pilots are the selection's template. For sources that
are the MC itself (``mc_bootstrap``, ``mc_pool``) the MC events are scored instead. The MC,
scored by the same pilot DNNs, gives a second template of the selections where it holds at
least ``MIN_FACTOR`` times the toy size. Where the same events are selected by every pilot (the
MC), the template is the mean of the pilots' histograms: its size, hence its noise, is that of
the MC. The thresholds select the top fraction of fresh events; a toy selects the top fraction
of the events its DNN trained on, so the template is the selection's shape without the
over-training of one toy (which the toys themselves sample).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import torch

from ganlee.seeds import derive_seed
from ganlee.stats.fit import FitSpec
from ganlee.toys.classifier import predict_logits
from ganlee.toys.run import ToyEngine
from ganlee.toys.sources import GanSource
from ganlee.toys.training import Key, Models, draw_batch, standardisation, train_models

__all__ = ["MIN_FACTOR", "Templates", "build_templates"]

#: A second (MC) template is used where it holds at least this many toy sizes.
MIN_FACTOR = 100
#: Template events scored per block.
_BLOCK = 1 << 18


@dataclass
class Templates:
    """``generator`` (S, nbins) pooled template counts, ``mc`` (S, nbins) or None, ``mc_ok`` (S,)
    where the MC template is large enough, ``n_toy`` (S,) events of each selection in a toy,
    ``n_scored`` generator events scored."""

    generator: np.ndarray
    mc: np.ndarray | None
    mc_ok: np.ndarray
    n_toy: np.ndarray
    n_scored: int
    source: str


def _pilot(engine: ToyEngine, p: int) -> tuple[Models, torch.Tensor, torch.Tensor]:
    """Train pilot ``p``; returns its models and the mean and std of its own events."""
    t = engine.toys
    key: Key = ("fit_model", "pilot", p)
    raw: list[torch.Tensor] = []

    def draw(k: Key) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = engine.draw_background_pair(k)
        raw.append(torch.cat([a, b])[:, list(t.feature_index)])
        return a, b

    sizes = (engine.n1, engine.n2)
    batch = draw_batch([key], 1, draw, sizes, t.feature_index, engine.dtype, engine.device)
    models = train_models(batch, t, engine.settings.seed, engine.dtype, engine.stream)
    mean, std = standardisation(raw[0])
    return models, mean, std


def _logits(models: Models, x: torch.Tensor, dtype: str) -> torch.Tensor:
    """Mean logit over the pilot's models (one, or its k fold models) of standardised ``x``."""
    k = len(models.keys)
    x_dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    rows = torch.arange(x.shape[0], device=x.device).expand(k, -1)
    return predict_logits(models.net, x.to(x_dtype), rows, dtype).mean(0)


def _select_hist(
    spec: FitSpec, logits: torch.Tensor, m: torch.Tensor, thresholds: torch.Tensor
) -> np.ndarray:
    """(S, nbins) m_llg histograms of the events with logit >= each threshold."""
    keep = (logits[None, :] >= thresholds[:, None]).to(torch.float64)
    values = m.to(torch.float64).expand(keep.shape[0], -1).contiguous()
    return np.asarray(spec.histogram(values, weights=keep).cpu().numpy())


def build_templates(
    engine: ToyEngine,
    mc: np.ndarray | None,
    pilot_toys: int,
    template_factor: int,
    stream: TextIO | None = None,
) -> Templates:
    """The templates of every selection (module docstring). ``mc`` (n, 18): the MC features."""
    out = stream if stream is not None else sys.stderr
    spec, t, dev = engine.spec, engine.toys, engine.device
    fracs = torch.as_tensor(np.asarray(engine.sizes, np.float64) / engine.n2_total, device=dev)
    n_sel, fi, m_idx = len(t.selections), list(t.feature_index), _m_llg_index()
    gen = np.zeros((n_sel, spec.nbins))
    is_gan = isinstance(engine.source, GanSource)
    if not is_gan:  # the source is the MC itself: it is the template
        mc = np.asarray(engine.source.mc.cpu())  # type: ignore[attr-defined]
    mc_t = None if mc is None else torch.as_tensor(mc, dtype=torch.float32, device=dev)
    mc_hist = np.zeros((n_sel, spec.nbins)) if mc is not None and is_gan else None
    per_pilot = -(-template_factor * engine.n2 // pilot_toys)
    n_scored = 0
    for p in range(pilot_toys):
        models, mean, std = _pilot(engine, p)
        thresholds = None
        if is_gan:
            blocks: Iterable[torch.Tensor] = _blocks(engine, p, per_pilot)
        else:
            assert mc_t is not None
            blocks = [mc_t]
        for ev in blocks:
            lg = _logits(models, (ev[:, fi] - mean) / std, engine.dtype)
            if thresholds is None:
                thresholds = torch.quantile(lg.double(), (1.0 - fracs).clamp(0, 1)).to(lg.dtype)
            gen += _select_hist(spec, lg, ev[:, m_idx], thresholds)
            n_scored += int(ev.shape[0])
        if mc_t is not None and mc_hist is not None and thresholds is not None:
            lg = _logits(models, (mc_t[:, fi] - mean) / std, engine.dtype)
            mc_hist += _select_hist(spec, lg, mc_t[:, m_idx], thresholds)
        print(
            f"[fit-model] pilot {p + 1}/{pilot_toys}: {n_scored} template events scored", file=out
        )
    n_toy = np.asarray(engine.sizes, dtype=np.float64)
    mc_ok = np.zeros(n_sel, dtype=bool)
    if mc_hist is not None:  # the same MC events selected by each pilot: their mean
        mc_hist /= pilot_toys
        mc_ok = mc_hist.sum(-1) >= MIN_FACTOR * n_toy
    if not is_gan:
        gen /= pilot_toys
        n_scored //= pilot_toys
    return Templates(gen, mc_hist, mc_ok, n_toy, n_scored, engine.source.name)


def _blocks(engine: ToyEngine, p: int, n: int) -> Iterator[torch.Tensor]:
    """Generator events of pilot ``p`` in blocks (a generator: one block in memory at a time)."""
    seed = engine.settings.seed
    for b, start in enumerate(range(0, n, _BLOCK)):
        size = min(_BLOCK, n - start)
        yield engine.source.draw(
            "reference", size, derive_seed(seed, "fit_model", "pilot", p, "template", b)
        )


def _m_llg_index() -> int:
    from ganlee.features import FEATURE_NAMES

    return FEATURE_NAMES.index("m_llg")
