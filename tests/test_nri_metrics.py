"""NRI metrics: permutation-max accuracy (vs brute force), factorised accuracy, MSE definitions."""

import itertools

import numpy as np
import pytest
import torch

from gncontrol.nri.baselines import correlation_baseline, static_mse_per_horizon, static_window_mse
from gncontrol.nri.metrics import (
    combined_from_layers,
    edge_accuracy,
    factorised_accuracy,
    mse_per_horizon,
    sigmoid_factor_accuracy,
    window_mse,
)


def test_edge_accuracy_equals_brute_force_permutation_max():
    rng = np.random.default_rng(0)
    for k in (2, 3, 4):
        true = rng.integers(0, k, (30, 20))
        pred = np.where(rng.random((30, 20)) < 0.7, (true + 1) % k, rng.integers(0, k, (30, 20)))
        brute = max(float((np.asarray(p)[pred] == true).mean()) for p in itertools.permutations(range(k)))
        assert edge_accuracy(pred, true, k) == pytest.approx(brute)
    assert edge_accuracy(1 - true[:, :] % 2, true % 2, 2) == 1.0


def test_per_batch_protocol_is_at_least_global():
    rng = np.random.default_rng(1)
    true = rng.integers(0, 2, (256, 20))
    pred = rng.integers(0, 2, (256, 20))
    assert edge_accuracy(pred, true, 2, batch_size=16) >= edge_accuracy(pred, true, 2) - 1e-12


def test_factorised_accuracy_layers_and_combined():
    rng = np.random.default_rng(2)
    true = rng.integers(0, 2, (10, 20, 2))
    pred = true.copy()
    pred[..., 0] = 1 - pred[..., 0]  # layer 0 relabelled: still perfect after the best permutation
    pred[:5, :10, 1] = 1 - pred[:5, :10, 1]  # 50 of 200 wrong in layer 1
    acc = factorised_accuracy(pred, true, [2, 2], batch_size=None)
    assert acc["layer0"] == 1.0 and acc["layer1"] == pytest.approx(0.75) and acc["combined"] == pytest.approx(0.75)
    # fNRI's learned layers in the other order (springs in its layer 1): perfect, as the authors
    # score it (all 4! relabelings of the combined label), where per-layer relabeling gives chance
    acc = factorised_accuracy(true[..., ::-1], true, [2, 2], batch_size=None)
    assert acc == {"combined": 1.0, "layer0": 1.0, "layer1": 1.0}
    # NRI with K = 4 combined labels, shuffled by a permutation: perfect
    comb = combined_from_layers(true, [2, 2])
    perm = np.array([2, 0, 3, 1])
    acc = factorised_accuracy(perm[comb], true, [2, 2], batch_size=None)
    assert acc == {"combined": 1.0, "layer0": 1.0, "layer1": 1.0}
    # sfNRI: factors in the other order
    acc = sigmoid_factor_accuracy(true[..., ::-1], true, batch_size=None)
    assert acc["combined"] == 1.0


def test_mse_definitions_and_static_baseline():
    x = torch.arange(10.0).reshape(1, 1, 10, 1).expand(2, 3, 10, 2)
    h = static_mse_per_horizon(x, 2, 4)
    torch.testing.assert_close(h, torch.tensor([1.0, 4.0, 9.0, 16.0]))
    torch.testing.assert_close(mse_per_horizon(x[:, :, 3:7], x[:, :, 2:3].expand(2, 3, 4, 2)), h)
    seg = x[:, :, :5]
    # k = 1: every frame predicted from the one before: error 1; k = 4: frames 1..4 from frame 0
    assert static_window_mse(seg, 1) == pytest.approx(1.0)
    assert static_window_mse(seg, 4) == pytest.approx((1 + 4 + 9 + 16) / 4)
    assert window_mse(seg[:, :, 1:], seg[:, :, :-1]) == pytest.approx(1.0)


def test_correlation_baseline_learns_a_threshold():
    rng = np.random.default_rng(3)
    s, n, t = 200, 4, 30
    base = rng.standard_normal((s, 1, t, 1))
    coupled = rng.random((s, n)) < 0.5
    x = np.where(coupled[:, :, None, None], base, 0) + rng.standard_normal((s, n, t, 1))
    mask = ~np.eye(n, dtype=bool)
    labels = (coupled[:, :, None] & coupled[:, None, :])[:, mask].astype(int)
    res = correlation_baseline(x[:100], labels[:100], x[100:], labels[100:])
    assert res["accuracy"] > 0.85
