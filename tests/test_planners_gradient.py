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

from planners import CEMPlanner, GradientPlanner, gradient_shooting, run_episode
from planners.base import Bounds, make_objective, predicted_return
from planners.gradient import action_rate_penalty


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
    objective = make_objective(m, point_reward, torch.zeros(4))
    plans, ret, hist = gradient_shooting(objective, init, b, iterations=15, lr=0.5, squash=squash)
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


def test_warm_restarts_start_near_the_warm_start_and_stay_in_the_box():
    m = PointMass()
    pl = GradientPlanner(-torch.ones(2), torch.ones(2), horizon=6, iterations=5, restarts=6, warm_restarts=3,
                         warm_noise=0.1)
    pl.plan(m, point_reward, torch.zeros(4))
    init = pl.initial_plans()
    near = (init[1:4] - init[0]).abs().max()
    assert 0 < near < 0.6 and init.abs().max() <= 1  # 0.1 half-ranges of noise, clipped into the box
    assert (init[4:] - init[0]).abs().max() > near  # the rest stay uniform random plans
    with pytest.raises(ValueError, match="warm_restarts"):
        GradientPlanner(-torch.ones(2), torch.ones(2), restarts=4, warm_restarts=4)


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


def test_action_rate_penalty_values():
    """0 for a constant plan; 4 (H-1) A for a plan jumping between the box edges every decision."""
    b = Bounds([-2.0, -2.0], [2.0, 2.0])
    const = torch.full((1, 5, 2), 1.5)
    jagged = 2.0 * torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])[None, :, None].expand(1, 5, 2)
    assert action_rate_penalty(const, b).item() == 0.0
    assert action_rate_penalty(jagged, b).item() == pytest.approx(4 * 4 * 2)


def test_smoothness_penalty_gives_smoother_plans_from_jagged_starts():
    """From random jagged starts, the penalised optimiser ends with far smaller action changes."""
    m, b = PointMass(), Bounds([-1.0, -1.0], [1.0, 1.0])
    init = torch.rand(4, 10, 2, generator=torch.Generator().manual_seed(0)) * 1.6 - 0.8
    plain, _, _ = gradient_shooting(make_objective(m, point_reward, torch.zeros(4)), init, b, iterations=40, lr=0.2)
    smooth, obj, _ = gradient_shooting(make_objective(m, point_reward, torch.zeros(4)), init, b, iterations=40, lr=0.2,
                                       smoothness=1.0)
    assert (action_rate_penalty(smooth, b) < 0.3 * action_rate_penalty(plain, b)).all()
    ret = predicted_return(m, point_reward, torch.zeros(4), smooth)
    assert torch.allclose(obj, ret - action_rate_penalty(smooth, b), atol=1e-4)
    with pytest.raises(ValueError, match="smoothness must be >= 0"):
        gradient_shooting(make_objective(m, point_reward, torch.zeros(4)), init, b, smoothness=-1.0)


def spike_or_bump(state, action):
    """[B] reward of the first action: a narrow spike of height 1 at 0.8 and a broad bump of 0.8 at -0.5
    (the spike stands for a narrow optimum of a learned model's error)."""
    a = action[:, 0]
    return torch.exp(-((a - 0.8) / 0.02) ** 2) + 0.8 * torch.exp(-((a + 0.5) / 0.5) ** 2)


def test_action_noise_prefers_a_broad_optimum_to_a_narrow_spike():
    """Plain gradient shooting ranks the narrow spike first; the noise-averaged objective the broad bump."""
    b = Bounds([-1.0, -1.0], [1.0, 1.0])
    init = torch.tensor([[[0.79, 0.0]], [[-0.4, 0.0]]])  # restart 0 next to the spike, 1 on the bump's slope
    plans, plain, _ = gradient_shooting(make_objective(PointMass(), spike_or_bump, torch.zeros(4)), init, b,
                                        iterations=20, lr=0.005, squash="clip")
    assert int(plain.argmax()) == 0 and abs(float(plans[0, 0, 0]) - 0.8) < 0.01
    m = PointMass()
    plans, robust, _ = gradient_shooting(make_objective(m, spike_or_bump, torch.zeros(4)), init, b, iterations=20,
                                         lr=0.05, squash="clip", action_noise=0.1, noise_samples=8,
                                         generator=torch.Generator().manual_seed(0))
    assert int(robust.argmax()) == 1 and abs(float(plans[1, 0, 0]) + 0.5) < 0.1
    assert m.calls == 21 * 2 * 8  # every objective call rolls out R x M copies in one batch
    with pytest.raises(ValueError, match="action_noise must be >= 0"):
        gradient_shooting(make_objective(m, spike_or_bump, torch.zeros(4)), init, b, action_noise=0.1, noise_samples=0)


def test_terminal_weight_adds_that_many_copies_of_the_last_reward():
    """predicted_return(..., terminal_weight=w) = the plain return + w x the last step's discounted reward."""
    m = PointMass()
    acts = torch.rand(3, 5, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    x = torch.zeros(3, 4)
    for a in acts.repeat_interleave(2, dim=1).unbind(1):  # 10 model steps, each decision held twice
        x = m.step(x, a)
    last = 0.9**9 * point_reward(x, acts[:, -1])
    plain = predicted_return(m, point_reward, torch.zeros(4), acts, discount=0.9, action_repeat=2)
    got = predicted_return(m, point_reward, torch.zeros(4), acts, discount=0.9, action_repeat=2, terminal_weight=3.0)
    assert torch.allclose(got, plain + 3.0 * last, atol=1e-5)
    for planner in (GradientPlanner, CEMPlanner):
        with pytest.raises(ValueError, match="terminal_weight must be >= 0"):
            planner(-torch.ones(2), torch.ones(2), terminal_weight=-1.0)
    with pytest.raises(ValueError, match="terminal_weight must be >= 0"):  # the pure functions refuse it too
        predicted_return(m, point_reward, torch.zeros(4), acts, terminal_weight=-1.0)


def test_cli_planner_options_reach_the_gradient_planner():
    """`gncontrol plan --smoothness W --restarts R` builds a GradientPlanner with exactly those settings."""
    import argparse

    from envs.tasks import get_task
    from gncontrol.cli._mpc import add_planner_arguments, make_planner

    p = argparse.ArgumentParser()
    add_planner_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(["--planner", "gradient", "--smoothness", "0.5", "--restarts", "3", "--iterations", "2",
                         "--warm-restarts", "2", "--warm-noise", "0.3", "--action-noise", "0.1",
                         "--noise-samples", "6", "--no-warm-start",
                         "--plan-lr", "0.03", "--terminal-weight", "25"])
    planner = make_planner("gradient", get_task("pendulum-swingup"), args, "cpu")
    assert (planner.smoothness, planner.restarts, planner.iterations) == (0.5, 3, 2)
    assert (planner.warm_restarts, planner.warm_noise) == (2, 0.3)
    assert (planner.action_noise, planner.noise_samples, planner.warm_start, planner.lr) == (0.1, 6, False, 0.03)
    assert planner.terminal_weight == 25
    cem = make_planner("cem", get_task("pendulum-swingup"), p.parse_args(["--terminal-weight", "5", "--samples", "30"]),
                       "cpu")
    assert (cem.terminal_weight, cem.population, cem.elites) == (5, 30, 3)
    assert make_planner("gradient", get_task("pendulum-swingup"), p.parse_args([]), "cpu").warm_start


@pytest.mark.parametrize("smoothness", [0.0, 1.0])
def test_a_thresholded_reward_is_a_clear_error_even_with_the_penalty(smoothness):
    """A reward without gradient is refused, also when the action-rate penalty alone would carry one."""
    def sparse(state, action):
        return (state[..., 0] > 0.5).float()

    m, b = PointMass(), Bounds([-1.0, -1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="does not depend differentiably on the actions"):
        gradient_shooting(make_objective(m, sparse, torch.zeros(4)), torch.zeros(2, 5, 2), b, iterations=2,
                          smoothness=smoothness)
