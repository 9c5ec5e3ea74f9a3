"""Planners on a real (untrained, tiny) GN forward model and a task reward: the interfaces fit."""

import pytest
import torch

pytest.importorskip("dm_control")

from envs.true_model import TaskEnv  # noqa: E402
from planners import CEMPlanner, GradientPlanner, MCTSPlanner, gradient_shooting, predicted_return  # noqa: E402
from planners.base import Bounds, make_objective  # noqa: E402


@pytest.fixture(scope="module")
def setup(tiny_cartpole_gn):
    task, model, system = tiny_cartpole_gn
    return task, model, system, TaskEnv(task, seed=0).reset()


def test_gradient_mpc_backpropagates_through_the_gn_model(setup):
    task, model, system, state = setup
    pl = GradientPlanner(task.action_low, task.action_high, horizon=4, iterations=3, lr=0.5, restarts=3)
    a = pl.plan(model, task.reward, state, params=system)
    assert a.shape == (1,) and -1 <= float(a) <= 1
    # one small Adam step on each restart increases its predicted return (first-order ascent)
    bounds = Bounds(task.action_low, task.action_high)
    init = bounds.uniform((3, 4), generator=torch.Generator().manual_seed(1)) * 0.5
    before = predicted_return(model, task.reward, state, init, system)
    objective = make_objective(model, task.reward, state, params=system)
    _, after, _ = gradient_shooting(objective, init, bounds, iterations=1, lr=1e-3)
    assert (after > before).all()


def test_planning_leaves_the_model_weights_without_gradient(setup):
    """The planner differentiates the return w.r.t. the plan only: no weight gradient is computed or
    accumulated, and the weights train as before afterwards (requires_grad restored)."""
    task, model, system, state = setup
    model.zero_grad(set_to_none=True)
    GradientPlanner(task.action_low, task.action_high, horizon=4, iterations=2, restarts=2).plan(
        model, task.reward, state, params=system)
    assert all(p.grad is None and p.requires_grad for p in model.parameters())
    init = torch.zeros(2, 4, 1, requires_grad=True)
    ret = make_objective(model, task.reward, state, params=system)(init)
    ret.sum().backward()
    assert init.grad is not None and init.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())
    predicted_return(model, task.reward, state, init.detach(), system).sum().backward()  # outside: as before
    assert any(p.grad is not None for p in model.parameters())


def test_sampling_planners_and_mcts_run_on_the_gn_model(setup):
    task, model, system, state = setup
    for pl in (CEMPlanner(task.action_low, task.action_high, horizon=4, population=16, elites=4, iterations=2),
               MCTSPlanner(task.action_low, task.action_high, num_expansions=8, rollout_horizon=3, max_depth=3)):
        a = pl.plan(model, task.reward, state, params=system)
        assert a.shape == (1,) and -1 <= float(a) <= 1
