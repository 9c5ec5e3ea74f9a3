"""The HNN authors' data draw and their energy-evaluation protocol (benchmarks/hamiltonian.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _bench import load_benchmark

from envs.particles.hamiltonian_systems import authors_dataset, make_dataset, make_system

notebook_energy_mse = load_benchmark("hamiltonian").notebook_energy_mse


def test_authors_dataset_follows_the_recipe_and_is_deterministic():
    sys_ = make_system("mass_spring")
    a = authors_dataset(sys_, 50, seed=0)
    assert a.states.shape == a.x.shape == a.dx.shape == (50, 30, 2)
    r = np.sqrt((a.states ** 2).sum(-1))
    assert np.abs(r - r[:, :1]).max() < 1e-6  # circles in (q, p)
    assert (r[:, 0] > 0.1 - 1e-9).all() and (r[:, 0] < 1.0 + 1e-9).all()
    assert abs(np.std(a.x - a.states) - 0.1) < 0.01  # input noise 0.1, targets clean
    assert np.allclose(a.dx, sys_.numpy_field(a.states.reshape(-1, 2)).reshape(a.dx.shape))
    # the legacy stream in the authors' order: the first trajectory's radius is RandomState(0)'s
    # third draw scaled to U(0.1, 1.0)
    assert np.isclose(r[0, 0], np.random.RandomState(0).rand(3)[2] * 0.9 + 0.1)
    assert np.array_equal(authors_dataset(sys_, 5, seed=3).x, authors_dataset(sys_, 5, seed=3).x)
    assert not np.allclose(a.x[:5], make_dataset(sys_, 5, seed=0).x)
    pend = authors_dataset(make_system("pendulum"), 3, seed=1)
    assert pend.states.shape == (3, 45, 2)
    with pytest.raises(ValueError, match="2-D system"):
        authors_dataset(make_system("two_body"), 3)


class _Field(torch.nn.Module):
    """A float32 'model' with a known field: the true spring rotation plus radial growth."""

    def __init__(self, growth: float):
        super().__init__()
        self.growth = growth

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([2 * x[:, 1], -2 * x[:, 0]], -1) + self.growth * x


def test_notebook_energy_protocol_scores_exact_field_zero_and_compounds_horizon():
    sys_ = make_system("mass_spring")
    models = {"exact": _Field(0.0), "drift": _Field(0.02)}
    fixed = notebook_energy_mse(models, sys_, seed=0, t_end=5.0, trials=3, n_points=20, compounding=False)
    grown = notebook_energy_mse(models, sys_, seed=0, t_end=5.0, trials=3, n_points=20, compounding=True)
    assert fixed["exact"].shape == (3,) and fixed["exact"].max() < 1e-8
    assert fixed["drift"].min() > 1e-4
    # compounding stretches trial i's horizon to t_end * 1.09^(i+1): every trial drifts further
    assert (grown["drift"] > fixed["drift"]).all()


def test_hgn_curriculum_grows_the_window_to_its_final_length():
    window_length = load_benchmark("hamiltonian").window_length
    assert window_length(0, 30, None) == 30 and window_length(10**6, 30, None) == 30
    lengths = [window_length(s, 30, (10, 3000)) for s in (0, 1500, 2999, 3000, 9000)]
    assert lengths == [10, 20, 29, 30, 30]
    with pytest.raises(ValueError, match="START_LEN"):
        window_length(0, 30, (40, 100))
