"""Shared planner pieces: bounds, replication, predicted return, warm-start shift."""

import pytest
import torch
from test_planners_problems import PointMass, graph_point_reward, graph_state, point_reward

from planners.base import Bounds, predicted_return, repeat_actions, replicate, shift_plan


def test_bounds_reject_bad_input():
    with pytest.raises(ValueError, match="greater"):
        Bounds([1.0], [0.0])
    with pytest.raises(ValueError, match="shape"):
        Bounds([0.0, 0.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        Bounds([-float("inf")], [1.0])


def test_squash_stays_inside_and_unsquash_inverts():
    b = Bounds([-2.0, 0.0], [1.0, 3.0])
    u = torch.randn(100, 2) * 5
    a = b.squash(u)
    assert (a >= b.low).all() and (a <= b.high).all()
    inner = b.uniform((50,)) * 0.98 + b.center * 0.02
    assert torch.allclose(b.squash(b.unsquash(inner)), inner, atol=1e-4)
    assert torch.equal(b.clip(torch.tensor([[5.0, -5.0]])), torch.tensor([[1.0, 0.0]]))


def test_replicate_tensor_and_graph():
    x = torch.arange(4.0)
    assert replicate(x, 3).shape == (3, 4)
    g = replicate(graph_state(x[None]), 3)
    assert g.num_graphs == 3 and g.nodes.shape == (3, 4)
    g.validate()
    assert replicate(None, 5) is None


def test_predicted_return_matches_manual_loop_with_discount_and_repeat():
    m = PointMass()
    x0 = torch.tensor([0.3, -0.2, 0.1, 0.0])
    acts = torch.rand(5, 3, 2) * 2 - 1
    got = predicted_return(m, point_reward, x0, acts, discount=0.9, action_repeat=2)
    want = torch.zeros(5)
    x = x0.expand(5, 4)
    for t in range(6):
        a = acts[:, t // 2]
        x = m.step(x, a)
        want += 0.9 ** t * point_reward(x, a)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.equal(repeat_actions(acts, 2)[:, 1], acts[:, 0])


def test_predicted_return_on_graph_states_equals_tensor_states():
    from test_planners_problems import GraphPointMass

    x0 = torch.tensor([[0.3, -0.2, 0.1, 0.0]])
    acts = torch.rand(4, 5, 2)
    r_t = predicted_return(PointMass(), point_reward, x0, acts)
    r_g = predicted_return(GraphPointMass(), graph_point_reward, graph_state(x0), acts)
    assert torch.allclose(r_t, r_g)


def test_predicted_return_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\[B, H, A\]"):
        predicted_return(PointMass(), point_reward, torch.zeros(4), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="states"):
        predicted_return(PointMass(), point_reward, torch.zeros(2, 4), torch.zeros(3, 2, 2))


def test_shift_plan_drops_first_and_repeats_last():
    plan = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(shift_plan(plan), torch.tensor([[2.0, 3.0], [4.0, 5.0], [4.0, 5.0]]))
    assert torch.equal(shift_plan(plan, 1, fill=torch.zeros(2))[-1], torch.zeros(2))


def test_make_builds_every_planner_from_common_knobs():
    import planners

    lo, hi = -torch.ones(2), torch.ones(2)
    cem = planners.make("cem", (lo, hi), horizon=5, samples=40, iterations=2, terminal_weight=3.0, restarts=8)
    assert isinstance(cem, planners.CEMPlanner) and (cem.population, cem.elites, cem.terminal_weight) == (40, 4, 3.0)
    grad = planners.make("gradient", (lo, hi), horizon=5, iterations=3, restarts=8, lr=0.3, samples=None)
    assert (grad.restarts, grad.iterations, grad.lr) == (8, 3, 0.3)
    assert planners.make("mppi", (lo, hi), horizon=5, samples=30).samples == 30
    assert planners.make("random", (lo, hi), horizon=5, samples=30).samples == 30
    mcts = planners.make("mcts", (lo, hi), horizon=4, samples=16)
    assert (mcts.cfg.num_expansions, mcts.cfg.max_depth) == (16, 4)
    assert planners.make("cem", (lo, hi), horizon=5).population == planners.CEMPlanner(lo, hi).population
    with pytest.raises(ValueError, match="unknown planner option"):
        planners.make("cem", (lo, hi), horizn=5)
    with pytest.raises(ValueError, match="unknown planner 'sac'"):
        planners.make("sac", (lo, hi))


def test_optimisers_take_any_objective_not_a_model():
    """cem / mppi / random / gradient optimise a plain function of plans [P, H, A] -> [P] (no model at all)."""
    from planners import cem_optimize, gradient_shooting, mppi_optimize, random_shooting_optimize

    target = torch.tensor([0.3, -0.6])

    def objective(plans):
        return -((plans - target) ** 2).sum((1, 2))

    b = Bounds([-1.0, -1.0], [1.0, 1.0])
    g = torch.Generator().manual_seed(0)
    mean, _, best, _ = cem_optimize(objective, b, torch.zeros(3, 2), torch.ones(3, 2), population=200, elites=20,
                                    iterations=6, generator=g)
    assert torch.allclose(mean, target.expand(3, 2), atol=0.05)
    mean, _, _ = mppi_optimize(objective, b, torch.zeros(3, 2), torch.full((2,), 0.3), samples=300, iterations=5,
                               temperature=0.05, generator=g)
    assert torch.allclose(mean, target.expand(3, 2), atol=0.1)
    plan, ret = random_shooting_optimize(objective, b, samples=50, horizon=3, generator=g)
    assert plan.shape == (3, 2) and torch.isclose(ret, objective(plan[None])[0])
    plans, _, _ = gradient_shooting(objective, torch.zeros(2, 3, 2), b, iterations=200, lr=0.05)
    assert torch.allclose(plans, target.expand(2, 3, 2), atol=0.02)


def test_make_objective_is_the_predicted_return():
    from planners import make_objective

    m, plans = PointMass(), torch.rand(5, 4, 2, generator=torch.Generator().manual_seed(1)) * 2 - 1
    objective = make_objective(m, point_reward, torch.zeros(4), discount=0.9, action_repeat=2, terminal_weight=1.5)
    expected = predicted_return(m, point_reward, torch.zeros(4), plans, None, 0.9, 2, 1.5)
    assert torch.equal(objective(plans), expected) and torch.equal(objective(plans), expected)
    assert objective.differentiable
