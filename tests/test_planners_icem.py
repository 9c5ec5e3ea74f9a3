"""CEM's iCEM options: colored sampling noise along the horizon and elites kept across iterations and control steps."""

import pytest
import torch
from test_planners_problems import PointMass, TensorEnv, point_reward

from gncontrol.errors import InputError
from planners import CEMConfig, CEMPlanner, cem_optimize, cem_search, colored_noise, run_episode
from planners.base import Bounds, make_objective

LOW, HIGH = -torch.ones(2), torch.ones(2)


def lag1_correlation(x: torch.Tensor) -> float:
    """Mean correlation of consecutive horizon steps of noise [N, H, A]."""
    return float((x[:, 1:] * x[:, :-1]).mean() / (x * x).mean())


def test_white_noise_is_exactly_the_old_sampler():
    a = colored_noise((50, 8, 3), 0.0, torch.Generator().manual_seed(4))
    b = torch.randn(50, 8, 3, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)  # beta = 0 draws the same numbers as before the option existed


def test_colored_noise_is_unit_scale_and_correlated_in_time():
    gen = torch.Generator().manual_seed(0)
    white = colored_noise((2000, 16, 2), 0.0, gen)
    red = colored_noise((2000, 16, 2), 2.0, gen)
    assert red.shape == (2000, 16, 2)
    assert red.pow(2).mean(dim=(0, 2)) == pytest.approx(torch.ones(16), abs=0.1)  # unit variance at every step
    assert abs(lag1_correlation(white)) < 0.05
    assert lag1_correlation(red) > 0.6


def test_carried_plans_are_evaluated_in_the_first_iteration():
    x0 = torch.zeros(4)
    m = PointMass()
    b = Bounds(LOW, HIGH)
    objective = make_objective(m, point_reward, x0)
    _, _, good, good_ret = cem_optimize(objective, b, torch.zeros(10, 2), torch.ones(10, 2), population=200,
                                        elites=20, iterations=5, generator=torch.Generator().manual_seed(0))
    # one tiny iteration cannot find such a plan by itself, but returns it when it is carried in
    _, _, alone, alone_ret = cem_optimize(objective, b, torch.zeros(10, 2), torch.ones(10, 2), population=4,
                                          elites=1, iterations=1, generator=torch.Generator().manual_seed(1))
    *_, best, ret, elites = cem_search(objective, b, torch.zeros(10, 2), torch.ones(10, 2), population=4,
                                       elites=1, iterations=1, carry=good[None],
                                       generator=torch.Generator().manual_seed(1))
    assert alone_ret < good_ret
    assert torch.allclose(best, good) and ret == pytest.approx(float(good_ret))
    assert elites.shape == (1, 10, 2)


def test_keep_elites_default_off_leaves_cem_unchanged():
    m = PointMass()
    base = CEMPlanner(LOW, HIGH, horizon=6, population=30, elites=5, iterations=2)
    same = CEMPlanner(LOW, HIGH, CEMConfig(horizon=6, population=30, elites=5, iterations=2, keep_elites=0.0,
                                           noise_beta=0.0))
    for _ in range(3):
        assert torch.equal(base.plan(m, point_reward, torch.zeros(4)), same.plan(m, point_reward, torch.zeros(4)))


def test_icem_planner_drives_point_mass_to_target_and_resets_its_elites():
    m = PointMass()
    pl = CEMPlanner(LOW, HIGH, horizon=12, population=40, elites=8, iterations=2, keep_elites=0.3, noise_beta=2.0)
    env = TensorEnv(m, point_reward, torch.zeros(4), 40)
    res = run_episode(env, pl, m, point_reward, progress=False)
    white = run_episode(TensorEnv(m, point_reward, torch.zeros(4), 40),
                        CEMPlanner(LOW, HIGH, horizon=12, population=40, elites=8, iterations=2), m, point_reward,
                        progress=False)
    assert res.episode_return > white.episode_return  # the same small budget plans better
    assert pl.elites_ is not None
    pl.reset()
    assert pl.elites_ is None and pl.mean_ is None


def test_icem_options_refuse_nonsense():
    with pytest.raises(InputError, match="keep_elites must be a fraction"):
        CEMConfig(keep_elites=1.5)
    with pytest.raises(InputError, match="noise_beta must be >= 0"):
        CEMConfig(noise_beta=-1.0)
    with pytest.raises(InputError, match="carry must be"):
        cem_search(lambda p: p.sum((1, 2)), Bounds(LOW, HIGH), torch.zeros(5, 2), torch.ones(5, 2),
                   population=10, elites=2, iterations=1, carry=torch.zeros(3, 4, 2))
