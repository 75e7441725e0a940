"""Synthetic feature events for the tests and the benchmarks (not physics, no Pythia).

``bench/`` scripts import this module from the ``tests`` directory.
"""

from __future__ import annotations

import math

import numpy as np

from ganlee.features import FEATURE_NAMES
from ganlee.gan.preprocess import PI32

__all__ = ["synthetic_events"]


def synthetic_events(n: int, seed: int, window: tuple[float, float] = (130.0, 170.0)) -> np.ndarray:
    """Z-gamma-like stand-in events (n, 18) in ``FEATURE_NAMES`` order.

    Not physics: simple draws that obey every validity rule and carry the exact relations of the
    real features (E = sqrt(m^2 + (pT cosh eta)^2), pT_ll / m_llg, DeltaPhi(MET, llg) wrapped
    into [-pi, pi], |DeltaPhi_ll| <= DeltaR_ll, n_central_jets <= n_jets), plus correlations
    (m_llg-pT_llg-jets, pT_ll-DeltaR_ll).
    """
    rng = np.random.default_rng(seed)
    lo, hi = window
    u = rng.random(n)
    scale = 12.0  # falling spectrum exp(-(m - lo) / scale), truncated to the window
    m_llg = lo - scale * np.log1p(-u * (1 - np.exp(-(hi - lo) / scale)))
    m_ll = np.clip(rng.normal(91.2, 3.0, n), 45.0, 125.0)
    pt_ll = np.exp(rng.normal(np.log(30.0), 0.5, n)) + 5.0
    eta_ll = rng.normal(0.0, 1.2, n)
    phi_ll = rng.uniform(-math.pi, math.pi, n)
    pt_llg = np.exp(rng.normal(np.log(8.0), 0.8, n) + 0.01 * (m_llg - lo))
    eta_llg = 0.6 * eta_ll + rng.normal(0.0, 0.9, n)
    phi_llg = rng.uniform(-math.pi, math.pi, n)
    dr_ll = np.clip(2.0 * m_ll / pt_ll * np.exp(rng.normal(0.0, 0.15, n)), 0.2, 5.0)
    dphi_ll = np.minimum(dr_ll * rng.uniform(0.3, 1.0, n), PI32) * rng.choice([-1.0, 1.0], n)
    met = np.exp(rng.normal(np.log(12.0), 0.6, n))
    phi_met = rng.uniform(-math.pi, math.pi, n)
    dphi = np.remainder(phi_met - phi_llg + math.pi, 2 * math.pi) - math.pi
    n_jets = rng.poisson(0.5 + pt_llg / 15.0)
    n_central = rng.binomial(n_jets, 0.7)
    cols = {
        "m_llg": m_llg,
        "phi_llg": phi_llg,
        "eta_llg": eta_llg,
        "pt_llg": pt_llg,
        "e_llg": np.hypot(m_llg, pt_llg * np.cosh(eta_llg)),
        "m_ll": m_ll,
        "phi_ll": phi_ll,
        "eta_ll": eta_ll,
        "pt_ll": pt_ll,
        "e_ll": np.hypot(m_ll, pt_ll * np.cosh(eta_ll)),
        "dr_ll": dr_ll,
        "met": met,
        "phi_met": phi_met,
        "dphi_ll": dphi_ll,
        "dphi_met_llg": np.clip(dphi, -PI32, PI32),
        "pt_ll_over_m_llg": pt_ll / m_llg,
        "n_jets": n_jets.astype(np.float64),
        "n_central_jets": n_central.astype(np.float64),
    }
    return np.column_stack([cols[name] for name in FEATURE_NAMES])
