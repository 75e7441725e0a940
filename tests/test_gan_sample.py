"""Sampling API used by the toys: determinism, validity of every event, loading errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic import synthetic_events
from test_gan_preprocess import independently_invalid

from ganlee.features import FEATURE_NAMES
from ganlee.gan.sample import GanModel, load_model, sample, sample_torch
from ganlee.gan.train import train
from ganlee.io import InputError
from ganlee.settings import Settings

torch.set_num_threads(1)


#: physical: valid by construction (repairs only); minmax (the reference analysis's scaling)
#: relies on rejection: a barely trained 18-feature model yields
#: over 90% invalid events, so it is tested on 5 features after 6 epochs (about 16% rejected).
SETUPS = {
    "quantile": (FEATURE_NAMES, 3),
    "physical": (FEATURE_NAMES, 3),
    "minmax": (("m_llg", "phi_ll", "m_ll", "n_central_jets", "n_jets"), 6),
}


@pytest.fixture(scope="module", params=list(SETUPS))
def model(request, tmp_path_factory) -> GanModel:
    path = tmp_path_factory.mktemp(request.param) / "model.pt"
    names, epochs = SETUPS[request.param]
    x = synthetic_events(1500, seed=4)[:, [FEATURE_NAMES.index(n) for n in names]]
    cfg = {
        "seed": 9,
        "device": "cpu",
        "gan": {
            "epochs": epochs,
            "batch_size": 32,
            "n_critic": 2,
            "latent_dim": 8,
            "generator_layers": [32, 32],
            "critic_layers": [32, 32],
            "lr": 1e-3,
            "preprocessing": request.param,
            # The last iterate: an EMA of 6 epochs is still near the random initialisation.
            "ema_decay": 0.0,
            "monitor_every": 0,
        },
    }
    train(x, Settings.from_config(cfg), model_path=path, feature_names=names)
    return load_model(path)


def test_identical_seeds_identical_samples(model: GanModel) -> None:
    a = sample(model, 3000, seed=123)
    b = sample(model, 3000, seed=123)
    c = sample(model, 3000, seed=124)
    assert a.shape == (3000, len(model.feature_names))
    assert a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert np.mean(a != c) > 0.5
    t = sample_torch(model, 3000, seed=123)
    assert t.device == model.device
    assert t.dtype == torch.float32
    np.testing.assert_array_equal(t.double().numpy(), a)


def test_every_generated_event_is_valid(model: GanModel) -> None:
    x = sample(model, 20000, seed=7, batch_size=4096)
    assert not independently_invalid(x, model.window, model.feature_names).any()
    stats = model.last_stats
    assert stats.requested == 20000
    assert stats.drawn == 20000 + stats.rejected
    assert 0.0 <= stats.invalid_fraction < 0.5
    if model.preprocessor.mode == "minmax":
        assert stats.rejected > 0  # rejection really happened and was counted
    else:
        assert stats.rejected == 0  # valid by construction


def test_zero_events_and_bad_arguments(model: GanModel) -> None:
    assert sample(model, 0, seed=1).shape == (0, len(model.feature_names))
    with pytest.raises(ValueError, match="n must be >= 0"):
        sample(model, -1, seed=1)


def test_load_model_refuses_bad_files(tmp_path) -> None:
    with pytest.raises(InputError, match=r"'.*missing\.pt' does not exist"):
        load_model(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(InputError, match=r"junk\.pt' is not a readable torch checkpoint"):
        load_model(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(InputError, match=r"other\.pt' is not a ganlee GAN checkpoint"):
        load_model(other)
    broken = tmp_path / "broken.pt"
    torch.save({"format": "ganlee-gan-v1", "feature_names": ["a"]}, broken)
    with pytest.raises(InputError, match=r"broken\.pt' is damaged or incomplete"):
        load_model(broken)
