"""Normaliser: per-feature statistics, constant features, round trips, bad input."""

import pytest
import torch

from gncontrol.normalisers import Normaliser


def test_fit_normalise_inverse_roundtrip_and_constant_features():
    x = torch.randn(500, 3) * torch.tensor([2.0, 0.5, 0.0]) + torch.tensor([1.0, -3.0, 7.0])
    n = Normaliser(3).fit(x)
    y = n(x)
    assert torch.allclose(y[:, :2].mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(y[:, :2].std(0, unbiased=False), torch.ones(2), atol=1e-4)
    assert n.std[2] == 1.0 and torch.all(y[:, 2] == 0)  # constant feature: centred, not divided
    assert torch.allclose(n.inverse(y), x, atol=1e-5)
    # a constant feature is restored exactly whatever a model predicts for it
    assert n.inverse(torch.full((1, 3), 5.0))[0, 2] == 7.0


def test_fit_rejects_wrong_size_and_nan():
    with pytest.raises(ValueError, match="size 3 cannot fit data with 2 features"):
        Normaliser(3).fit(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="NaN"):
        Normaliser(1).fit(torch.tensor([[1.0], [float("nan")]]))


def test_state_dict_roundtrip():
    n = Normaliser(2).fit(torch.randn(50, 2) * 3)
    m = Normaliser(2)
    m.load_state_dict(n.state_dict())
    assert torch.equal(m.mean, n.mean) and torch.equal(m.std, n.std)
