"""The torch rewards of gym: tasks (envs.gym_rewards) against Gymnasium's own rewards on real episodes.

Terms read only from positions (InvertedPendulum, InvertedDoublePendulum, Reacher, Pusher) agree to
MuJoCo's one-substep lag of body positions in Gymnasium (< 0.01); the locomotion rewards use the
instantaneous velocity where Gymnasium differences positions over the frame skip and leave contact
costs out, so they agree in mean (5%) and follow it step by step (correlation > 0.85).
"""

import mujoco
import numpy as np
import pytest
import torch

from envs.gym_rewards import GYM_REWARDS, gym_reward_name
from envs.tasks import get_task

gym = pytest.importorskip("gymnasium")

EXACT = {"InvertedPendulum", "InvertedDoublePendulum", "Reacher", "Pusher"}


def _paired_rewards(env_id: str, steps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """(ours, Gymnasium's) rewards [T] along one random-action episode of the Gymnasium env itself."""
    task = get_task(f"gym:{env_id}")
    graph = task.graph()
    env = gym.make(env_id)
    env.reset(seed=0)
    u = env.unwrapped
    rng = np.random.default_rng(0)
    ours, theirs = [], []
    for _ in range(steps):
        a = rng.uniform(env.action_space.low, env.action_space.high)
        _, r, terminated, truncated, _ = env.step(a)
        mujoco.mj_forward(u.model, u.data)  # body states of the state after the step
        states = torch.as_tensor(graph.body_states(u.data))[None]
        ours.append(float(task.reward(states, torch.as_tensor(a, dtype=torch.float64)[None])))
        theirs.append(r)
        if terminated or truncated:
            break
    env.close()
    return np.array(ours), np.array(theirs)


@pytest.mark.parametrize("base", sorted(GYM_REWARDS))
def test_gym_reward_follows_gymnasium(base):
    ours, theirs = _paired_rewards(f"{base}-v5")
    assert len(ours) >= 5
    if base in EXACT:
        np.testing.assert_allclose(ours, theirs, atol=1e-2)
    else:
        assert abs(ours.mean() - theirs.mean()) < 0.05 * abs(theirs.mean()) + 0.05
        assert np.corrcoef(ours, theirs)[0, 1] > 0.85


def test_gym_task_has_a_planning_reward_and_unknown_ids_have_none():
    task = get_task("gym:Hopper-v5")
    assert task.has_reward and task.reward_spec == "envs.gym_rewards:Hopper"
    assert gym_reward_name("Hopper-v4") == "Hopper" and gym_reward_name("CartPole-v1") is None
    states = torch.as_tensor(task.graph().body_states(task.make_env(seed=0).physics))[None].requires_grad_()
    r = task.reward(states, torch.zeros(1, task.action_dim, dtype=torch.float64))
    r.sum().backward()  # differentiable: a gradient planner can use it
    assert r.shape == (1,) and torch.isfinite(states.grad).all()
