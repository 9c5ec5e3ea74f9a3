"""Gradient shooting MPC on analytic differentiable problems."""

import pytest
import torch
from test_planners_problems import (
    TARGET,
    GraphPointMass,
    PointMass,
    TensorEnv,
    graph_point_reward,
    graph_state,
    point_reward,
)

from planners import GradientPlanner, gradient_shooting, run_episode
from planners.base import Bounds, predicted_return


def test_gradient_mpc_drives_point_mass_to_target():
    m = PointMass()
    pl = GradientPlanner(-torch.ones(2), torch.ones(2), horizon=10, iterations=8, lr=0.3, restarts=2)
    env = TensorEnv(m, point_reward, torch.zeros(4), 30)
    res = run_episode(env, pl, m, point_reward, progress=False)
    assert torch.dist(env.x[:2], TARGET) < 0.15
    assert res.actions.abs().max() <= 1.0


@pytest.mark.parametrize("squash", ["tanh", "clip"])
def test_optimisation_improves_return_and_respects_bounds(squash):
    m, b = PointMass(), Bounds([-0.5, -0.5], [0.5, 0.5])
    init = torch.zeros(3, 8, 2)
    before = predicted_return(m, point_reward, torch.zeros(4), init)
    plans, ret, hist = gradient_shooting(m, point_reward, torch.zeros(4), init, b, iterations=15, lr=0.5,
                                         squash=squash)
    assert (ret > before + 0.5).all()
    assert (plans >= -0.5).all() and (plans <= 0.5).all()
    assert len(hist) == 15 and hist[-1] > hist[0]


def test_restarts_are_batched_in_one_pass():
    m = PointMass()
    pl = GradientPlanner(-torch.ones(2), torch.ones(2), horizon=5, iterations=3, restarts=6)
    pl.plan(m, point_reward, torch.zeros(4))
    # (iterations + 1 final evaluation) rollouts of 5 steps, each step one call of batch 6
    assert m.calls == 4 * 5 * 6


def test_warm_start_shifts_previous_plan():
    m = PointMass()
    pl = GradientPlanner(-torch.ones(2), torch.ones(2), horizon=6, iterations=5, restarts=3)
    a0 = pl.plan(m, point_reward, torch.zeros(4))
    prev = pl.plan_.clone()
    assert torch.equal(a0, prev[0])
    init = pl.initial_plans()
    assert torch.allclose(init[0, :-1], prev[1:]) and torch.allclose(init[0, -1], prev[-1])
    pl.reset()
    assert torch.equal(pl.initial_plans()[0], torch.zeros(6, 2))


def test_graph_state_and_action_repeat():
    m = GraphPointMass()
    pl = GradientPlanner(-torch.ones(2), torch.ones(2), horizon=4, iterations=10, lr=0.3, restarts=2,
                         action_repeat=3)
    a = pl.plan(m, graph_point_reward, graph_state(torch.zeros(1, 4)))
    assert a.shape == (2,)
    assert a[0] > 0 and a[1] < 0  # towards TARGET = (1, -0.5)


def test_non_differentiable_model_is_a_clear_error():
    class Frozen(PointMass):
        differentiable = False

    with pytest.raises(ValueError, match="differentiable"):
        GradientPlanner([-1.0, -1.0], [1.0, 1.0]).plan(Frozen(), point_reward, torch.zeros(4))
