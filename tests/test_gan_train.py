"""WGAN training: learning a known distribution, resuming, divergence, weight clipping, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from synthetic import synthetic_events

from ganlee.config import ConfigError
from ganlee.features import FEATURE_NAMES
from ganlee.gan.metrics import evaluate
from ganlee.gan.models import init_seeded
from ganlee.gan.sample import load_model, sample
from ganlee.gan.train import TrainingDivergedError, train
from ganlee.io import InputError
from ganlee.seeds import derive_seed
from ganlee.settings import Settings

torch.set_num_threads(1)

TINY = {
    "batch_size": 32,
    "n_critic": 2,
    "latent_dim": 8,
    "generator_layers": [24, 24],
    "critic_layers": [24, 24],
    "lr": 1e-3,
}


def _train(x, cfg, **kw):
    """``train`` of a (partial) config mapping, typed by ``Settings``."""
    return train(x, Settings.from_config(cfg), **kw)


def tiny_cfg(**gan: object) -> dict:
    return {"seed": 5, "device": "cpu", "gan": {**TINY, "epochs": 4, "checkpoint_every": 2, **gan}}


@pytest.fixture(scope="module")
def events() -> np.ndarray:
    return synthetic_events(1500, seed=21)


def mixture(n: int, seed: int) -> np.ndarray:
    """Two correlated 2-D Gaussians (60/40) and a Poisson count with a mean set by the component."""
    rng = np.random.default_rng(seed)
    comp = rng.random(n) < 0.6
    c1 = rng.multivariate_normal([-0.5, -0.5], [[0.5, 0.4], [0.4, 0.5]], n)
    c2 = rng.multivariate_normal([1.0, 0.5], [[0.6, -0.3], [-0.3, 0.6]], n)
    k = rng.poisson(np.where(comp, 1.0, 2.5))
    return np.column_stack([np.where(comp[:, None], c1, c2), k.astype(float)])


def test_learns_gaussian_mixture_with_integer_column(tmp_path) -> None:
    """About 400 generator steps of small nets: every per-feature W1 below 0.5 MC standard
    deviations and a classifier AUC below 0.85 (the untrained generator: AUC > 0.95)."""
    names, kinds = ("a", "b", "k"), {"k": "integer"}
    cfg = {
        "seed": 1,
        "device": "cpu",
        "gan": {
            "epochs": 60,
            "batch_size": 256,
            "latent_dim": 4,
            "generator_layers": [64, 64],
            "critic_layers": [64, 64],
            "lr": 1e-3,
            "gp_weight": 0.1,
            "checkpoint_every": 1000,
            "monitor_every": 0,
            "ema_decay": 0.0,
        },
    }
    res = _train(
        mixture(12000, 1), cfg, model_path=tmp_path / "m.pt", feature_names=names, kinds=kinds
    )
    assert res.steps_per_epoch * 60 >= 400
    model = load_model(tmp_path / "m.pt")
    ref = mixture(4000, 99)
    gen = sample(model, 4000, 3)
    assert np.all(gen[:, 2] == np.round(gen[:, 2]))
    assert gen[:, 2].min() >= 0
    ev = evaluate(ref, gen, names, seed=0, classifier_iter=50)
    w1 = {n: v["w1_over_std"] for n, v in ev["per_feature"].items()}
    assert max(w1.values()) < 0.5, w1
    assert ev["classifier"]["auc"] < 0.85, ev["classifier"]
    # The same generator before training is easily told apart: the bounds are not vacuous.
    stored = Settings.from_config({"gan": model.config}).gan
    g0, _ = init_seeded(stored, 3, derive_seed(1, "gan_init"))
    with torch.no_grad():
        dec = model.preprocessor.decode(
            g0(torch.randn(4000, 4, generator=torch.Generator().manual_seed(0)))
        )
    x0 = dec.x[dec.valid].double().numpy()
    ev0 = evaluate(ref[: len(x0)], x0, names, seed=0, classifier_iter=50)
    assert ev0["classifier"]["auc"] > 0.95


def test_resume_after_interruption_continues_history(tmp_path, events: np.ndarray) -> None:
    cfg = tiny_cfg()
    full = _train(
        events, cfg, model_path=tmp_path / "full.pt", checkpoint_path=tmp_path / "full_ck.pt"
    )
    assert [r["epoch"] for r in full.history] == [1, 2, 3, 4]

    class Killed(Exception):
        pass

    def kill_in_epoch_3(epoch: int, row: dict) -> None:
        if epoch == 3:
            raise Killed

    ck, model = tmp_path / "ck.pt", tmp_path / "model.pt"
    with pytest.raises(Killed):
        _train(
            events,
            cfg,
            model_path=model,
            history_path=tmp_path / "h.csv",
            checkpoint_path=ck,
            callback=kill_in_epoch_3,
        )
    assert ck.is_file()
    assert not model.exists()
    assert not (tmp_path / "h.csv").exists()
    res = _train(events, cfg, model_path=model, history_path=tmp_path / "h.csv", checkpoint_path=ck)
    assert res.resumed_from == 2
    assert [r["epoch"] for r in res.history] == [1, 2, 3, 4]
    keys = ("loss_critic", "loss_generator", "wasserstein", "gradient_penalty")
    for a, b in zip(full.history, res.history, strict=True):
        assert [a[k] for k in keys] == [b[k] for k in keys]  # the same run, bit for bit on CPU
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,")
    assert len(lines) == 5
    a, b = load_model(tmp_path / "full.pt"), load_model(model)
    for pa, pb in zip(a.generator.parameters(), b.generator.parameters(), strict=True):
        assert torch.equal(pa, pb)


def test_train_two_epochs_then_extend_to_four(tmp_path, events: np.ndarray) -> None:
    ck = tmp_path / "ck.pt"
    first = _train(events, tiny_cfg(epochs=2), model_path=tmp_path / "m2.pt", checkpoint_path=ck)
    more = _train(events, tiny_cfg(epochs=4), model_path=tmp_path / "m4.pt", checkpoint_path=ck)
    assert more.resumed_from == 2
    assert more.history[:2] == first.history
    assert [r["epoch"] for r in more.history] == [1, 2, 3, 4]
    assert load_model(tmp_path / "m4.pt").history == more.history


def test_checkpoint_of_another_config_is_not_resumed(tmp_path, events: np.ndarray, capsys) -> None:
    ck = tmp_path / "ck.pt"
    _train(events, tiny_cfg(epochs=2), checkpoint_path=ck)
    res = _train(events, tiny_cfg(epochs=2, lr=5e-4), checkpoint_path=ck)
    assert res.resumed_from == 0
    assert "another config" in capsys.readouterr().err


def test_checkpoint_round_trip(tmp_path, events: np.ndarray) -> None:
    import hashlib

    from ganlee.gan.train import split_indices

    cfg = tiny_cfg(epochs=2)
    _train(events, cfg, model_path=tmp_path / "m.pt", checkpoint_path=tmp_path / "ck.pt")
    m = load_model(tmp_path / "m.pt")
    ck = torch.load(tmp_path / "ck.pt", weights_only=True)
    for name, p in m.generator.state_dict().items():
        assert torch.equal(p, ck["generator_state"][name])
    assert m.feature_names == FEATURE_NAMES
    assert m.config["generator_layers"] == [24, 24]
    assert m.config["epochs"] == 2
    assert m.window == (130.0, 170.0)
    assert m.sha == hashlib.sha256((tmp_path / "m.pt").read_bytes()).hexdigest()[:16]
    assert m.device == torch.device("cpu")
    _, hold = split_indices(len(events), 0.2, 5)
    np.testing.assert_array_equal(m.split["holdout_indices"].numpy(), hold)
    assert len(hold) == 300
    # The checkpoint resumes to the same sampler as the model file.
    m2 = load_model(tmp_path / "ck.pt")
    np.testing.assert_array_equal(sample(m, 500, 1), sample(m2, 500, 1))


def test_wgan_clip_trains_with_clipped_critic(tmp_path, events: np.ndarray) -> None:
    res = _train(
        events,
        tiny_cfg(kind="wgan_clip", epochs=2, clip_value=0.02),
        checkpoint_path=tmp_path / "ck.pt",
    )
    assert all(
        np.isfinite([r[k] for k in ("loss_critic", "loss_generator")]).all() for r in res.history
    )
    assert all(r["gradient_penalty"] == 0.0 for r in res.history)
    ck = torch.load(tmp_path / "ck.pt", weights_only=True)
    biggest = max(float(t.abs().max()) for t in ck["trainer_state"]["critic_state"].values())
    assert 0.0 < biggest <= 0.02


@pytest.mark.parametrize("kind", ["wgan_gp", "wgan_clip"])
def test_divergence_stops_with_clear_error(tmp_path, events: np.ndarray, kind: str) -> None:
    with pytest.raises(
        TrainingDivergedError, match=r"non-finite loss at epoch 1.*no model written.*gan\.lr"
    ):
        _train(
            events,
            tiny_cfg(kind=kind, lr=1e10),
            model_path=tmp_path / "m.pt",
            history_path=tmp_path / "h.csv",
        )
    assert not (tmp_path / "m.pt").exists()
    assert not (tmp_path / "h.csv").exists()


def test_nan_features_refused_by_train(events: np.ndarray) -> None:
    x = events.copy()
    x[3, FEATURE_NAMES.index("eta_ll")] = np.nan
    with pytest.raises(InputError, match=r"'eta_ll'.*row 3"):
        _train(x, tiny_cfg())


def test_batch_larger_than_training_split_refused(events: np.ndarray) -> None:
    with pytest.raises(ConfigError, match=r"gan\.batch_size \(1024\)"):
        _train(events, tiny_cfg(batch_size=1024))


def test_cuda_graph_refused_on_cpu(events: np.ndarray) -> None:
    with pytest.raises(ConfigError, match=r"gan\.fast_path"):
        _train(events, tiny_cfg(fast_path="cuda_graph"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_matches_eager_on_gpu(events: np.ndarray) -> None:
    """The captured step replays the eager step: same losses up to float non-associativity."""
    runs = {}
    for path in ("eager", "cuda_graph"):
        cfg = {**tiny_cfg(epochs=3, fast_path=path), "device": "cuda"}
        runs[path] = _train(events, cfg).history
    keys = ("loss_critic", "loss_generator", "wasserstein")
    for a, b in zip(runs["eager"], runs["cuda_graph"], strict=True):
        np.testing.assert_allclose([a[k] for k in keys], [b[k] for k in keys], rtol=1e-3, atol=1e-4)


def test_ema_update_is_the_warmed_up_running_average(events: np.ndarray) -> None:
    """After the first generator step the EMA moved 1 - min(decay, 1/10) of the way from the
    initial weights to the updated generator's (TensorFlow's warm-up), and nothing before."""
    from ganlee.gan.preprocess import Preprocessor
    from ganlee.gan.wgan import Trainer

    gan = Settings.from_config(tiny_cfg(ema_decay=0.999)).gan
    pre = Preprocessor.fit(events, FEATURE_NAMES, window=(130.0, 170.0))
    data = torch.from_numpy(pre.encode(events, np.random.default_rng(0)))
    G, D = init_seeded(gan, pre.dim, 1)
    t = Trainer(G, D, data, gan, torch.device("cpu"))
    init = [p.detach().clone() for p in t.G.parameters()]
    t.fill_epoch(2)
    t.run_steps(1)
    for e, p0, p in zip(t.G_ema.parameters(), init, t.G.parameters(), strict=True):
        torch.testing.assert_close(e, p0 + 0.9 * (p.detach() - p0))
    assert t.sampler is t.G_ema


def test_saved_generator_is_the_best_monitored_one(tmp_path, events: np.ndarray) -> None:
    from ganlee.gan.monitor import Monitor

    cfg = tiny_cfg(epochs=6, monitor_every=1, monitor_fraction=0.2, recalibrate=False)
    res = _train(events, cfg, model_path=tmp_path / "m.pt", history_path=tmp_path / "h.csv")
    scores = [r["monitor_score"] for r in res.history]
    model = load_model(tmp_path / "m.pt")
    assert model.best is not None
    assert model.best["epoch"] == 1 + int(np.argmin(scores))
    mon_idx = model.split["monitor_indices"].numpy()
    assert len(mon_idx) == 240
    assert not set(mon_idx) & set(model.split["holdout_indices"].numpy())
    monitor = Monitor(
        events[mon_idx], model.preprocessor, model.latent_dim, derive_seed(5, "gan_monitor")
    )
    again = monitor.evaluate(model.generator)  # the saved weights score exactly the kept best
    assert again["monitor_score"] == pytest.approx(min(scores), abs=1e-9)
    header = (tmp_path / "h.csv").read_text().splitlines()[0]
    assert header.endswith("monitor_auc,monitor_w1_m_llg,monitor_score")


def test_flow_learns_a_correlation_the_marginal_maps_cannot(tmp_path) -> None:
    """Gaussianised marginals are N(0, 1) by construction; the correlation 0.8 of a bivariate
    normal must be learnt by the flow. Its NLL per event tends to the entropy of that normal,
    ln(2 pi) + 1 + ln(1 - 0.8^2) / 2 = 2.327 (independent normals: 2.838)."""
    rng = np.random.default_rng(3)
    x = rng.multivariate_normal([0.0, 1.0], [[1.0, 0.8], [0.8, 1.0]], 6000)
    flow = {"epochs": 8, "transforms": 2, "hidden_features": [32, 32], "batch_size": 256}
    cfg = tiny_cfg(kind="flow", flow=flow, monitor_every=0)
    res = _train(x, cfg, model_path=tmp_path / "f.pt", feature_names=("a", "b"))
    nll = [r["loss_generator"] for r in res.history]
    assert nll[-1] == pytest.approx(np.log(2 * np.pi) + 1 + 0.5 * np.log(1 - 0.64), abs=0.03)
    model = load_model(tmp_path / "f.pt")
    assert model.config["kind"] == "flow"
    assert model.latent_dim == 2
    s = sample(model, 20000, 4)
    np.testing.assert_array_equal(s, sample(model, 20000, 4))
    assert np.corrcoef(s.T)[0, 1] == pytest.approx(0.8, abs=0.04)
    assert np.mean(s, axis=0) == pytest.approx([0.0, 1.0], abs=0.05)


def test_recalibration_restores_every_marginal_keeping_the_ranks(
    tmp_path, events: np.ndarray
) -> None:
    """A 3-epoch generator has wrong marginals; the recalibrated one reproduces the training
    marginal of every generated column (KS against the training events), and being monotone per
    column it leaves the generator's rank correlations unchanged."""
    from scipy import stats

    raw = _train(events, tiny_cfg(epochs=3, recalibrate=False), model_path=tmp_path / "raw.pt")
    cal = _train(events, tiny_cfg(epochs=3), model_path=tmp_path / "cal.pt")
    keys = ("loss_critic", "loss_generator", "wasserstein")
    assert [[r[k] for k in keys] for r in raw.history] == [
        [r[k] for k in keys] for r in cal.history
    ]
    m_raw, m_cal = load_model(tmp_path / "raw.pt"), load_model(tmp_path / "cal.pt")
    assert m_raw.preprocessor.recal is None
    assert m_cal.preprocessor.recal is not None
    a, b = sample(m_raw, 20000, 9), sample(m_cal, 20000, 9)
    train_rows = np.setdiff1d(np.arange(len(events)), m_cal.split["holdout_indices"].numpy())
    ref = events[train_rows]
    for name in ("m_llg", "pt_llg", "eta_ll", "met"):
        j = FEATURE_NAMES.index(name)
        ks_raw = stats.ks_2samp(a[:, j], ref[:, j]).statistic
        ks_cal = stats.ks_2samp(b[:, j], ref[:, j]).statistic
        assert ks_cal < 0.05 < ks_raw or ks_cal < 0.5 * ks_raw, (name, ks_raw, ks_cal)
    i, j = FEATURE_NAMES.index("m_llg"), FEATURE_NAMES.index("pt_llg")
    rho_raw = stats.spearmanr(a[:, i], a[:, j]).statistic
    rho_cal = stats.spearmanr(b[:, i], b[:, j]).statistic
    assert rho_cal == pytest.approx(rho_raw, abs=0.01)
