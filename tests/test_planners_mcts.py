"""MCTS: golden search trees, discrete and continuous actions, and MCTS vs random shooting."""

import math

import pytest
import torch
from test_planners_problems import (
    PointMass,
    TensorEnv,
    graph_point_reward,
    graph_state,
    pendulum_reward,
    point_reward,
)

from planners import MCTSConfig, MCTSPlanner, RandomShootingPlanner, run_episode, search
from planners.mcts import best_path


def _counter_recurrent(states, actions):
    """x' = x + a, reward a: action 1 pays 1, action 0 pays 0."""
    return states + actions, actions[:, 0].clone()


def _zero_value(states, depth):
    return torch.zeros(states.shape[0])


BINARY = torch.tensor([[0.0], [1.0]])


def test_golden_tree_mean_backup():
    # Hand-traced UCT (c=1, min-max normalised Q, gamma 1) with batched expansion of both actions:
    # sim 1 expands the root (N=2, W=1); sim 2 picks child 1 and expands it; sims 3 and 4 pick
    # child 1 then its child 1, which sits at max depth and is revisited with value 0.
    root = search(torch.zeros(1, 1), _counter_recurrent, _zero_value,
                  MCTSConfig(num_expansions=6, max_depth=2, c_uct=1.0, gamma=1.0), discrete_actions=BINARY)
    c0, c1 = root.children
    assert (root.visits, root.value_sum) == (6, 8.0)
    assert (c0.visits, c0.value_sum, c0.reward) == (1, 0.0, 0.0)
    assert (c1.visits, c1.value_sum, c1.reward) == (5, 3.0, 1.0)
    c10, c11 = c1.children
    assert (c10.visits, c11.visits) == (1, 3)
    assert not c10.children and not c11.children
    assert [float(n.action) for n in best_path(root, MCTSConfig())] == [1.0, 1.0]


def test_golden_tree_max_backup_and_discount():
    # gamma 0.5, values 0: best return from the root along 1,1 is 1 + 0.5 * 1 = 1.5
    root = search(torch.zeros(1, 1), _counter_recurrent, _zero_value,
                  MCTSConfig(num_expansions=6, max_depth=2, gamma=0.5, backup="max"), discrete_actions=BINARY)
    assert root.best == pytest.approx(1.5)
    assert root.children[1].q(0.5, "max") == pytest.approx(1.5)
    assert root.children[0].q(0.5, "max") == pytest.approx(0.0)


def test_progressive_widening_bounds_root_children():
    cfg = MCTSConfig(num_expansions=60, expand_width=1, max_depth=3, pw_c=1.0, pw_alpha=0.5)
    gen = torch.Generator().manual_seed(0)
    root = search(torch.zeros(1, 1), _counter_recurrent, _zero_value, cfg,
                  sampler=lambda n, g: torch.rand(n, 1, generator=g), generator=gen)
    nodes = list(_walk(root))[1:]
    assert 40 <= len(nodes) <= 60  # each created child or max-depth revisit spends one of the budget
    assert max(n.depth for n in nodes) == 3
    assert 2 <= len(root.children) <= math.ceil(root.visits ** 0.5)


def _walk(node):
    yield node
    for c in node.children:
        yield from _walk(c)


def test_search_needs_exactly_one_action_source():
    with pytest.raises(ValueError, match="exactly one"):
        search(torch.zeros(1, 1), _counter_recurrent, _zero_value, MCTSConfig())


def test_mcts_planner_respects_bounds_and_works_on_graphs():
    from test_planners_problems import GraphPointMass

    pl = MCTSPlanner([-0.2, -0.2], [0.2, 0.3], num_expansions=24, rollout_horizon=4, max_depth=4)
    a = pl.plan(GraphPointMass(), graph_point_reward, graph_state(torch.zeros(1, 4)))
    assert a.shape == (2,)
    assert (a >= torch.tensor([-0.2, -0.2])).all() and (a <= torch.tensor([0.2, 0.3])).all()
    m = PointMass()
    env = TensorEnv(m, point_reward, torch.zeros(4), 30)
    res = run_episode(env, MCTSPlanner(-torch.ones(2), torch.ones(2), num_expansions=40, rollout_horizon=10,
                                       max_depth=5), m, point_reward, progress=False)
    assert torch.dist(env.x[:2], torch.tensor([1.0, -0.5])) < 0.3
    assert res.actions.abs().max() <= 1.0


def test_mcts_beats_random_shooting_at_equal_model_calls_on_pendulum():
    from test_planners_problems import Pendulum

    actions = torch.tensor([[-1.0], [0.0], [1.0]])
    lo, hi = -torch.ones(1), torch.ones(1)
    totals = {"mcts": [], "random": []}
    calls = {"mcts": 0, "random": 0}
    for seed in range(3):
        for name in totals:
            if name == "mcts":
                pl = MCTSPlanner(lo, hi, num_expansions=20, expand_width=3, rollout_horizon=10, max_depth=10,
                                 action_repeat=2, discrete_actions=actions, seed=seed)
            else:
                pl = RandomShootingPlanner(lo, hi, horizon=10, samples=20, action_repeat=2,
                                           discrete_actions=actions, seed=seed)
            model = Pendulum()
            env = TensorEnv(Pendulum(), pendulum_reward, torch.zeros(2), 100)
            totals[name].append(run_episode(env, pl, model, pendulum_reward, progress=False).episode_return)
            calls[name] += model.calls
    assert calls["mcts"] <= calls["random"]  # at most the same number of model transitions
    assert sum(totals["mcts"]) > 1.15 * sum(totals["random"])


def test_mcts_config_and_planner_share_one_default_backup():
    from planners.mcts import MCTSConfig, MCTSPlannerConfig

    assert MCTSPlannerConfig().backup == MCTSConfig().backup == "max"
    assert MCTSPlannerConfig().select == MCTSConfig().select
    assert MCTSPlanner(-torch.ones(1), torch.ones(1)).cfg.backup == MCTSConfig().backup
