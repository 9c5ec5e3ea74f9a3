"""MBPO: Stable-Baselines3's SAC with the GN's branched rollouts in its replay buffer (tiny budgets)."""

import numpy as np
import pytest
import torch

from agents.mbpo import MBPOCallback, MBPOConfig, make_sac
from agents.model_learning import random_data, transitions_as_trajectories


def test_transitions_become_one_step_episodes_of_the_system():
    data = random_data("cartpole-swingup", 1, 5, seed=0)
    s, a, s2 = data.states[0, :-1], data.actions[0], data.states[0, 1:]
    t = transitions_as_trajectories(data, s, a, s2)
    assert (t.num_episodes, t.episode_length) == (5, 1)
    torch.testing.assert_close(t.states[:, 1], s2)
    torch.testing.assert_close(t.static_edges[3], data.static_edges[0])
    with pytest.raises(ValueError, match="same K transitions"):
        transitions_as_trajectories(data, s, a[:2], s2)


def test_mbpo_fits_the_model_on_real_steps_and_adds_model_transitions():
    cfg = MBPOConfig(model_starts=40, model_every=40, fit_steps=20, finetune_steps=5, rollouts=30, latent=16,
                     hidden=(16,))
    agent = make_sac("cartpole-swingup", seed=0, learning_starts=20, batch_size=16, buffer_size=1000)
    cb = MBPOCallback("cartpole-swingup", cfg)
    agent.learn(total_timesteps=80, callback=cb)
    assert len(cb.states) == 80 and cb.fits == 2  # at 40 and 80 real steps
    assert 0 < cb.model_transitions <= 60
    assert agent.replay_buffer.size() == 80 + cb.model_transitions  # real and model transitions, one buffer
    # each model transition's reward is the task's reward on its predicted next state
    from envs.tasks import get_task

    task, rb = get_task("cartpole-swingup"), agent.replay_buffer
    n = task.graph().num_nodes
    model_rows = [i for i in range(rb.size()) if not np.any(np.all(rb.observations[i, 0] == np.stack(
        [x.reshape(-1) for x in cb.states]), axis=1) & np.all(rb.actions[i, 0] == np.stack(cb.actions), axis=1))]
    assert len(model_rows) == cb.model_transitions
    i = model_rows[0]
    nxt = torch.tensor(rb.next_observations[i, 0], dtype=torch.float32).reshape(1, n, 13)
    act = torch.tensor(rb.actions[i, 0]).reshape(1, -1)
    want = task.reward(task.graph().dynamic_graph(nxt, act), act)
    assert float(rb.rewards[i, 0]) == pytest.approx(float(want), abs=1e-5)
    with pytest.raises(ValueError, match="rollouts must be >= 1"):
        MBPOConfig(rollouts=0)
