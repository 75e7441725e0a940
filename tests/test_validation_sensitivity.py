"""Sensitivity to an injected signal (ganlee.validation.sensitivity): Asimov limits, found
probability, and a strong Gaussian signal fitted by the LEE stage's fits, found at the right mass
with the Asimov significance."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from synthetic import synthetic_events

from ganlee.config import load_config
from ganlee.features import FEATURE_NAMES
from ganlee.io import write_features
from ganlee.settings import load_settings
from ganlee.stats.fit import FitSpec, expected_counts, scan, signal_shape
from ganlee.toys.run import ToyEngine
from ganlee.toys.sources import make_source
from ganlee.validation.sensitivity import (
    asimov_expectation,
    asimov_z,
    binned_asimov_z,
    found_probability,
    sensitivity_summary,
)

torch.set_num_threads(1)


# ------------------------------------------------------------------------------ Asimov Z
@pytest.mark.parametrize("b", [1e2, 1e4, 1e6])
def test_asimov_small_signal_limit_is_s_over_sqrt_b(b):
    s = 1e-3 * b
    assert float(asimov_z(s, b)) == pytest.approx(s / np.sqrt(b), rel=1e-3)


def test_asimov_known_values_and_large_signal():
    # s = b: sqrt(2 (2b ln 2 - b))
    assert float(asimov_z(100.0, 100.0)) == pytest.approx(np.sqrt(2 * (200 * np.log(2) - 100)))
    # s >> b: Z_A -> sqrt(2 s (ln(s/b) - 1)) to leading order, far above s / sqrt(b)'s meaning
    s, b = 1e4, 1.0
    assert float(asimov_z(s, b)) == pytest.approx(np.sqrt(2 * ((s + b) * np.log1p(s / b) - s)))
    assert float(asimov_z(s, b)) < s / np.sqrt(b)
    assert float(asimov_z(0.0, 5.0)) == 0.0


def test_binned_asimov_adds_bins_in_quadrature():
    s = np.array([1.0, 4.0, 0.0])
    b = np.array([100.0, 100.0, 0.0])  # an empty bin without signal is skipped
    expected = np.sqrt(float(asimov_z(1.0, 100.0)) ** 2 + float(asimov_z(4.0, 100.0)) ** 2)
    assert float(binned_asimov_z(s, b)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="b > 0 wherever s > 0"):
        binned_asimov_z([1.0], [0.0])


# ------------------------------------------------------------------------------ found fraction
def test_found_probability_counts_the_window_and_its_interval():
    m = np.array([150.0, 145.0, 155.0, 144.0, 156.0, np.nan, 150.5, 170.0])
    f = found_probability(m, 150.0, 2.5, n_sigma=2.0)
    assert f["n_found"] == 4  # 150, 145 and 155 (edges included), 150.5
    assert f["n_toys"] == 8
    assert f["probability"] == 0.5
    assert f["lo"] < 0.5 < f["hi"]
    assert f["window"] == [145.0, 155.0]
    none = found_probability(np.full(10, 135.0), 150.0, 2.5)
    assert none["probability"] == 0.0
    assert none["lo"] == 0.0
    assert 0 < none["hi"] < 0.2


# ------------------------------------------------------------------------------ with the fits
def _spec() -> FitSpec:
    return FitSpec.from_config(load_config(None))


def test_strong_signal_is_found_at_its_mass_with_the_asimov_significance():
    """Poisson toys of a smooth background plus 400 signal events at 150 GeV, fitted by the batched
    LEE fits: found within 2 sigma every time, median Z close to the Asimov expectation."""
    spec = _spec()
    n_bkg, n_sig, mass = 20_000, 400, 150.0
    b = expected_counts(spec, 1.0, -0.8, 0.1)
    b *= n_bkg / b.sum()
    s = n_sig * signal_shape(spec, [mass])[0]
    expect = asimov_expectation(b, n_sig, mass, spec.sigma, spec)
    # known background: the formula; fitted background (3 free parameters) absorbs part of the bump
    assert expect["known_background"] == pytest.approx(float(binned_asimov_z(s, b)), rel=1e-3)
    assert 0.5 * expect["known_background"] < expect["profiled"] < expect["known_background"]
    rng = np.random.default_rng(5)
    counts = rng.poisson(b + s, size=(60, b.size)).astype(np.float64)
    res = scan(counts, spec, backend="batched")
    z = np.asarray(res.z, dtype=np.float64)[:, None, :]  # (K, S=1, M)
    zmax = np.nanmax(z, axis=(1, 2))
    mass_at = spec.masses[np.nanargmax(z[:, 0, :], axis=1)]
    out = sensitivity_summary(zmax, mass_at, z, spec.masses, mass, spec.sigma, n_sigma=2.0)
    assert out["found"]["probability"] == 1.0
    assert abs(out["fitted_mass"]["mean"] - mass) < 1.0
    # Z at the true mass: median = Asimov (arXiv:1007.1727), +-1.25/sqrt(60) ~ 0.16 of noise
    assert out["z_at_mass"]["median"] == pytest.approx(expect["profiled"], abs=0.5)
    # the maximum over 31 masses lies a little above it
    assert expect["profiled"] - 0.3 < out["z_local"]["median"] < expect["profiled"] + 1.0


def test_global_significance_from_a_calibration():
    """The median local Z of the injected toys gets the calibration's global Z."""
    spec = _spec()
    zcal = np.linspace(0.0, 4.0, 401)  # calibration toys: z_max uniform in [0, 4]
    lee_summary = {
        "gross_vitells": {
            "union": {"z0": 1.0, "n_mean": 1.0, "n_err": 0.0, "n_local": 1},
            "scan": {"z0": 1.0, "n_mean": 1.0, "n_err": 0.0, "n_local": 1},
        }
    }
    zmax = np.full(11, 3.0)
    z = np.zeros((11, 1, spec.masses.size))
    out = sensitivity_summary(
        zmax,
        np.full(11, 150.0),
        z,
        spec.masses,
        150.0,
        2.5,
        calibrations={"main": (zcal, lee_summary)},
    )
    g = out["global"]["main"]["median"]
    assert g["p_global_toys"] == pytest.approx(101 / 401)  # toys with z_max >= 3
    assert g["toys_reachable"]


# ------------------------------------------------------------------------------ the toy engine
def test_injected_toys_through_the_engine_are_found(tmp_path):
    """ToyEngine with toys.inject (MC-bootstrap source, tiny DNN): the inclusive selection finds a
    strong injected resonance at its mass, with Z near the binned Asimov expectation."""
    mc = synthetic_events(6000, 7)
    path = tmp_path / "mc.root"
    write_features(path, {n: mc[:, j] for j, n in enumerate(FEATURE_NAMES)})
    n2, n_sig = 2500, 250
    cfg = load_settings(
        json.dumps(
            {
                "seed": 3,
                "device": "cpu",
                "toys": {
                    "source": "mc_bootstrap",
                    "sample1_size": n2,
                    "sample2_size": n2,
                    "chunk_size": 8,
                    "selections": [0.5, 1.0],
                    "dnn": {"layers": [8], "epochs": 1, "batch_size": 256},
                    "inject": {"n_signal": n_sig, "mass": 150.0},
                },
            }
        )
    )
    engine = ToyEngine(cfg, make_source(cfg, path, None, torch.device("cpu")), stream=io.StringIO())
    res = engine.run_toys(0, 8, progress=False)
    spec = FitSpec.from_settings(cfg.fit)
    z = np.asarray(res["z"], dtype=np.float64)
    out = sensitivity_summary(res["z_max"], res["mass_at_max"], z, spec.masses, 150.0, spec.sigma)
    assert out["found"]["probability"] >= 7 / 8
    # expected background: the pool's spectrum smoothed by the background-only fit
    pool = mc[:, FEATURE_NAMES.index("m_llg")]
    fit = scan(
        np.histogram(pool, bins=spec.edges)[0][None, :].astype(float), spec, backend="batched"
    )
    b = expected_counts(spec, *np.asarray(fit.bkg_params)[0])
    b *= n2 / b.sum()
    expect = asimov_expectation(b, n_sig, 150.0, spec.sigma, spec)
    # Z at the injected mass, the larger of the two selections: about the inclusive expectation
    assert out["z_at_mass"]["median"] == pytest.approx(expect["profiled"], abs=1.0)
