"""The batched classifier: hashing RNG, lockstep equivalence, Adam + Keras decay, separation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.metrics import roc_auc_score

from ganlee.settings import DnnSettings, Settings
from ganlee.toys.classifier import (
    StackedMLP,
    hash_bits,
    hash_permutation,
    hash_uniform,
    lr_at,
    predict_logits,
    train_stacked,
)

torch.set_num_threads(1)


def DNNConfig(**kw) -> DnnSettings:
    """``toys.dnn`` settings: the schema defaults with ``kw`` changed."""
    kw = {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}
    return Settings.from_config({"toys": {"dnn": kw}}).toys.dnn


def _lowbias32(x: int) -> int:
    """Reference lowbias32 on Python integers (exact arithmetic mod 2**32)."""
    m = 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & m
    x ^= x >> 15
    x = (x * 0x846CA68B) & m
    return x ^ (x >> 16)


def _hash_reference(seed: int, counter: int) -> int:
    lo, hi = seed & 0xFFFFFFFF, seed >> 32
    k1 = _lowbias32(lo ^ _lowbias32(hi ^ 0x9E3779B9))
    k2 = _lowbias32(hi ^ _lowbias32(lo ^ 0x85EBCA6B))
    return _lowbias32(_lowbias32((counter + k1) & 0xFFFFFFFF) ^ k2)


def test_hash_matches_exact_integer_reference():
    seeds = [0, 1, 2**62 + 12345, 2**63 - 1, 987654321987]
    got = hash_bits(seeds, 50, start=2**32 - 60).numpy()
    for i, s in enumerate(seeds):
        want = [_hash_reference(s, c) for c in range(2**32 - 60, 2**32 - 10)]
        assert got[i].tolist() == want


def test_hash_permutation_is_a_permutation_and_uniform():
    n = 7
    perms = hash_permutation(list(range(1, 7001)), n).numpy()
    assert (np.sort(perms, axis=1) == np.arange(n)).all()
    # where element 0 lands is uniform over the n positions
    pos0 = np.argmax(perms == 0, axis=1)
    counts = np.bincount(pos0, minlength=n)
    assert stats.chisquare(counts).pvalue > 1e-3
    # distinct seeds give distinct orders, same seed the same order
    assert len({tuple(p) for p in perms[:200]}) > 150
    assert torch.equal(hash_permutation([5], 1000), hash_permutation([5], 1000))


def test_hash_uniform_is_uniform_and_streams_independent():
    u = hash_uniform([11, 12], 20000).numpy()
    assert ((u > 0) & (u < 1)).all()
    assert stats.kstest(u[0], "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(u[0], u[1])[0, 1]) < 0.03


def test_negative_seed_refused():
    with pytest.raises(ValueError, match="non-negative"):
        hash_bits([-1], 3)


def _two_class_data(
    n: int, shift: float, seed: int, n_features: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * n, n_features, generator=g)
    x[n:, 0] += shift
    y = torch.cat([torch.zeros(n), torch.ones(n)])
    return x, y


def test_batched_equals_one_model_at_a_time():
    cfg = DNNConfig(layers=(24, 12, 8), epochs=3, batch_size=50)
    blocks = [_two_class_data(150, s, seed) for s, seed in ((0.0, 1), (1.0, 2), (2.5, 3))]
    data = torch.cat([b[0] for b in blocks])
    labels = torch.cat([b[1] for b in blocks])
    init = [101, 202, 303]
    shuffle = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    net = StackedMLP(3, 4, cfg.layers)
    net.reset_parameters(init)
    hist = train_stacked(net, data, labels, shuffle, cfg)
    test_x = torch.randn(3, 40, 4, generator=torch.Generator().manual_seed(9))
    out = net(test_x).detach()
    for k, (x, y) in enumerate(blocks):
        one = StackedMLP(1, 4, cfg.layers)
        one.reset_parameters([init[k]])
        h1 = train_stacked(one, x, y, [shuffle[k]], cfg)
        torch.testing.assert_close(h1[:, 0], hist[:, k], rtol=1e-5, atol=1e-6)
        for w_all, w_one in zip(net.weights, one.weights, strict=True):
            torch.testing.assert_close(w_all[k], w_one[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(one(test_x[k : k + 1]).detach()[0], out[k], rtol=1e-5, atol=1e-5)


def test_explicit_rows_equal_contiguous_blocks():
    """Training through a row table is the same as training on contiguous blocks."""
    cfg = DNNConfig(layers=(8,), epochs=2, batch_size=32)
    x, y = _two_class_data(100, 1.0, 4)
    data = torch.cat([x, x])
    labels = torch.cat([y, y])
    a = StackedMLP(2, 4, cfg.layers)
    a.reset_parameters([1, 2])
    train_stacked(a, data, labels, [[3, 4], [5, 6]], cfg)
    b = StackedMLP(2, 4, cfg.layers)
    b.reset_parameters([1, 2])
    rows = torch.stack([torch.arange(200), torch.arange(200, 400)])
    train_stacked(b, data, labels, [[3, 4], [5, 6]], cfg, rows=rows)
    for wa, wb in zip(a.weights, b.weights, strict=True):
        torch.testing.assert_close(wa, wb)


def test_glorot_uniform_init():
    net = StackedMLP(2, 300, (200,))
    net.reset_parameters([1, 2])
    w = net.weights[0].detach().numpy()
    limit = np.sqrt(6.0 / 500)
    assert np.abs(w).max() <= limit
    # uniform on [-limit, limit]: variance limit^2 / 3, and the two models differ
    assert w.var() == pytest.approx(limit**2 / 3, rel=0.02)
    assert not np.allclose(w[0], w[1])
    assert all(float(b.detach().abs().max()) == 0.0 for b in net.biases)


def test_adam_steps_follow_keras_decay():
    """With constant-sign gradients each Adam step moves a weight by lr_t = lr / (1 + decay t)."""
    lr, decay = 1e-4, 1.0
    cfg = DNNConfig(layers=(), lr=lr, decay=decay, epochs=3, batch_size=1000)
    x, y = _two_class_data(500, 2.0, 5, n_features=3)
    net = StackedMLP(1, 3, ())
    net.reset_parameters([7])
    steps = []
    for epoch in range(3):
        before = net.weights[0].detach().clone()
        train_stacked(
            net,
            x,
            y,
            [[epoch]],
            DNNConfig(layers=(), lr=lr_at(cfg, epoch), decay=0.0, epochs=1, batch_size=1000),
        )
        steps.append((net.weights[0].detach() - before).abs())
    # a fresh optimiser each epoch: every first Adam step has size lr (|m_hat| / sqrt(v_hat) = 1)
    for t, d in enumerate(steps):
        np.testing.assert_allclose(d.numpy(), lr / (1 + decay * t), rtol=3e-3)
    # one optimiser for 3 steps (one batch per epoch): m_hat/sqrt(v_hat) stays 1 for a gradient
    # that barely changes, so the steps are the decayed learning rates themselves
    net2 = StackedMLP(1, 3, ())
    net2.reset_parameters([7])
    w0 = net2.weights[0].detach().clone()
    train_stacked(net2, x, y, [[0, 1, 2]], cfg)
    total = (net2.weights[0].detach() - w0).abs()
    np.testing.assert_allclose(total.numpy(), lr * (1 + 1 / 2 + 1 / 3), rtol=3e-3)


@pytest.mark.parametrize(("shift", "lo", "hi"), [(4.0, 0.95, 1.0), (0.0, 0.45, 0.55)])
def test_separation_auc(shift, lo, hi):
    """Clearly different Gaussians: AUC > 0.95 on fresh events; identical ones: AUC ~ 0.5."""
    cfg = DNNConfig(epochs=3, batch_size=128)  # the reference architecture
    x, y = _two_class_data(1500, shift, 11)
    net = StackedMLP(1, 4, cfg.layers)
    net.reset_parameters([3])
    train_stacked(net, x, y, [[1, 2, 3]], cfg)
    xt, yt = _two_class_data(3000, shift, 12)
    logits = predict_logits(net, xt, torch.arange(6000)[None, :])[0].numpy()
    auc = roc_auc_score(yt.numpy(), logits)
    assert lo < auc < hi


def test_shape_errors_are_clear():
    net = StackedMLP(2, 3, (4,))
    with pytest.raises(ValueError, match=r"\(2, B, 3\)"):
        net(torch.zeros(1, 5, 3))
    with pytest.raises(ValueError, match="2 models"):
        net.reset_parameters([1])
    with pytest.raises(ValueError, match="shuffle_seeds"):
        train_stacked(net, torch.zeros(10, 3), torch.zeros(10), [[1]], DNNConfig(epochs=1))
