"""Gymnasium wrapper: passes gymnasium's env checker; its rewards equal dm_control's."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from envs.gym_wrapper import TaskEnv


@pytest.mark.parametrize("name,obs", [("cartpole-swingup", "flat"), ("swimmer6", "graph"),
                                      ("cheetah-run", "graph")])
def test_check_env(name, obs):
    env = TaskEnv(name, observation=obs, episode_length=20)
    check_env(env, skip_render_check=True)
    o, info = env.reset(seed=3)
    assert env.observation_space.contains(o)
    if obs == "graph":
        assert o["nodes"].shape == (env.graph.num_nodes, 13) and o["edges"].shape == (env.graph.num_edges, 1)


def test_rewards_equal_dm_control_and_truncation():
    env = TaskEnv("swimmer6", episode_length=15)
    env.reset(seed=1)
    dm = env.task.make_env(seed=0)
    dm.reset()
    with dm.physics.reset_context():
        dm.physics.set_state(env._env.physics.get_state())
        dm.physics.model.ptr.geom("target").pos[:] = env._env.physics.model.ptr.geom("target").pos
    rng = np.random.default_rng(0)
    for t in range(15):
        a = rng.uniform(-1, 1, size=env.action_space.shape)
        obs, r, term, trunc, _ = env.step(a)
        ts = dm.step(a)
        assert abs(r - ts.reward) < 1e-4
        assert np.array_equal(obs, env.graph.body_states(dm.physics).reshape(-1))
        assert not term and trunc == (t == 14)


def test_seeded_resets_reproduce_and_bad_mode():
    env = TaskEnv("cartpole-swingup")
    a, _ = env.reset(seed=7)
    b, _ = env.reset(seed=7)
    c, _ = env.reset(seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    with pytest.raises(ValueError, match="observation must be"):
        TaskEnv("cartpole-swingup", observation="pixels")
