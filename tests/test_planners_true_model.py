"""The true MuJoCo model behind the dynamics interface: exact agreement with the real env."""

import numpy as np
import pytest
import torch

pytest.importorskip("dm_control")

from envs.tasks import get_task  # noqa: E402
from envs.true_model import TaskEnv, TrueModel  # noqa: E402
from gncontrol.gn.graphs import tile  # noqa: E402
from planners import RandomShootingPlanner, predicted_return, run_episode  # noqa: E402


@pytest.fixture(scope="module")
def pendulum():
    task = get_task("pendulum-swingup")
    return task, TrueModel.from_task(task)


@pytest.mark.parametrize("name", ["cartpole-swingup", "pendulum-swingup"])
def test_rollout_equals_env_steps_and_reward_equals_env_reward(name):
    task = get_task(name)
    tm = TrueModel.from_task(task)
    env = TaskEnv(task, seed=3, true_model=tm)
    s = env.reset()
    rng = np.random.default_rng(0)
    acts = torch.tensor(rng.uniform(task.action_low, task.action_high, (6, task.action_dim)), dtype=torch.float32)
    pred = tm.rollout(s, acts[None])
    for t in range(6):
        s_env, r_env, _ = env.step(acts[t])
        assert torch.allclose(pred[t].nodes, s_env.nodes, atol=1e-5)
        assert abs(float(task.reward(pred[t], acts[t : t + 1])) - r_env) < 1e-4
    assert tm.transitions == 6


def test_step_is_batched_and_resumes_from_returned_states(pendulum):
    task, tm = pendulum
    s = TaskEnv(task, seed=0, true_model=tm).reset()
    a = torch.tensor([[-1.0], [0.0], [1.0]])
    one = tm.step(tile(s, 3), a)
    two = tm.step(one, a)
    both = tm.rollout(tile(s, 3), torch.stack([a, a], dim=1))
    assert torch.equal(both[1].nodes, two.nodes)
    poles = one.nodes.reshape(3, 2, 13)[:, 1]
    assert not torch.allclose(poles[0], poles[2])  # different actions, different states
    assert not tm.differentiable
    with pytest.raises(ValueError, match="physics state"):
        tm.step(s.replace(globals=torch.zeros(1, 0)), a[:1])


def test_mpc_loop_runs_on_true_model(pendulum):
    task, tm = pendulum
    s = TaskEnv(task, seed=0, true_model=tm).reset()
    pl = RandomShootingPlanner(task.action_low, task.action_high, horizon=10, samples=50, action_repeat=4)
    res = run_episode(TaskEnv(task, seed=0, true_model=tm), pl, tm, task.reward, max_steps=8, progress=False)
    assert res.steps == 8 and len(res.plan_times) == 2
    best = predicted_return(tm, task.reward, s, pl.plan_[None], action_repeat=4)
    assert torch.isfinite(best).all()
