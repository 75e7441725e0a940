"""Signal injection into sample 2 of a toy: a Gaussian resonance in m_llg (config ``toys.inject``,
resolved as ``ganlee.settings.Settings.injection``).

Exactly ``n_signal`` events (not Poisson-fluctuated: the injected strength is a fixed input of a
sensitivity study, and the yield of a real signal fluctuates with its background anyway) are
appended to sample 2 (the unlabelled "data") of every toy, never to sample 1 (the labelled
background), so the semi-supervised DNN (arXiv:2404.07822, CWoLa arXiv:1805.02664) may find them
and the fits see a bump of known mass. The signal of toy ``i`` is a pure function of the master
seed and ``i``: features from ``derive_seed(seed, "toy", i, "signal")``, masses from
``derive_seed(seed, "toy", i, "signal", "m_llg")`` (key ``("observed",)`` for the observed run).

Signal features (``source``):

``background_mllg``
    ``n_signal`` events drawn from the toy's own background source (GAN sample, or the sample-2
    half of the MC for ``mc_bootstrap``) with ``m_llg`` replaced by draws from N(mass, width)
    truncated to the histogram range ``[fit.hist_low, fit.hist_high]`` (exact inverse-CDF
    sampling of the truncated Gaussian). Recomputed, because they are exact functions of m_llg:

    * ``e_llg = sqrt(m_llg^2 + (pt_llg cosh eta_llg)^2)`` (the llg system keeps its
      three-momentum, only its mass changes);
    * ``pt_ll_over_m_llg = pt_ll / m_llg``.

    Left as drawn: the ll-system features (the Z candidate of a scalar -> Z gamma decay is a Z
    whatever the scalar's mass), ``pt_llg``, ``eta_llg``, ``phi_llg`` and ``dphi_met_llg`` (the
    system's momentum and direction), MET and the jets. A real heavy scalar would change their
    distributions (e.g. pt_ll, set by the two-body momentum (m^2 - m_Z^2) / 2m); modelling that
    needs a signal generator, and the MC stage has no signal process today (a Pythia 8 heavy
    scalar -> Z gamma sample is a possible later ``source``). With background-like features the
    DNN can only find the signal through m_llg and the two recomputed features: the hardest
    case for the classifier, and the one where its m_llg sculpting matters most.

The Asimov significance a strong injected signal is compared with is
``ganlee.stats.significance.asimov_z`` (arXiv:1007.1727, eq. 97).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.special import ndtr, ndtri

from ganlee.errors import ConfigError
from ganlee.features import FEATURE_NAMES
from ganlee.seeds import derive_seed
from ganlee.settings import Injection

__all__ = [
    "SIGNAL_SOURCES",
    "Injection",
    "draw_signal",
    "signal_fractions",
    "truncated_normal",
    "with_mllg",
]

#: Supported ``toys.inject.source`` values.
SIGNAL_SOURCES = Injection.SOURCES

_COL = {name: j for j, name in enumerate(FEATURE_NAMES)}


def truncated_normal(
    n: int, mass: float, width: float, window: tuple[float, float], seed: int
) -> np.ndarray:
    """``n`` draws of N(mass, width) truncated to ``window``, float64, from ``seed`` alone.

    Inverse-CDF sampling, ``x = mass + width Phi^-1(Phi(a) + u (Phi(b) - Phi(a)))`` with
    ``a, b`` the standardised window edges and ``u`` uniform: the exact truncated distribution,
    the same as redrawing every value outside the window, with a fixed number of random numbers.
    """
    lo, hi = window
    u = np.random.default_rng(int(seed)).random(int(n))
    pa, pb = ndtr((lo - mass) / width), ndtr((hi - mass) / width)
    x = mass + width * ndtri(pa + u * (pb - pa))
    return np.clip(x, lo, hi)


def signal_fractions(edges: np.ndarray, mass: float, width: float) -> np.ndarray:
    """Expected fraction of the injected events in each bin: the Gaussian N(mass, width)
    integrated over each bin and normalised to the histogram range (truncation); sums to 1."""
    e = np.asarray(edges, dtype=np.float64)
    cdf = ndtr((e - mass) / width)
    frac = np.diff(cdf)
    return frac / (cdf[-1] - cdf[0])


def with_mllg(events: torch.Tensor, m_llg: torch.Tensor) -> torch.Tensor:
    """Copy of ``events`` (n, 18) with m_llg replaced and the features computed from it redone.

    ``e_llg = sqrt(m_llg^2 + (pt_llg cosh eta_llg)^2)`` and ``pt_ll_over_m_llg = pt_ll / m_llg``
    (computed in float64, stored in the input dtype); every other column is unchanged.
    """
    if (
        events.dim() != 2
        or events.shape[1] != len(FEATURE_NAMES)
        or m_llg.shape != (events.shape[0],)
    ):
        msg = (
            f"with_mllg: need events (n, {len(FEATURE_NAMES)}) and m_llg (n,), got "
            f"{tuple(events.shape)} and {tuple(m_llg.shape)}"
        )
        raise ValueError(msg)
    x = events.to(torch.float64).clone()
    m = m_llg.to(device=x.device, dtype=torch.float64)
    p = x[:, _COL["pt_llg"]] * torch.cosh(x[:, _COL["eta_llg"]])
    x[:, _COL["m_llg"]] = m
    x[:, _COL["e_llg"]] = torch.sqrt(m * m + p * p)
    x[:, _COL["pt_ll_over_m_llg"]] = x[:, _COL["pt_ll"]] / m
    return x.to(events.dtype)


def draw_signal(
    source: Any, settings: Injection, seed: int, key: tuple[int | str, ...]
) -> torch.Tensor:
    """The injected events of the toy keyed ``key`` (e.g. ``("toy", i)``): ``(n_signal, 18)``.

    Features from ``source.draw("sample2", n, derive_seed(seed, *key, "signal"))``, m_llg from
    ``truncated_normal`` with ``derive_seed(seed, *key, "signal", "m_llg")``; on the source's
    device, float32 (as every source's events).
    """
    n = settings.n_signal
    if settings.source != "background_mllg":
        msg = f"config key 'toys.inject.source': unknown signal source {settings.source!r}"
        raise ConfigError(msg)
    base = source.draw("sample2", n, derive_seed(seed, *key, "signal"))
    m_seed = derive_seed(seed, *key, "signal", "m_llg")
    m = truncated_normal(n, settings.mass, settings.width, settings.window, m_seed)
    return with_mllg(base, torch.as_tensor(m, device=base.device))
