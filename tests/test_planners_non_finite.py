"""No planner chooses a plan whose predicted return is NaN (issue: topk / argmax / softmax rank NaN first),
and the MPC loop never sends a non-finite action to the environment."""

import pytest
import torch
from test_planners_problems import TARGET, PointMass, TensorEnv, point_reward

from planners import CEMPlanner, GradientPlanner, MCTSPlanner, MPPIPlanner, RandomShootingPlanner, run_episode
from planners.base import finite_or_worst, predicted_return

LOW, HIGH = -torch.ones(2), torch.ones(2)


class DivergingPointMass(PointMass):
    """The point mass, except that any action with a_x < -0.8 makes the state NaN (a diverged learned model)."""

    def step(self, state, action, params=None):
        nxt = super().step(state, action, params)
        bad = (action[:, 0] < -0.8)[:, None]
        return torch.where(bad, torch.full_like(nxt, float("nan")), nxt)


PLANNERS = {
    "cem": lambda: CEMPlanner(LOW, HIGH, horizon=12, population=100, elites=10, iterations=3),
    "mppi": lambda: MPPIPlanner(LOW, HIGH, horizon=12, samples=100, iterations=2, temperature=0.5),
    "random": lambda: RandomShootingPlanner(LOW, HIGH, horizon=8, samples=300),
    "gradient": lambda: GradientPlanner(LOW, HIGH, horizon=12, iterations=10, restarts=4),
    "mcts": lambda: MCTSPlanner(LOW, HIGH, num_expansions=40, rollout_horizon=10, max_depth=6),
}


@pytest.mark.parametrize("name", sorted(PLANNERS))
def test_planners_never_choose_diverged_plans(name):
    model = DivergingPointMass()
    env = TensorEnv(PointMass(), point_reward, torch.zeros(4), 40)
    planner = PLANNERS[name]()
    res = run_episode(env, planner, model, point_reward, progress=False)
    assert torch.isfinite(res.actions).all() and res.steps == 40
    assert (res.actions[:, 0] >= -0.8).all()  # every applied action stayed where the model is finite
    assert torch.dist(env.x[:2], TARGET) < 0.5  # measured 0.01-0.41 (braking is capped at -0.8); 2.4 with NaN chosen
    assert planner.last_return is not None and planner.last_return > -float("inf")


def test_predicted_return_ranks_non_finite_last_and_says_so_once(capsys, monkeypatch):
    import planners.base as base

    monkeypatch.setitem(base._warned, "non_finite", False)
    acts = torch.zeros(3, 4, 2)
    acts[1, 2, 0] = -0.9  # diverges
    ret = predicted_return(DivergingPointMass(), point_reward, torch.zeros(4), acts)
    assert torch.isfinite(ret[[0, 2]]).all() and ret[1] == -float("inf")
    predicted_return(DivergingPointMass(), point_reward, torch.zeros(4), acts)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "non-finite" in err[0]
    r = torch.tensor([1.0, float("nan"), float("inf"), -2.0], requires_grad=True)
    out = finite_or_worst(r)
    assert out.tolist() == [1.0, -float("inf"), -float("inf"), -2.0]
    out[[0, 3]].sum().backward()
    assert r.grad.tolist() == [1.0, 0.0, 0.0, 1.0]


class NaNPlanner:
    action_repeat = 1

    def reset(self):
        pass

    def plan(self, model, reward_fn, state, params=None):
        return torch.tensor([float("nan"), 0.0])


def test_mpc_loop_never_sends_a_non_finite_action():
    class Recording(TensorEnv):
        sent = []

        def step(self, action):
            Recording.sent.append(action)
            return super().step(action)

    env = Recording(PointMass(), point_reward, torch.zeros(4), 10)
    with pytest.raises(ValueError, match="non-finite action"):
        run_episode(env, NaNPlanner(), PointMass(), point_reward, progress=False)
    assert Recording.sent == []
