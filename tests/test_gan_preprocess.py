"""GAN preprocessing: exact round trips, validity by construction, the angle repair, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from synthetic import synthetic_events

from ganlee.features import ANGLE_FEATURES, FEATURE_NAMES, INTEGER_FEATURES, POSITIVE_FEATURES
from ganlee.gan.preprocess import PI32, Preprocessor
from ganlee.gan.train import check_finite
from ganlee.io import InputError

WINDOW = (130.0, 170.0)
COL = {n: j for j, n in enumerate(FEATURE_NAMES)}


def independently_invalid(
    x: np.ndarray, window: tuple[float, float] = WINDOW, names: tuple[str, ...] = FEATURE_NAMES
) -> np.ndarray:
    """Rows breaking a physical rule, checked here in float64 column by column."""
    x = np.asarray(x, dtype=np.float64)
    col = {n: x[:, j] for j, n in enumerate(names)}
    bad = ~np.isfinite(x).all(axis=1)
    for n in set(INTEGER_FEATURES) & set(names):
        bad |= (col[n] < 0) | (col[n] != np.round(col[n]))
    for n in set(ANGLE_FEATURES) & set(names):
        bad |= np.abs(col[n]) > math.pi
    for n in set(POSITIVE_FEATURES) & set(names) - {"m_llg"}:
        bad |= col[n] <= 0
    if "m_llg" in col:
        bad |= (col["m_llg"] < window[0]) | (col["m_llg"] > window[1])
    if "n_jets" in col and "n_central_jets" in col:
        bad |= col["n_central_jets"] > col["n_jets"]
    return bad


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    return synthetic_events(3000, seed=11)


def test_synthetic_events_obey_rules_and_relations(events: np.ndarray) -> None:
    assert not independently_invalid(events).any()
    c = {n: events[:, j] for j, n in enumerate(FEATURE_NAMES)}
    e_llg = np.sqrt(c["m_llg"] ** 2 + (c["pt_llg"] * np.cosh(c["eta_llg"])) ** 2)
    np.testing.assert_allclose(c["e_llg"], e_llg, rtol=1e-12)
    np.testing.assert_allclose(c["pt_ll_over_m_llg"], c["pt_ll"] / c["m_llg"], rtol=1e-12)
    assert np.all(np.abs(c["dphi_ll"]) <= c["dr_ll"] + 1e-12)


@pytest.mark.parametrize("mode", ["physical", "minmax"])
def test_encode_decode_round_trip(events: np.ndarray, mode: str) -> None:
    pre = Preprocessor.fit(
        events, FEATURE_NAMES, mode=mode, window=WINDOW, rng=np.random.default_rng(1)
    )
    z = pre.encode(events, np.random.default_rng(2))
    assert z.dtype == np.float32
    assert z.min() >= -1.01
    assert z.max() <= 1.01
    dec = pre.decode(torch.from_numpy(z))
    x = dec.x.double().numpy()
    assert bool(dec.valid.all())
    assert not bool(dec.repaired.any())
    for n in INTEGER_FEATURES:
        np.testing.assert_array_equal(x[:, COL[n]], events[:, COL[n]])
    cont = [COL[n] for n in FEATURE_NAMES if n not in INTEGER_FEATURES]
    np.testing.assert_allclose(x[:, cont], events[:, cont], rtol=2e-5, atol=2e-5)


def test_physical_outputs_valid_by_construction(events: np.ndarray) -> None:
    """Generator outputs far outside the training range still decode to valid events; the rows
    with a jet-count output below zero (reflected) or an angle beyond pi (wrapped) are flagged
    as repaired, and only those."""
    pre = Preprocessor.fit(
        events, FEATURE_NAMES, mode="physical", window=WINDOW, rng=np.random.default_rng(1)
    )
    z = torch.randn(20000, len(FEATURE_NAMES), generator=torch.Generator().manual_seed(3)) * 1.5
    dec = pre.decode(z)
    x = dec.x.double().numpy()
    assert not independently_invalid(x).any()
    assert bool(dec.valid.all())
    y = z.double().numpy() * pre.half + pre.mid
    neg = (y[:, [COL[n] for n in INTEGER_FEATURES]] < 0).any(axis=1)
    wrapped = (np.abs(y[:, [COL[n] for n in ANGLE_FEATURES]]) > math.pi).any(axis=1)
    np.testing.assert_array_equal(dec.repaired.numpy(), neg | wrapped)
    assert 0.0 < neg.mean() < 1.0
    assert 0.0 < wrapped.mean() < 1.0
    # Reflection: a count output y in (-1, 0) decodes to 0, y in (-2, -1) to 1.
    j = COL["n_central_jets"]
    for y_val, expected in ((-0.3, 0.0), (-1.5, 1.0), (2.7, 2.0)):
        zz = torch.zeros(1, len(FEATURE_NAMES))
        zz[0, j] = (y_val - pre.mid[j]) / pre.half[j]
        assert float(pre.decode(zz).x[0, j]) == expected


def test_minmax_rejects_exactly_the_invalid_rows(events: np.ndarray) -> None:
    pre = Preprocessor.fit(events, FEATURE_NAMES, mode="minmax", window=WINDOW)
    z = torch.randn(20000, len(FEATURE_NAMES), generator=torch.Generator().manual_seed(4)) * 1.2
    dec = pre.decode(z)
    bad = independently_invalid(dec.x.double().numpy())
    np.testing.assert_array_equal(dec.valid.numpy(), ~bad)
    assert 0.5 < bad.mean() < 1.0  # wide outputs: most rows break some bound


@pytest.mark.parametrize(
    ("folded", "y", "expected"),
    [
        (False, math.pi + 0.5, -math.pi + 0.5),
        (False, -math.pi - 0.25, math.pi - 0.25),
        (False, 1.0, 1.0),
        (True, -0.5, 0.5),
        (True, math.pi + 0.5, math.pi - 0.5),
        (True, 2.0, 2.0),
    ],
)
def test_angle_wrapped_modulo_two_pi(folded: bool, y: float, expected: float) -> None:
    rng = np.random.default_rng(5)
    data = rng.uniform(0.0 if folded else -math.pi, math.pi, (500, 1))
    pre = Preprocessor.fit(data, ("phi",), kinds={"phi": "angle"})
    z = torch.tensor([[(y - pre.mid[0]) / pre.half[0]]], dtype=torch.float32)
    dec = pre.decode(z)
    assert float(dec.x[0, 0]) == pytest.approx(expected, abs=2e-6)
    assert bool(dec.repaired[0]) == (abs(y - expected) > 1e-9)


def test_pi32_is_the_float32_below_pi() -> None:
    assert math.pi >= PI32
    assert float(np.nextafter(np.float32(PI32), np.float32(4.0))) > math.pi


def test_nan_features_refused_naming_the_column(events: np.ndarray) -> None:
    x = events.copy()
    x[7, COL["met"]] = np.nan
    x[9, COL["met"]] = np.inf
    with pytest.raises(InputError, match=r"'met' \(index 11\) has 2 non-finite value\(s\).*row 7"):
        check_finite(x, FEATURE_NAMES)


def test_m_llg_outside_window_refused(events: np.ndarray) -> None:
    x = events.copy()
    x[0, COL["m_llg"]] = 175.0
    with pytest.raises(ValueError, match=r"m_llg.*\[130.0, 170.0\].*m_llg_min"):
        Preprocessor.fit(x, FEATURE_NAMES, window=WINDOW)


def test_state_round_trip_through_torch_save(events: np.ndarray, tmp_path) -> None:
    pre = Preprocessor.fit(events, FEATURE_NAMES, window=WINDOW, rng=np.random.default_rng(1))
    torch.save(pre.state(), tmp_path / "pre.pt")
    back = Preprocessor.from_state(torch.load(tmp_path / "pre.pt", weights_only=True))
    z = torch.randn(1000, len(FEATURE_NAMES), generator=torch.Generator().manual_seed(6))
    assert torch.equal(pre.decode(z).x, back.decode(z).x)
    assert back.kinds == pre.kinds
    assert back.pairs == pre.pairs == ((COL["n_central_jets"], COL["n_jets"]),)
